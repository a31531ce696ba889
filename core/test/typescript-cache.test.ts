import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const driver = fileURLToPath(new URL('./fixtures/ts-cache/driver.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'peer-cluster-ts-cache-'));
// A project's folder: the compile cache goes to its node_modules/.cache.
mkdirSync(join(dir, 'node_modules'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a source file dated `ageMs` ago (negative: in the future, as if edited during a build). */
function write(name: string, text: string, ageMs = 60_000): void {
  mkdirSync(dirname(join(dir, name)), { recursive: true });
  writeFileSync(join(dir, name), text);
  const at = new Date(Date.now() - ageMs);
  utimesSync(join(dir, name), at, at);
}

async function boot(apps = ['app.ts']): Promise<{ reply: string; esbuildLoaded: boolean }> {
  const { stdout } = await run(process.execPath, [driver, ...apps.map((app) => join(dir, app))], {
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

it('two apps share a module deep in their graphs; an edit of its own dependency, or an output overwritten with an older build, is built again', async () => {
  const apps = ['first.ts', 'second.ts'];
  write('first.ts', "import { log } from './lib/log.js';\nlog.push('first');\n");
  write(
    'second.ts',
    "import { log } from './lib/log.js';\nexport function start(ctx: any): void {\n  ctx.cluster.handle('hello', (): string => log.join(' '));\n}\n",
  );
  write('lib/log.ts', "import { word } from './deep/word.js';\nexport const log: string[] = [word];\n");
  write('lib/deep/word.ts', "export const word: string = 'one';\n");
  // Three processes building the same graph at once (or, as they start, reusing one's build).
  const together = await Promise.all([boot(apps), boot(apps), boot(apps)]);
  expect(together.map((b) => b.reply)).toEqual(['one first', 'one first', 'one first']);
  expect(await boot(apps)).toEqual({ reply: 'one first', esbuildLoaded: false });
  write('lib/deep/word.ts', "export const word: string = 'two';\n", 30_000);
  expect(await boot(apps)).toEqual({ reply: 'two first', esbuildLoaded: true });
  expect(await boot(apps)).toEqual({ reply: 'two first', esbuildLoaded: false });
  // A process that compiled the older text wrote its output last (outputs are named after their
  // source, so it can): the next process must not take it for the current one.
  const cache = join(dir, 'node_modules', '.cache', 'peer-cluster');
  const stale = readdirSync(cache).filter(
    (f) => f.endsWith('.mjs') && readFileSync(join(cache, f), 'utf8').includes('"two"'),
  );
  expect(stale.length).toBeGreaterThan(0);
  for (const f of stale)
    writeFileSync(join(cache, f), readFileSync(join(cache, f), 'utf8').replace('"two"', '"old"'));
  expect(await boot(apps)).toEqual({ reply: 'two first', esbuildLoaded: true });
  expect(await boot(apps)).toEqual({ reply: 'two first', esbuildLoaded: false });
}, 120_000);

it('a change of the tsconfig that applies (its paths, here) builds again', async () => {
  const tsconfig = (to: string) =>
    JSON.stringify({ compilerOptions: { baseUrl: '.', paths: { '@words/*': [`./${to}/*`] } } });
  write('paths/tsconfig.json', tsconfig('a'), 60_000);
  write('paths/a/word.ts', "export const word: string = 'from a';\n");
  write('paths/b/word.ts', "export const word: string = 'from b';\n");
  write(
    'paths/app.ts',
    "import { word } from '@words/word.js';\nexport function start(ctx: any): void {\n  ctx.cluster.handle('hello', (): string => 'hello ' + word);\n}\n",
  );
  expect(await boot(['paths/app.ts'])).toEqual({ reply: 'hello from a', esbuildLoaded: true });
  expect(await boot(['paths/app.ts'])).toEqual({ reply: 'hello from a', esbuildLoaded: false });
  write('paths/tsconfig.json', tsconfig('b'), 30_000);
  expect(await boot(['paths/app.ts'])).toEqual({ reply: 'hello from b', esbuildLoaded: true });
}, 120_000);
