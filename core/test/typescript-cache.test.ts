import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const driver = fileURLToPath(new URL('./fixtures/ts-cache/driver.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'peer-cluster-ts-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a source file dated `ageMs` ago (negative: in the future, as if edited during a build). */
function write(name: string, text: string, ageMs = 60_000): void {
  writeFileSync(join(dir, name), text);
  const at = new Date(Date.now() - ageMs);
  utimesSync(join(dir, name), at, at);
}

async function boot(): Promise<{ reply: string; esbuildLoaded: boolean }> {
  const { stdout } = await run(process.execPath, [driver, join(dir, 'app.ts')], {
    env: { PATH: process.env.PATH, PEER_CLUSTER: 'ts-cache-test' },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

it('a later process reuses the TypeScript build without loading esbuild, until a source changes', async () => {
  write(
    'app.ts',
    "import { word } from './word.js';\nexport function start(ctx: any): void {\n  ctx.cluster.handle('hello', (): string => 'hello ' + word);\n}\n",
  );
  write('word.ts', "export const word: string = 'one';\n");
  expect(await boot()).toEqual({ reply: 'hello one', esbuildLoaded: true });
  expect(await boot()).toEqual({ reply: 'hello one', esbuildLoaded: false });
  // An imported file (not the entry) changes: the next process builds again.
  write('word.ts', "export const word: string = 'two, longer';\n", 30_000);
  expect(await boot()).toEqual({ reply: 'hello two, longer', esbuildLoaded: true });
  expect(await boot()).toEqual({ reply: 'hello two, longer', esbuildLoaded: false });
  // A file that changes while esbuild reads the sources (its mtime is after the build started):
  // that build is used once, but not reused by the next process.
  write('word.ts', "export const word: string = 'three';\n", -5_000);
  expect(await boot()).toEqual({ reply: 'hello three', esbuildLoaded: true });
  expect(await boot()).toEqual({ reply: 'hello three', esbuildLoaded: true });
}, 120_000);
