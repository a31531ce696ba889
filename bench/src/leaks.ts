// The bench must leave nothing behind: every peer it starts is in a `bench-…` cluster and every
// bare child of a floor has PEER_CLUSTER=bench-<pid>-floor, so one scan of /proc finds any leak.
// Other clusters on the machine (other suites running at the same time) are not ours to judge.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLUSTER_PREFIX } from './paths.js';

export interface Leak {
  pid: number;
  cluster: string;
  cmd: string;
}

export function benchProcesses(): Leak[] {
  const found: Leak[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let env: string;
    let cmd: string;
    try {
      env = readFileSync(`/proc/${entry}/environ`, 'latin1');
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
    } catch {
      continue;
    }
    // A zombie has an empty cmdline: it is dead already, only waiting for its parent.
    if (cmd === '') continue;
    const cluster = env
      .split('\0')
      .find((v) => v.startsWith('PEER_CLUSTER='))
      ?.slice('PEER_CLUSTER='.length);
    if (cluster?.startsWith(CLUSTER_PREFIX)) found.push({ pid: Number(entry), cluster, cmd });
  }
  return found;
}

/** Resolves with the processes still left after `timeout` ms (none, when all went). */
export async function waitForNoLeaks(timeout = 3000): Promise<Leak[]> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const left = benchProcesses();
    if (left.length === 0 || Date.now() > deadline) return left;
    // Polling /proc is the only way to see processes that are not our children.
    await sleep(50);
  }
}
