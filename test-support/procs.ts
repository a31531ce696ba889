import { readdirSync, readFileSync } from 'node:fs';

/** Processes on this machine whose environment carries `PEER_CLUSTER=` (optionally a given cluster). */
export function peerProcesses(cluster?: string): { pid: number; cluster: string; cmd: string }[] {
  const found: { pid: number; cluster: string; cmd: string }[] = [];
  const kernel = kernelThreads();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || kernel.has(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    // A process whose main thread has exited while others still run (as when it is dying) shows no
    // environment or command line of its own: read them through a thread that is still alive. A
    // zombie, with no thread left, is already dead; only its parent can reap it.
    const match = readThroughAnyThread(pid, 'environ')
      ?.split('\0')
      .find((v) => v.startsWith('PEER_CLUSTER='));
    if (!match) continue;
    const value = match.slice('PEER_CLUSTER='.length);
    if (cluster !== undefined && value !== cluster) continue;
    const cmd = readThroughAnyThread(pid, 'cmdline');
    found.push({ pid, cluster: value, cmd: cmd?.replaceAll('\0', ' ').trim() ?? '' });
  }
  return found;
}

/**
 * The kernel's own threads (kthreadd and its children), skipped in one read: they have no
 * environment, and looking for one through their threads tripled the cost of a scan.
 */
function kernelThreads(): Set<string> {
  try {
    return new Set(['2', ...readFileSync('/proc/2/task/2/children', 'latin1').split(' ').filter(Boolean)]);
  } catch {
    return new Set();
  }
}

/** `/proc/<pid>/<file>`, else the first thread's that is not empty; undefined if none is. */
function readThroughAnyThread(pid: number, file: string): string | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'latin1') || undefined;
    } catch {
      return undefined;
    }
  };
  const own = read(`/proc/${pid}/${file}`);
  if (own !== undefined) return own;
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of threads) {
    const text = read(`/proc/${pid}/task/${tid}/${file}`);
    if (text !== undefined) return text;
  }
  return undefined;
}

/** Resolves when no matching peer process remains, or rejects after `timeout` ms listing them. */
export async function waitForNoPeers(options: { cluster?: string; timeout?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeout ?? 3000);
  for (;;) {
    const left = peerProcesses(options.cluster);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Leaked peer processes:\n${left.map((p) => `  pid ${p.pid} (${p.cluster}): ${p.cmd}`).join('\n')}`,
      );
    }
    // Polling /proc is the only way to observe processes we are not the parent of.
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The process group of `pid`, or undefined once it is gone. */
export function processGroup(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}
