// heal-after-restart: ms from `peer.restart()` resolving to the moment every other peer of the
// cluster has linked to the restarted one (their `nodeup`), discovered through the local registry. A
// link that is up before restart() resolves counts as 0. No floor: the goal is a latency.
import { performance } from 'node:perf_hooks';
import { type Cluster, startCluster } from '@peer-cluster/core';
import { localRegistry } from '@peer-cluster/strategy-local-registry';
import { whenEach } from '../events.js';
import type { Figure } from '../figure.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';

export function healAfterRestart(options: {
  count: number;
  goalValue: number;
  runs: number;
}): Figure<Cluster> {
  let run = 0;
  return {
    name: 'heal-after-restart',
    unit: 'ms',
    what: `ms from restart() resolving to every other peer of ${options.count} linked to it (local registry)`,
    goalValue: options.goalValue,
    runs: options.runs,
    setup: () =>
      startCluster({
        count: options.count,
        name: clusterName('heal'),
        apps: [fixture('app.js')],
        strategy: localRegistry(),
      }),
    async value(cluster) {
      const victim = cluster.peers[run++ % cluster.peers.length]!;
      const others = cluster.peers.filter((p) => p !== victim);
      // Listening from before the restart: the others may relink before restart() resolves.
      const up = whenEach(others, 'nodeup', victim.node);
      await victim.restart();
      const resolved = performance.now();
      const seen = await up;
      await cluster.waitForMesh({ timeout: 15_000 });
      return Math.max(0, Math.max(...seen) - resolved);
    },
    teardown: (cluster) => cluster.stop(),
  };
}
