// nodedown-after-kill: ms from SIGKILL of a peer to the moment every other peer of the cluster
// has reported its `nodedown`, both timestamps taken in the test process. The kernel closes a
// killed process's sockets, so this is what a crash costs before the others know, not a
// heartbeat timeout. No floor: the goal is a latency.
import { performance } from 'node:perf_hooks';
import { type Cluster, startCluster } from '@peer-cluster/core';
import { whenEach } from '../events.js';
import type { Figure } from '../figure.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';

export function nodedownAfterKill(options: {
  count: number;
  goalValue: number;
  runs: number;
}): Figure<Cluster> {
  let run = 0;
  return {
    name: 'nodedown-after-kill',
    unit: 'ms',
    what: `ms from SIGKILL of one peer of ${options.count} to every other peer's nodedown`,
    goalValue: options.goalValue,
    runs: options.runs,
    setup: () =>
      startCluster({ count: options.count, name: clusterName('nodedown'), apps: [fixture('app.js')] }),
    async value(cluster) {
      const victim = cluster.peers[run++ % cluster.peers.length]!;
      const others = cluster.peers.filter((p) => p !== victim);
      const down = whenEach(others, 'nodedown', victim.node);
      const start = performance.now();
      await victim.kill('SIGKILL');
      const seen = await down;
      const ms = Math.max(...seen) - start;
      await victim.restart();
      await cluster.waitForMesh({ timeout: 15_000 });
      return ms;
    },
    teardown: (cluster) => cluster.stop(),
  };
}
