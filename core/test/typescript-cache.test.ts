import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const driver = fileURLToPath(new URL('./fixtures/ts-cache/driver.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'peer-cluster-ts-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function boot(): Promise<{ reply: string; esbuildLoaded: boolean }> {
  const { stdout } = await run(process.execPath, [driver, join(dir, 'app.ts')], {
    env: { PATH: process.env.PATH, PEER_CLUSTER: 'ts-cache-test' },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

it('a later process reuses the TypeScript build without loading esbuild, until a source changes', async () => {
  writeFileSync(
    join(dir, 'app.ts'),
    "import { word } from './word.js';\nexport function start(ctx: any): void {\n  ctx.cluster.handle('hello', (): string => 'hello ' + word);\n}\n",
  );
  writeFileSync(join(dir, 'word.ts'), "export const word: string = 'one';\n");
  expect(await boot()).toEqual({ reply: 'hello one', esbuildLoaded: true });
  expect(await boot()).toEqual({ reply: 'hello one', esbuildLoaded: false });
  // An imported file (not the entry) changes: the next process builds again.
  writeFileSync(join(dir, 'word.ts'), "export const word: string = 'two, longer';\n");
  expect(await boot()).toEqual({ reply: 'hello two, longer', esbuildLoaded: true });
  expect(await boot()).toEqual({ reply: 'hello two, longer', esbuildLoaded: false });
}, 120_000);
