// What a usePeers scope leaves behind once its afterAll stopped its cluster: runners keep a
// scope's hooks until the file ends (Vitest with --no-isolate, and its cancel listeners: until
// the worker exits), so nothing they hold may keep the stopped cluster, its peers' logs (up to
// 2000 lines each) and its timeline alive.
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Cluster } from '@peer-cluster/core';
import { createUsePeers, harnessState } from '@peer-cluster/core/harness';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it("a stopped usePeers cluster is not kept alive by the scope's hooks", async () => {
  // The hooks as a runner keeps them: referenced until the end of the test.
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
