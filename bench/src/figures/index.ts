// Every figure of issue 9, with its goal, run count and size, full or --quick.
import type { Figure, RunOptions } from '../figure.js';
import { clusterReady } from './cluster-ready.js';
import { healAfterRestart } from './heal-after-restart.js';
import { nodedownAfterKill } from './nodedown-after-kill.js';
import { peerRss } from './peer-rss.js';
import { rpcRtt, rpcThroughput } from './rpc.js';
import { teardown } from './teardown.js';
import { tsAppBoot } from './ts-app-boot.js';

// Run counts: a full run takes ≈2–3 min here. Medians of 5–7 samples moved by 0.1–0.2 between
// two runs minutes apart on this shared machine (a figure near its goal flipped), so the figures
// whose samples are cheap take more of them.
export function figures({ quick }: RunOptions): Figure<any>[] {
  const runs = (full: number) => (quick ? 3 : full);
  const big = quick ? 10 : 50;
  return [
    clusterReady({ name: 'cluster-ready-3', count: 3, goal: 1.3, runs: runs(20) }),
    clusterReady({
      name: 'cluster-ready-50',
      count: big,
      goal: 1.5,
      runs: runs(7),
      ...(quick ? { note: `quick: ${big} peers` } : {}),
    }),
    healAfterRestart({ count: 5, goalValue: 50, runs: runs(10) }),
    nodedownAfterKill({ count: 5, goalValue: 20, runs: runs(10) }),
    teardown({ count: 10, goal: 2, runs: runs(20) }),
    rpcRtt({ calls: quick ? 500 : 3000, goal: 1.3, runs: runs(11) }),
    rpcThroughput({ calls: quick ? 5000 : 30_000, window: 256, goal: 1.4, runs: runs(11) }),
    peerRss({ goal: 1.3, runs: runs(7) }),
    tsAppBoot({ goal: 1.2, runs: runs(15) }),
  ];
}
