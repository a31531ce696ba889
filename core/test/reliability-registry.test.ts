// Registry faults: the registry daemon is SIGKILLed while clusters run. The clusters keep their
// links (the registry only helps nodes find each other), a new daemon starts by itself,
// every node registers again, and a peer restarted afterwards is relinked by the others.
//
// Short version in `npm test`: one kill; `npm run stress`: REGISTRY_FAULTS kills in a row.
import { type Cluster, startCluster } from '@peer-cluster/core';
import { afterAll, describe, expect, it } from 'vitest';
import { waitForNoPeers } from '../../test-support/procs.js';
import {
  alive,
  eventually,
  killAndWait,
  registryStatus,
  reliabilityDir,
  sized,
  stopRegistry,
  usePrivateRegistry,
} from './fixtures/reliability/support.js';

const registry = await usePrivateRegistry();
afterAll(() => stopRegistry(registry.port));

const FAULTS = sized('REGISTRY_FAULTS', 1);

function cluster(): Promise<Cluster> {
  return startCluster({
    count: 3,
    root: reliabilityDir,
    apps: ['storm-app.mjs'],
    heartbeat: { interval: 200, timeout: 2000 },
    healer: { pollInterval: 500 },
  });
}

const registered = async (c: Cluster) =>
  ((await registryStatus(registry.port).catch(() => undefined))?.clusters[c.name] ?? [])
    .map((n) => n.id)
    .sort();

describe('registry faults', () => {
  it(
    `clusters keep their links through ${FAULTS} registry SIGKILL(s), register again, and relink restarted peers`,
    async () => {
      const clusters = [await cluster(), await cluster()];
      try {
        for (let fault = 0; fault < FAULTS; fault++) {
          const before = await registryStatus(registry.port);
          for (const c of clusters) expect(await registered(c)).toEqual(c.peers.map((p) => p.node).sort());
          const downs = clusters.map((c) => c.timeline.filter((e) => e.type === 'nodedown').length);
          const links = clusters.map((c) => c.peers.map((p) => p.linked().sort()));

          await killAndWait(before.pid, 'SIGKILL');
          expect(alive(before.pid)).toBe(false);

          // A new daemon comes up (whoever reconnects first starts it) and every node is back in it.
          for (const c of clusters) {
            await eventually(
              async () =>
                JSON.stringify(await registered(c)) === JSON.stringify(c.peers.map((p) => p.node).sort()),
              15_000,
              async () => `cluster ${c.name}: registered [${await registered(c)}] after the registry died`,
            );
          }
          const after = await registryStatus(registry.port);
          expect(after.pid).not.toBe(before.pid);
          // The app ports are leased again from the new daemon, so nobody else gets one of them.
          const appPorts = clusters.flatMap((c) => c.peers.map((p) => p.port));
          await eventually(
            async () => {
              const { leases } = await registryStatus(registry.port);
              return appPorts.every((p) => leases.includes(p));
            },
            10_000,
            async () => `leases ${(await registryStatus(registry.port)).leases} lack some of ${appPorts}`,
          );

          // Not one link went down meanwhile, as the peers themselves see it.
          clusters.forEach((c, i) => {
            expect(c.timeline.filter((e) => e.type === 'nodedown').length, c.name).toBe(downs[i]);
            expect(
              c.peers.map((p) => p.linked().sort()),
              c.name,
            ).toEqual(links[i]);
          });
          for (const c of clusters) {
            for (const p of c.peers) {
              expect((await p.nodes()).sort()).toEqual(
                c.peers
                  .filter((q) => q !== p)
                  .map((q) => q.node)
                  .sort(),
              );
            }
          }

          // A peer killed and restarted after the fault is found through the new daemon.
          const [c] = clusters as [Cluster];
          const victim = c.peers[fault % c.peers.length]!;
          await victim.kill();
          await victim.restart();
          await c.waitForMesh({ timeout: 15_000 });
          const other = c.peers.find((p) => p !== victim)!;
          expect(await other.call('relay', victim.node, 'back', 5000)).toBe('back');
          expect(await registered(c)).toEqual(c.peers.map((p) => p.node).sort());
        }

        // A cluster started after the faults meshes too, and stays apart from the others.
        const late = await cluster();
        clusters.push(late);
        for (const p of late.peers) {
          expect((await p.nodes()).sort()).toEqual(
            late.peers
              .filter((q) => q !== p)
              .map((q) => q.node)
              .sort(),
          );
        }
      } finally {
        await Promise.all(clusters.map((c) => c.stop()));
      }
      for (const c of clusters) await waitForNoPeers({ cluster: c.name });
      await eventually(
        async () => {
          const status = await registryStatus(registry.port);
          return clusters.every((c) => status.clusters[c.name] === undefined) && status.leases.length === 0;
        },
        10_000,
        async () => `the registry still holds ${JSON.stringify(await registryStatus(registry.port))}`,
      );
    },
    60_000 + FAULTS * 30_000,
  );
});
