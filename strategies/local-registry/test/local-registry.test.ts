import { type ClusterNode, InvalidOptionsError, startNode } from '@peer-cluster/core';
import { type RegistryHandle, runRegistry } from '@peer-cluster/core/registry';
import { localRegistry } from '@peer-cluster/strategy-local-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let registry: RegistryHandle;
const started: ClusterNode[] = [];
beforeAll(async () => {
  registry = await runRegistry({ port: 0, idleTimeout: 0 });
});
afterAll(async () => {
  await Promise.all(started.map((n) => n.stop()));
  await registry.close();
});

describe('localRegistry', () => {
  it("records core's spec, which peers re-create from their bundled runtime", async () => {
    const strategy = localRegistry({ port: registry.port });
    expect(strategy.name).toBe('local-registry');
    expect(strategy.spec).toEqual({
      module: expect.stringMatching(/^file:.*core\/dist\/registry\/strategy\.js$/),
      export: 'localRegistryStrategy',
      options: { host: '127.0.0.1', port: registry.port },
    });
    const module = await import(strategy.spec!.module);
    const again = module[strategy.spec!.export](strategy.spec!.options);
    expect(again.spec).toEqual(strategy.spec);
    expect(() => localRegistry({ port: -1 })).toThrow(InvalidOptionsError);
  });

  it('meshes nodes as they register, with no poll', async () => {
    const start = (name: string) =>
      startNode({
        name,
        cookie: 'local-registry-cookie',
        cluster: 'pkg',
        strategy: localRegistry({ port: registry.port }),
        healer: { pollInterval: 60_000 },
      }).then((n) => {
        started.push(n);
        return n;
      });
    const a = await start('a');
    const up = new Promise<string>((resolve) => a.once('nodeup', resolve));
    const b = await start('b');
    expect(await up).toBe(b.id);
  }, 15_000);
});
