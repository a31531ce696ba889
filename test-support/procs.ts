import { readdirSync, readFileSync } from 'node:fs';

/** Processes on this machine whose environment carries `PEER_CLUSTER=` (optionally a given cluster). */
export function peerProcesses(cluster?: string): { pid: number; cluster: string; cmd: string }[] {
  const found: { pid: number; cluster: string; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue;
    }
    const match = env.split('\0').find((v) => v.startsWith('PEER_CLUSTER='));
    if (!match) continue;
    const value = match.slice('PEER_CLUSTER='.length);
    if (cluster !== undefined && value !== cluster) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
    } catch {}
    // A zombie has an empty cmdline and is already dead; only its parent can reap it.
    if (cmd === '') continue;
    found.push({ pid, cluster: value, cmd });
  }
  return found;
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
