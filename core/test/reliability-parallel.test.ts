// Parallel clusters: several processes each start a 5-peer cluster at the same moment, through one
// registry, as parallel test files do. App ports never collide across them, no peer links outside
// its own cluster, and once they stop the registry holds no lease and no registration.
//
// Short version in `npm test`: 4 processes, once. `npm run stress`: PARALLEL_PROCESSES (8) ×
// PARALLEL_REPEAT (20).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';
import { type Child, killAll, startChild } from './fixtures/registry/children.js';
import {
  eventually,
  registryStatus,
  sized,
  stopRegistry,
  usePrivateRegistry,
} from './fixtures/reliability/support.js';

const registry = await usePrivateRegistry();
afterEach(killAll);
afterAll(() => stopRegistry(registry.port));

const PROCESSES = sized('PARALLEL_PROCESSES', 4);
const REPEAT = sized('PARALLEL_REPEAT', 1);

interface Up {
  type: 'up' | 'error';
  rep: number;
  cluster: string;
  message?: string;
  peers: { name: string; node: string; pid: number; ports: number[]; linkPort: number; nodes: string[] }[];
}

describe('parallel clusters', () => {
  it(
    `${PROCESSES} processes × ${REPEAT} start 5-peer clusters at once: no shared port, no link across clusters, no lease left`,
    async () => {
      const tag = `${process.pid}`;
      const children: Child<Up>[] = Array.from({ length: PROCESSES }, (_, i) =>
        startChild<Up>('../reliability/cluster-child.mjs', [String(REPEAT), `${tag}-${i}`], {
          PEER_CLUSTER_REGISTRY: registry.address,
        }),
      );
      // Each awaited line listens for the child's exit.
      for (const c of children) c.process.setMaxListeners(0);
      for (let rep = 0; rep < REPEAT; rep++) {
        const ups = await Promise.all(
          children.map((c) => c.line<Up>((m) => m.type === 'error' || (m.type === 'up' && m.rep === rep))),
        );
        for (const up of ups)
          if (up.type === 'error') throw new Error(`a cluster failed to start:\n${up.message}`);

        // Every app port and every link port, across every cluster up at this moment, is unique.
        const appPorts = ups.flatMap((u) => u.peers.flatMap((p) => p.ports));
        expect(appPorts).toHaveLength(PROCESSES * 5 * 2);
        expect(new Set(appPorts).size, `rep ${rep}: app ports collide`).toBe(appPorts.length);
        const linkPorts = ups.flatMap((u) => u.peers.map((p) => p.linkPort));
        expect(new Set([...linkPorts, ...appPorts]).size, `rep ${rep}: a link port is an app port`).toBe(
          linkPorts.length + appPorts.length,
        );

        // Each peer is linked to exactly the other four of its own cluster.
        for (const up of ups) {
          const ids = up.peers.map((p) => p.node);
          for (const peer of up.peers) {
            expect(peer.nodes.sort(), `${up.cluster}/${peer.name}`).toEqual(
              ids.filter((id) => id !== peer.node).sort(),
            );
          }
          expect(
            peerProcesses(up.cluster)
              .map((p) => p.pid)
              .sort(),
          ).toEqual(up.peers.map((p) => p.pid).sort());
        }

        // The registry holds each lease once and each cluster's five nodes.
        const status = await registryStatus(registry.port);
        expect(status.leases).toEqual(expect.arrayContaining(appPorts));
        for (const up of ups) {
          expect((status.clusters[up.cluster] ?? []).map((n) => n.id).sort()).toEqual(
            up.peers.map((p) => p.node).sort(),
          );
        }

        for (const c of children) c.process.stdin!.write('next\n');
        if (rep < REPEAT - 1) {
          await Promise.all(children.map((c) => c.line((m) => m.type === 'down' && m.rep === rep)));
          for (const up of ups) await waitForNoPeers({ cluster: up.cluster });
        }
      }
      await Promise.all(children.map((c) => c.exited));
      for (const c of children) expect(c.process.exitCode).toBe(0);

      // Nothing is left: no peer, no lease, no registration of these clusters.
      const mine = () => peerProcesses().filter((p) => p.cluster.startsWith(`par-${tag}-`));
      await eventually(
        () => mine().length === 0,
        5000,
        () => `leaked peers: ${JSON.stringify(mine())}`,
      );
      await eventually(
        async () => {
          const status = await registryStatus(registry.port);
          return (
            status.leases.length === 0 &&
            !Object.keys(status.clusters).some((n) => n.startsWith(`par-${tag}-`))
          );
        },
        10_000,
        async () => `the registry still holds ${JSON.stringify(await registryStatus(registry.port))}`,
      );
    },
    120_000 + PROCESSES * REPEAT * 15_000,
  );
});
