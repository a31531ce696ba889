// What console.log (util.inspect) shows of a usePeers handle: the cluster once its beforeAll ran,
// and what the handle is waiting for or why it is empty otherwise. util.inspect looks through a
// Proxy to its target without calling its traps, so the target must say it itself.
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { createUsePeers, harnessState } from '@peer-cluster/core/harness';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));

it('console.log of a usePeers handle shows its cluster, or why it has none', async () => {
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
