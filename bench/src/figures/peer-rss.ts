// peer-rss: resident memory (VmRSS) of an idle peer running one app, against a bare Node child
// that listens on port 0 and reported over IPC. Both are read after the same settling time.

import { setTimeout as sleep } from 'node:timers/promises';
import { spawnPeer } from '@peer-cluster/core';
import type { Figure } from '../figure.js';
import { forkBareChildren, killAndReap } from '../floors/bare-children.js';
import { rssMiB } from '../floors/rss.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';

/** Long enough for boot-time garbage to be collected or not, the same for both. */
const SETTLE_MS = 500;

export function peerRss(options: { goal: number; runs: number }): Figure {
  return {
    name: 'peer-rss',
    unit: 'MiB',
    what: 'VmRSS of an idle peer running one app',
    floorWhat: 'VmRSS of a bare Node child listening on port 0',
    goal: options.goal,
    runs: options.runs,
    async value() {
      const peer = await spawnPeer({ cluster: clusterName('rss'), apps: [fixture('app.js')] });
      try {
        await sleep(SETTLE_MS);
        return await rssMiB(peer.pid!);
      } finally {
        await peer.stop();
      }
    },
    async floor() {
      const { children } = await forkBareChildren(1);
      try {
        await sleep(SETTLE_MS);
        return await rssMiB(children[0]!.pid!);
      } finally {
        await killAndReap(children);
      }
    },
  };
}
