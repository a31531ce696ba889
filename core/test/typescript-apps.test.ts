// TypeScript apps behave like the same code in JavaScript: one module instance per source file
// in a peer, whoever imports it, and each file's own import.meta and stack frames.

import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Peer, RemoteError, spawnPeer } from '@peer-cluster/core';
import { formatFailureReport } from '@peer-cluster/core/harness';
import { afterEach, expect, it } from 'vitest';

const root = fileURLToPath(new URL('./fixtures/ts-apps/', import.meta.url));
const peers: Peer[] = [];

async function peer(options: Parameters<typeof spawnPeer>[0]): Promise<Peer> {
  const p = await spawnPeer({ root, cluster: 'ts-apps', ...options });
  peers.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

it('two TypeScript apps importing the same TypeScript module share one instance of it', async () => {
  const p = await peer({ apps: ['share-a.ts', 'share-b.ts'] });
  expect(await p.call('state')).toEqual(['from-a']);
});

it('through a symlinked root, the apps load from their real files, sharing one instance', async () => {
  const link = join(await mkdtemp(join(tmpdir(), 'pc-ts-link-')), 'project');
  await symlink(root, link);
  try {
    const p = await peer({ root: link, apps: ['share-a.ts', 'share-b.ts'] });
    expect(await p.call('state')).toEqual(['from-a']);
  } finally {
    await rm(dirname(link), { recursive: true, force: true });
  }
});

it("apps with no node_modules above them compile into core's cache, not into their folders", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-ts-bare-'));
  try {
    await mkdir(join(dir, 'lib', 'deep'), { recursive: true });
    await writeFile(join(dir, 'lib', 'deep', 'word.ts'), "export const word: string = 'bare';\n");
    await writeFile(
      join(dir, 'app.ts'),
      "import { word } from './lib/deep/word.js';\nexport function start(ctx: any) {\n  ctx.cluster.handle('word', () => word);\n}\n",
    );
    const p = await peer({ root: dir, apps: ['app.ts'] });
    expect(await p.call('word')).toBe('bare');
    const made = (await readdir(dir, { recursive: true })).filter((entry) => entry.includes('node_modules'));
    expect(made).toEqual([]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('a TypeScript app, a JavaScript app and evaluate() importing the same JavaScript module share one instance of it', async () => {
  const p = await peer({ apps: ['ts-uses-js.ts', 'js-app.mjs'] });
  expect(await p.call('seen')).toEqual(['from-ts']);
  const shared = pathToFileURL(join(root, 'lib/shared.js')).href;
  expect(await p.evaluate(async (_ctx, url) => [...(await import(url)).seen], shared)).toEqual(['from-ts']);
});

it('import.meta.url, filename and dirname are those of each TypeScript file, not of the entry', async () => {
  const p = await peer({ apps: ['where-app.ts'] });
  const where = (file: string) => ({
    url: pathToFileURL(join(root, file)).href,
    filename: join(root, file),
    dirname: join(root, file, '..'),
  });
  expect(await p.call('where')).toEqual({ own: where('where-app.ts'), nested: where('lib/where.ts') });
});

it('TypeScript modules importing each other (a cycle) load, each as itself', async () => {
  const p = await peer({ apps: ['cycle-app.ts'] });
  expect(await p.call('ping', 2)).toEqual([
    'ping 2 in cycle-a.ts',
    'pong 1 in cycle-b.ts',
    'ping 0 in cycle-a.ts',
  ]);
});

it('with --enable-source-maps, an error thrown in an imported TypeScript module names its real file and line', async () => {
  const p = await peer({ apps: ['throws-app.ts'], nodeArgs: ['--enable-source-maps'] });
  const stack = (await p.call('stack')) as string;
  expect(stack).toMatch(/^Error: failed on purpose\n/);
  const [first, second] = stack.split('\n').slice(1);
  expect(first).toContain(`${join(root, 'lib/thrower.ts')}:7:9`);
  expect(second).toContain(`${join(root, 'throws-app.ts')}:8:7`);
  // Nothing in the stack points into the compile cache (the harness's own frames may be in its runtime's).
  expect(stack).not.toMatch(/\.cache\/peer-cluster\/(thrower|throws-app)-/);
});

it('with no flag, the stack of an error a TypeScript app throws names its .ts files and lines', async () => {
  // The peer maps the stacks that leave it (a handler's throw here) through the compiled files'
  // source maps, without --enable-source-maps and its cost at boot.
  const p = await peer({ apps: ['throws-app.ts'] });
  const error = await p.call('throw').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RemoteError);
  const frames = (error as RemoteError).remoteStack!.split('\n').slice(1);
  expect(frames[0]).toContain(`${pathToFileURL(join(root, 'lib/thrower.ts')).href}:7:9`);
  expect(frames[1]).toContain(`${pathToFileURL(join(root, 'throws-app.ts')).href}:13:43`);
  expect((error as Error).stack).not.toMatch(/\.cache\/peer-cluster\/(thrower|throws-app)-/);
});

it("a failure report shows an uncaught crash's stack, from the peer's stderr, at the .ts lines", async () => {
  // The crash is Node's own report, printed unmapped without --enable-source-maps: the report maps
  // the lines it shows through the compiled files' source maps, as the peer does for its errors.
  const p = await peer({ apps: ['throws-app.ts'] });
  const exited = once(p, 'exit');
  expect(await p.call('crash')).toBe('crashing');
  await exited;
  const report = formatFailureReport({ name: 'ts-apps', peers: [p], timeline: [] });
  const thrower = pathToFileURL(join(root, 'lib/thrower.ts')).href;
  expect(report).toMatch(new RegExp(`peer-1 ! ${thrower}:7\n`));
  expect(report).toContain(`Error: failed on purpose`);
  expect(report).toContain(`(${thrower}:7:9)`);
  expect(report).toContain(`(${pathToFileURL(join(root, 'throws-app.ts')).href}:16:24)`);
  expect(report).not.toMatch(/\.cache\/peer-cluster\/(thrower|throws-app)-/);
  // The peer's own lines are left as it printed them.
  expect(p.logs().some((l) => /\.cache\/peer-cluster\/thrower-/.test(l.line))).toBe(true);
});

it('resolves every way of naming a file from TypeScript: .js for .ts, extensionless, .ts, .mts, .cts, .tsx, a folder, tsconfig paths, JSON', async () => {
  const p = await peer({ apps: ['styles-app.ts'] });
  expect(await p.call('styles')).toEqual({
    aliased: 'aliased',
    cts: 'cts',
    extensionless: 'extensionless',
    folder: 'folder',
    js: 'js',
    mts: 'mts',
    tsExtension: 'ts-extension',
    tsx: 'tsx',
    tsStyle: 'ts-style',
    dynamic: 'ts-style',
    data: { dataName: 'data', same: true, name: 'data' },
  });
});
