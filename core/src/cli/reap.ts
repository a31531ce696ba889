// `peer-cluster reap`: the last resort after a machine crash or a runner that died without
// teardown. Finds processes whose environment carries PEER_CLUSTER= and kills their process group.
import { readdirSync, readFileSync } from 'node:fs';
import { type Command, parse } from './usage.js';

export interface PeerProcess {
  pid: number;
  cluster: string;
  name: string;
  command: string;
}

/** Peer processes of this machine (Linux: read from /proc). Zombies and this process are left out. */
export function findPeerProcesses(): PeerProcess[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: PeerProcess[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const env = readProc(pid, 'environ');
    if (!env?.includes('PEER_CLUSTER=')) continue;
    const vars = new Map(
      env.split('\0').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
    );
    const command = readProc(pid, 'cmdline')?.replaceAll('\0', ' ').trim();
    if (!vars.has('PEER_CLUSTER') || !command) continue;
    found.push({ pid, cluster: vars.get('PEER_CLUSTER')!, name: vars.get('PEER_NAME') ?? '?', command });
  }
  return found;
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return undefined;
  }
}

/** Kill every peer process (and its process group); returns what was killed. */
export function reap(): PeerProcess[] {
  const killed: PeerProcess[] = [];
  for (const peer of findPeerProcesses()) {
    try {
      process.kill(-peer.pid, 'SIGKILL');
    } catch {
      try {
        process.kill(peer.pid, 'SIGKILL');
      } catch {
        continue;
      }
    }
    killed.push(peer);
  }
  return killed;
}

export const reapCommand: Command = {
  name: 'reap',
  summary: 'kill leftover peer processes of this machine',
  help: `Usage: peer-cluster reap [--dry-run]

Kills every process whose environment carries PEER_CLUSTER= (peers left behind by a crashed
machine or a runner killed without teardown), with its process group, and says what it killed.

Options:
  --dry-run   list them without killing`,
  options: { 'dry-run': { type: 'boolean' } },
  async run(argv) {
    const { values } = parse(reapCommand, argv);
    const peers = values['dry-run'] ? findPeerProcesses() : reap();
    if (peers.length === 0) {
      console.log('No peer processes found.');
      return 0;
    }
    const verb = values['dry-run'] ? 'Would kill' : 'Killed';
    console.log(`${verb} ${peers.length} peer process${peers.length === 1 ? '' : 'es'}:`);
    for (const p of peers) console.log(`  pid ${p.pid}  ${p.cluster}/${p.name}  ${p.command.slice(0, 100)}`);
    return 0;
  },
};
