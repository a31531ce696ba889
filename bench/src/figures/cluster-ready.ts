// cluster-ready-N: `startCluster` of N peers with a one-line JS app until meshed, against N bare
// Node children forked in parallel, each listening on port 0 and reporting over IPC.
import { performance } from 'node:perf_hooks';
import { startCluster } from '@peer-cluster/core';
import type { Figure } from '../figure.js';
import { forkBareChildren, killAndReap } from '../floors/bare-children.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';

export function clusterReady(options: {
  name: string;
  count: number;
  goal: number;
  runs: number;
  note?: string;
}): Figure {
  const { count } = options;
  return {
    name: options.name,
    unit: 'ms',
    what: `startCluster of ${count} peers with a one-line JS app, until the mesh is complete`,
    floorWhat: `${count} bare Node children forked in parallel, each listening on port 0 and reporting over IPC`,
    goal: options.goal,
    runs: options.runs,
    ...(options.note ? { note: options.note } : {}),
    async value() {
      const start = performance.now();
      const cluster = await startCluster({
        count,
        name: clusterName(`ready${count}`),
        apps: [fixture('app.js')],
      });
      const ms = performance.now() - start;
      await cluster.stop();
      return ms;
    },
    async floor() {
      const { children, readyMs } = await forkBareChildren(count);
      await killAndReap(children);
      return readyMs;
    },
  };
}
