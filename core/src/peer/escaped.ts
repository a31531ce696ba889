// Processes an app started that left the peer's process group: `spawn(…, { detached: true })`, a
// `setsid`. A kill of the peer's group misses them, and once the peer is gone nothing links them
// to it any more (init adopts them), so they are found while the peer still lives, by parent pid
// through /proc, and killed with it. (A parent that dies without running any code cannot: the
// watchdog then kills those the peer started with `detached: true`, see group-watchdog.ts.)
// (A daemon that double-forks is adopted by init at once, out
// of reach of this: `peer-cluster reap` finds it.) Only those that carry the
// peer's environment (PEER_CLUSTER) are the peer's: a process started with an environment of its
// own on purpose, such as the registry daemon a peer may start (registry/client.ts), is meant to
// outlive it. Linux only; elsewhere none are found. Only peers whose apps started a child process
// pay for the scan (≈1–3 ms).
import { readdirSync, readFileSync } from 'node:fs';
import { signalGroup } from './kill.js';

/** The descendants of `roots` (each a group leader) that are not in their root's process group. */
export function escapedDescendants(roots: number[]): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, { pid: number; group: number }[]>();
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = procStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    children.set(stat.ppid, list);
    list.push({ pid, group: stat.pgrp });
  }
  const escaped: number[] = [];
  for (const root of roots) {
    const queue = [root];
    for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
      for (const child of children.get(pid) ?? []) {
        if (child.group !== root && carriesPeerEnv(child.pid)) escaped.push(child.pid);
        queue.push(child.pid);
      }
    }
  }
  return escaped;
}

/** A process's parent and process group, from /proc/<pid>/stat; undefined once it is gone. */
export function procStat(pid: number): { state: string; ppid: number; pgrp: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // After the command's closing parenthesis (the command may hold spaces): state, ppid, pgrp, …
  const [state = '', ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state, ppid: Number(ppid), pgrp: Number(pgrp) };
}

function carriesPeerEnv(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').includes('PEER_CLUSTER=');
  } catch {
    return false;
  }
}

/** Signals each process, and the group of each that leads one (a daemon's own workers). */
export function signalEscaped(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      continue;
    }
    if (procStat(pid)?.pgrp === pid) signalGroup(pid, signal);
  }
}
