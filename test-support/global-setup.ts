import { readFileSync } from 'node:fs';
import { peerProcesses } from './procs.js';

// Every test run must end with no peer process left, whatever the tests did. Only this run's are
// judged (descendants of this process, or orphans that appeared during it), so a parallel run or a
// benchmark on the same machine neither fails this one nor gets killed by it.
export default function setup() {
  const before = new Set(peerProcesses().map((p) => p.pid));
  const ours = () =>
    peerProcesses().filter(
      (p) => !before.has(p.pid) && (descendsFrom(p.pid, process.pid) || parentOf(p.pid) === 1),
    );
  return async () => {
    const deadline = Date.now() + 3000;
    let left = ours();
    while (left.length > 0 && Date.now() < deadline) {
      // Polling /proc is the only way to observe processes we are not the parent of.
      await new Promise((r) => setTimeout(r, 25));
      left = ours();
    }
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    throw new Error(
      `Leaked peer processes:\n${left.map((p) => `  pid ${p.pid} (${p.cluster}): ${p.cmd}`).join('\n')}`,
    );
  };
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
    if (p === ancestor) return true;
    p = parentOf(p);
  }
  return false;
}
