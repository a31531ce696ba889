// Starting a peer process: `node <nodeArgs> runtime.js`, its own process group (so kills reach
// whatever its apps spawned), stdio piped plus the IPC control channel, the parent's execArgv never
// passed down (Vitest workers carry their own loader flags).
//
// On Linux it runs under `setpriv --pdeathsig SIGKILL` when available: the kernel kills the peer
// when its parent dies, even if the peer's event loop is blocked. setpriv execs node in place, so
// the pid, the process group and the IPC fd stay the same. Note that pdeathsig fires when the
// parent *thread* that spawned the peer exits: a peer spawned from a worker thread (Vitest
// `pool: 'threads'`) dies with that worker, which is the lifetime a test file's cluster has anyway.
// Where a group watchdog can run (group-watchdog.ts), the peer gets its pipe as one more stdio slot
// and starts the watchdog itself, if its apps ever start a child process.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { Socket } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { escapedDescendants, signalEscaped } from './escaped.js';
import { groupWatchdogAvailable, killListedDetached, WATCHDOG_FD } from './group-watchdog.js';
import { signalGroup } from './kill.js';
import { cacheDir } from './runtime-bundle.js';

let setpriv: string | null | undefined;

/**
 * The path of a `setpriv` that supports `--pdeathsig`, or null. Probed once per machine and
 * setpriv binary (`setpriv --help` costs the first peer of every test process ~4 ms otherwise):
 * the answer is kept in core's cache directory, keyed by the binary's path, inode, size and mtime.
 */
export function pdeathsigHelper(): string | null {
  if (setpriv !== undefined) return setpriv;
  setpriv = null;
  if (process.platform !== 'linux') return setpriv;
  const dirs = ['/usr/bin', '/bin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    const candidate = join(dir, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    const known = rememberedProbe(candidate);
    if (known !== undefined) {
      if (known) setpriv = candidate;
      break;
    }
    const help = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 2000 });
    if (help.error || help.status === null) break;
    const supported = `${help.stdout}${help.stderr}`.includes('--pdeathsig');
    if (supported) setpriv = candidate;
    rememberProbe(candidate, supported);
    break;
  }
  return setpriv;
}

function probeFile(): string {
  return join(cacheDir(), 'setpriv-probe.json');
}

function fingerprint(binary: string): string {
  const s = statSync(binary);
  return `${binary}:${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** What an earlier probe of this very binary found, or undefined. */
function rememberedProbe(binary: string): boolean | undefined {
  try {
    const saved = JSON.parse(readFileSync(probeFile(), 'utf8')) as { binary?: string; pdeathsig?: boolean };
    return saved.binary === fingerprint(binary) && typeof saved.pdeathsig === 'boolean'
      ? saved.pdeathsig
      : undefined;
  } catch {
    return undefined;
  }
}

function rememberProbe(binary: string, pdeathsig: boolean): void {
  try {
    const file = probeFile();
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}`;
    writeFileSync(temp, JSON.stringify({ binary: fingerprint(binary), pdeathsig }));
    renameSync(temp, file);
  } catch {
    // Probed again next time.
  }
}

/**
 * Every peer process this process started and has not seen exit. Kept on `process`, which every
 * realm and every copy of core in this process share (a Vitest vm context, a second installed
 * version), so that one call reaches them all.
 */
interface Spawned {
  children: Set<ChildProcess>;
  /** Set once this process may start no more peers, saying why. */
  closed: string | undefined;
}

const SPAWNED = Symbol.for('peer-cluster.spawned');

function spawned(): Spawned {
  const holder = process as unknown as { [SPAWNED]?: Spawned };
  if (!holder[SPAWNED]) {
    const state: Spawned = { children: new Set(), closed: undefined };
    holder[SPAWNED] = state;
    // A process that exits (process.exit(), an uncaught error) with peers still running: they die
    // by the kernel's signal and their watchdogs, but what their apps moved out of their groups
    // would not. Found and killed here, synchronously, while the peers still live.
    process.once('exit', () => {
      if (state.children.size > 0) killEveryPeer('this process is exiting');
    });
  }
  return holder[SPAWNED];
}

/** Why this process starts no more peers, if it does not (killEveryPeer). */
export function spawningClosed(): string | undefined {
  return spawned().closed;
}

/**
 * SIGKILLs the process group of every peer this process started, and refuses any peer it is asked
 * to start from now on: what a runner worker does when its runner is gone. A cluster still booting
 * (its peers spawned, its startCluster not settled) and a restart under way go too.
 */
export function killEveryPeer(reason: string): void {
  const state = spawned();
  state.closed ??= reason;
  const pids = [...state.children].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  const escaped = escapedDescendants(pids);
  for (const pid of pids) signalGroup(pid, 'SIGKILL');
  signalEscaped(escaped, 'SIGKILL');
  // Their watchdogs went with their groups: what they would have killed, and their lists' files.
  for (const pid of pids) {
    const list = listedDetached.get(pid);
    if (list !== undefined) killListedDetached(list);
  }
}

export function spawnRuntime(options: {
  /** The runtime file (see runtime-bundle.ts). */
  entry: string;
  env: Record<string, string>;
  nodeArgs: string[];
  cwd: string;
}): ChildProcess {
  const state = spawned();
  if (state.closed !== undefined) throw new Error(`no peer is started any more: ${state.closed}`);
  const nodeArgv = [...options.nodeArgs, options.entry];
  const helper = pdeathsigHelper();
  const [command, args]: [string, string[]] = helper
    ? [helper, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...nodeArgv]]
    : [process.execPath, nodeArgv];
  const watched = groupWatchdogAvailable();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    // The watchdog's pipe (WATCHDOG_FD) follows the IPC channel; only this process holds its far end.
    stdio: ['pipe', 'pipe', 'pipe', 'ipc', ...(watched ? (['pipe'] as const) : [])],
    serialization: 'advanced',
    detached: true,
    windowsHide: true,
  });
  // Out of file descriptors (EMFILE, ENFILE), Node gives up before it makes the pipes and emits
  // the error on the next tick: handled here, and said as what it is.
  if ((child.stdio as ChildProcess['stdio'] | undefined) === undefined) {
    child.on('error', () => {});
    throw new Error(outOfDescriptors(watched ? 5 : 4));
  }
  (child.stdio[WATCHDOG_FD] as Socket | undefined)?.on('error', () => {});
  state.children.add(child);
  child.once('exit', () => {
    state.children.delete(child);
    // Whatever ended the peer (and maybe its watchdog with it), its detached children go too.
    const list = child.pid === undefined ? undefined : listedDetached.get(child.pid);
    if (list !== undefined) {
      listedDetached.delete(child.pid!);
      killListedDetached(list);
    }
  });
  child.once('error', () => state.children.delete(child));
  return child;
}

/**
 * Why a peer could not be spawned when Node made none of its pipes: this process is at its limit
 * of open files (or the system at its own), with the figures a reader needs to raise it.
 */
function outOfDescriptors(perPeer: number): string {
  let open = '';
  let limit = '';
  try {
    open = String(readdirSync('/proc/self/fd').length);
    limit = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? '';
  } catch {
    // Not Linux: the figures are left out.
  }
  const figures = open ? ` (${open} open${limit ? `, limit ${limit}` : ''})` : '';
  return (
    `this process has run out of file descriptors${figures}: each peer holds ${perPeer} of them in the test process (its stdio and control channel). ` +
    'Raise the limit where the tests are started (`ulimit -n`; Node raises its soft limit to the hard one by itself, so it is the hard limit that is low) or start fewer peers.'
  );
}

/** The directory of the lists (detachedListFile), once made. */
let detachedDir: string | undefined;

/** The list file of each peer given one (detachedListFile), by pid, until the peer has exited. */
const listedDetached = new Map<number, string>();

/**
 * Where the peer of pid `pid` lists the children its apps start with `detached: true`, for its
 * group watchdog (group-watchdog.ts); undefined when no such file can be kept. In core's cache
 * directory, which is this user's: not in the machine's shared tmp, where a name anyone can guess
 * would let another user plant a list of pids for this process to kill. The parent chooses it and
 * removes it once the peer has exited (killing what it still lists).
 */
export function detachedListFile(pid: number): string | undefined {
  // Made once per process (a syscall per peer otherwise), and looked for again if that failed.
  if (detachedDir === undefined) {
    const dir = join(cacheDir(), 'detached');
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      detachedDir = dir;
    } catch {
      return undefined;
    }
  }
  const file = join(detachedDir, String(pid));
  listedDetached.set(pid, file);
  return file;
}
