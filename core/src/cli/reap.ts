// `peer-cluster reap`: the last resort after a machine crash or a runner that died without
// teardown. Finds processes whose environment carries PEER_CLUSTER= and kills their process group.
import { readdirSync, readFileSync } from 'node:fs';
import { PeerClusterError } from '../errors.js';
import { procStat } from '../peer/escaped.js';
import { type Command, parse } from './usage.js';

export interface PeerProcess {
  pid: number;
  /** The parent pid; 1 once the parent died and init adopted the peer. */
  ppid: number;
  cluster: string;
  name: string;
  command: string;
  /** Its parent is gone: nobody will ever stop it. */
  orphaned: boolean;
}

/**
 * Throws unless reap can work on `platform`: it finds peers by their environment in /proc, which
 * only Linux has (elsewhere it would find nothing and say so, leaving every leftover running).
 */
export function assertReapPlatform(platform: NodeJS.Platform): void {
  if (platform === 'linux') return;
  throw new PeerClusterError(
    `reap needs Linux's /proc to find peer processes by their environment, and this is ${platform}: it cannot tell whether any are left. Stop clusters with cluster.stop() (the harness does it at the end of each test), and kill a leftover peer by its pid (\`peer-cluster ls\` lists the pids of registered nodes; ps shows the rest).`,
  );
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
    const ppid = procStat(pid)?.ppid ?? Number.NaN;
    const orphaned = ppid === 1 || procStat(ppid) === undefined;
    found.push({
      pid,
      ppid,
      cluster: vars.get('PEER_CLUSTER')!,
      name: vars.get('PEER_NAME') ?? '?',
      command,
      orphaned,
    });
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

export interface ReapOptions {
  /** Also kill peers whose parent is alive (a running test's peers). @default false */
  all?: boolean;
  /** Only peers of this cluster. */
  cluster?: string;
  /** List, do not kill. @default false */
  dryRun?: boolean;
}

/**
 * Peers that `reap(options)` would kill, of `found` (by default, those running now). Reading /proc
 * is most of what the command costs: it reads every process's environment once and passes it here.
 */
export function reapable(options: ReapOptions = {}, found = findPeerProcesses()): PeerProcess[] {
  return found.filter(
    (p) => (options.all || p.orphaned) && (options.cluster === undefined || p.cluster === options.cluster),
  );
}

/** Kill orphaned peer processes (and their process groups) of `found`; returns what was killed. */
export function reap(options: ReapOptions = {}, found = findPeerProcesses()): PeerProcess[] {
  const killed: PeerProcess[] = [];
  for (const peer of reapable(options, found)) {
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

/** How long `peer-cluster reap` waits for what it killed to be gone. */
const GONE_TIMEOUT = 3000;

/**
 * Resolves with the pids of `pids` still running after `timeout` ms (none, normally): a SIGKILLed
 * process takes a moment to exit, so that the command's output is true when it returns. A zombie
 * counts as gone: it is dead, and only its parent (init, for an orphan) can reap it. There is no
 * event for another process's death, so /proc is polled.
 */
export async function untilGone(pids: number[], timeout = GONE_TIMEOUT): Promise<number[]> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const running = pids.filter(anyThreadRuns);
    if (running.length === 0 || Date.now() >= deadline) return running;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Whether a thread of `pid` has not exited yet. The main thread is a zombie as soon as it has
 * exited, while another thread may still be tearing the process down (its memory, then its open
 * files and sockets): the process is gone once every thread is.
 */
function anyThreadRuns(pid: number): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tids.some((tid) => {
    const state = procStat(Number(tid))?.state;
    return state !== undefined && state !== 'Z' && state !== 'X';
  });
}

export const reapCommand: Command = {
  name: 'reap',
  summary: 'kill leftover peer processes of this machine',
  help: `Usage: peer-cluster reap [--all] [--cluster NAME] [--dry-run] [--json]

Kills orphaned peers: processes whose environment carries PEER_CLUSTER= and whose parent is gone
(left behind by a crashed machine or a runner killed without teardown), with their process groups,
and says what it killed. Peers of a test that is still running are left alone unless --all.
Orphans adopted by a subreaper (systemd --user) instead of init look parented: use --all --cluster.
Linux only (it reads /proc): elsewhere it fails, saying so.

Options:
  --all           also kill peers whose parent is alive
  --cluster NAME  only peers of this cluster
  --dry-run       list them without killing
  --json          print one JSON document instead: { dryRun, cluster, peers: [{ pid, ppid, cluster,
                  name, command, orphaned }…] (killed, or with --dry-run would be), parented (peers
                  left alone, their parent alive), stillRunning: [pid…] }; exit codes as without it`,
  options: {
    all: { type: 'boolean' },
    cluster: { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(argv) {
    const { values } = parse(reapCommand, argv);
    assertReapPlatform(process.platform);
    const options: ReapOptions = {
      all: values.all === true,
      ...(typeof values.cluster === 'string' && { cluster: values.cluster }),
    };
    const dryRun = values['dry-run'] === true;
    // One scan of /proc serves both: the peers left alone because their parent is alive (counted
    // before anything is killed), and those to kill.
    const found = findPeerProcesses();
    const parented = options.all
      ? 0
      : reapable({ ...options, all: true }, found).filter((p) => !p.orphaned).length;
    const peers = dryRun ? reapable(options, found) : reap(options, found);
    if (!values.json) {
      if (peers.length === 0) {
        const of = options.cluster === undefined ? '' : ` of cluster ${options.cluster}`;
        console.log(
          parented > 0
            ? `No orphaned peer processes${of} (${parented} peer(s) still have a live parent; --all kills them too).`
            : `No peer processes${of} found.`,
        );
      } else {
        const verb = dryRun ? 'Would kill' : 'Killed';
        console.log(`${verb} ${peers.length} peer process${peers.length === 1 ? '' : 'es'}:`);
        for (const p of peers)
          console.log(`  pid ${p.pid}  ${p.cluster}/${p.name}  ${p.command.slice(0, 100)}`);
      }
    }
    const running = dryRun || peers.length === 0 ? [] : await untilGone(peers.map((p) => p.pid));
    if (values.json) {
      const document = { dryRun, cluster: options.cluster ?? null, peers, parented, stillRunning: running };
      console.log(JSON.stringify(document, null, 2));
    }
    if (running.length === 0) return 0;
    console.error(
      `Still running ${GONE_TIMEOUT / 1000} s after SIGKILL: pid ${running.join(', ')} (a process in uninterruptible sleep, D in ps, dies when its I/O returns).`,
    );
    return 1;
  },
};
