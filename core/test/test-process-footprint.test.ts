// What a test process loads to run clusters. Every Vitest test file runs in a fresh worker, which
// imports the environment, the plugin and core again, so what they load is paid once per file. The
// test process never links (the peers do), so the link layer and `ws` (which loads `http`, `https`,
// `tls` and `zlib`, ≈25 ms) stay out of it until something starts a node in it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { runtimeEntry } from '../dist/peer/runtime-bundle.js';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));

// Building the peers' runtime bundle loads those builtins to list their exports (once per build, in
// the first test process to start a peer): built here first, so the processes below only use it.
beforeAll(async () => {
  await runtimeEntry();
});

/** Runs `body` in a fresh Node process after the imports a test process makes; returns what it loaded. */
async function loadedBy(body: string): Promise<{ ws: boolean; builtins: string[] }> {
  const script = `
    import { createRequire } from 'node:module';
    import { startCluster, startNode } from '@peer-cluster/core';
    import '@peer-cluster/core/harness';
    import 'vitest-environment-peer-cluster';
    import 'jest-environment-peer-cluster';
    ${body}
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const builtins = ['http', 'https', 'tls', 'zlib'].filter((name) =>
      process.moduleLoadList.includes('NativeModule ' + name),
    );
    console.log(JSON.stringify({ ws: cache.some((file) => file.includes('/node_modules/ws/')), builtins }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
}

it('importing the plugins and core and running a cluster loads neither ws nor http', async () => {
  const loaded = await loadedBy(`
    const cluster = await startCluster({ count: 2, root: ${JSON.stringify(root)}, apps: ['./counter.mjs'] });
    await cluster.peers[0].call('inc', 1);
    await cluster.peers[1].evaluate(() => 1);
    await cluster.stop();
  `);
  expect(loaded).toEqual({ ws: false, builtins: [] });
});

it('startNode in the test process loads the link layer when it is called', async () => {
  // The check above can tell: a node started here loads ws and what it needs.
  const loaded = await loadedBy(`
    const node = await startNode({ name: 'a', cookie: 'not-a-secret' });
    await node.stop();
  `);
  expect(loaded.ws).toBe(true);
  expect(loaded.builtins).toEqual(expect.arrayContaining(['http', 'zlib']));
});

// Loaded as ≈35 modules and all of valibot, core cost every Vitest worker ≈35 ms more CPU.
it("core's entries and the Vitest environment load as their bundles, valibot included", async () => {
  // Every module Node's loader loads, as the hooks see them (printed from the hooks' thread).
  const hooks = `export async function load(url, context, next) {
    const loaded = await next(url, context);
    console.error('LOADED ' + url);
    return loaded;
  }`;
  const register = `import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));`;
  const script = `
    import '@peer-cluster/core';
    import '@peer-cluster/core/harness';
    import '@peer-cluster/core/errors';
    import 'vitest-environment-peer-cluster';
  `;
  const { stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', script],
    { timeout: 30_000 },
  );
  const files = [...stderr.matchAll(/^LOADED (file:\S+)$/gm)].map(([, url]) => fileURLToPath(url!));
  const core = fileURLToPath(new URL('../', import.meta.url));
  const ofCore = files.filter((file) => file.startsWith(core));
  expect(ofCore.length).toBeGreaterThan(0);
  expect(ofCore.filter((file) => !file.startsWith(`${core}dist/bundle/`))).toEqual([]);
  expect(files.filter((file) => file.includes('/node_modules/valibot/'))).toEqual([]);
  // The Vitest environment package too: one file.
  const plugin = fileURLToPath(new URL('../../plugin-vitest/', import.meta.url));
  expect(files.filter((file) => file.startsWith(plugin))).toEqual([`${plugin}dist/bundle.js`]);
});
