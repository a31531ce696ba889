// teardown-N: `cluster.stop()` of a running, meshed cluster of N peers until every process is
// reaped, against SIGKILL and reap of N bare children.
import { performance } from 'node:perf_hooks';
import { startCluster } from '@peer-cluster/core';
import type { Figure } from '../figure.js';
import { forkBareChildren, killAndReap } from '../floors/bare-children.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';
import { waitForExit } from '../procs.js';

export function teardown(options: { count: number; goal: number; runs: number }): Figure {
  const { count } = options;
  return {
    name: `teardown-${count}`,
    unit: 'ms',
    what: `cluster.stop() of ${count} meshed peers until every process is reaped`,
    floorWhat: `SIGKILL and reap of ${count} bare Node children`,
    goal: options.goal,
    runs: options.runs,
    async value() {
      const cluster = await startCluster({
        count,
        name: clusterName(`teardown${count}`),
        apps: [fixture('app.js')],
      });
      const pids = cluster.peers.map((p) => p.pid).filter((pid): pid is number => typeof pid === 'number');
      const start = performance.now();
      await cluster.stop();
      // stop() should resolve only once its peers are reaped; if one is still there, that time counts.
      await waitForExit(pids);
      return performance.now() - start;
    },
    async floor() {
      const { children } = await forkBareChildren(count);
      return killAndReap(children);
    },
  };
}
