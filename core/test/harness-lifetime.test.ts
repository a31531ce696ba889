// What a usePeers scope leaves behind once its afterAll stopped its cluster: runners keep a
// scope's hooks until the file ends (Vitest with --no-isolate, and its cancel listeners: until
// the worker exits), so nothing they hold may keep the stopped cluster, its peers' logs (up to
// 2000 lines each) and its timeline alive. And what such a handle shows when printed.
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Cluster } from '@peer-cluster/core';
import { createUsePeers, harnessState } from '@peer-cluster/core/harness';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** usePeers with its scope's hooks kept as a runner keeps them: referenced until the test ends. */
function scope() {
  const hooks: { beforeAll: (() => Promise<void>)[]; afterAll: (() => Promise<void>)[] } = {
    beforeAll: [],
    afterAll: [],
  };
  const usePeers = createUsePeers({
    beforeAll: (fn) => hooks.beforeAll.push(fn),
    afterAll: (fn) => hooks.afterAll.push(fn),
    state: () => harnessState({}),
    projectRoot: () => root,
  });
  return { hooks, usePeers };
}

it("a stopped usePeers cluster is not kept alive by the scope's hooks", async () => {
  const { hooks, usePeers } = scope();
  let handle: Cluster | undefined = usePeers(1, { apps: ['./plain-esm.mjs'], waitForMesh: false });
  for (const hook of hooks.beforeAll) await hook();
  // The peer is part of the cluster: it stays alive exactly as long as the cluster does.
  const peer = new WeakRef(handle.peers[0]!);
  expect(peer.deref()?.state).toBe('running');
  for (const hook of hooks.afterAll) await hook();
  handle = undefined;
  // A WeakRef's target is kept until the current job ends: collect in a later one.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  expect(peer.deref()).toBeUndefined();
  expect(hooks.afterAll).toHaveLength(1);
});

// What console.log (util.inspect) shows of a usePeers handle: the cluster once its beforeAll ran,
// and what the handle is waiting for or why it is empty otherwise. util.inspect looks through a
// Proxy to its target without calling its traps, so the target must say it itself.
it('console.log of a usePeers handle shows its cluster, or why it has none', async () => {
  const { hooks, usePeers } = scope();
  const handle = usePeers(1, { apps: ['./plain-esm.mjs'], waitForMesh: false });
  expect(inspect(handle)).toBe('[usePeers(1): not provisioned yet]');
  for (const hook of hooks.beforeAll) await hook();
  try {
    const shown = inspect(handle, { depth: 0 });
    expect(shown).toMatch(/^Cluster \{/);
    expect(shown).toContain(`'${handle.name}'`);
  } finally {
    for (const hook of hooks.afterAll) await hook();
  }
  expect(inspect(handle)).toBe('[usePeers(1): stopped]');
});
