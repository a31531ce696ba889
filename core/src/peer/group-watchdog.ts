// An app's own child processes must die with the peer, however the peer dies. A peer leads its own
// process group, so a kill of the group takes them too, but the kernel's parent-death signal
// (`setpriv --pdeathsig SIGKILL`) kills only the peer itself. So a peer whose apps start child
// processes gets a tiny watchdog in its group, reading a pipe whose other end only the parent
// holds: the parent closes it when the peer exits or when the parent dies, and the watchdog then
// kills the whole group, the app's children included.
//
// The pipe is a stdio slot of the peer's own (WATCHDOG_FD, after the IPC channel), given at spawn:
// not the peer's stdin, whose file flags Node makes non-blocking (a read the watchdog blocks in
// would end with EAGAIN at the next SIGSTOP/SIGCONT, i.e. at pause()). The watchdog itself is
// started only when the peer's code first starts a child process: the peer runtime wraps
// child_process (armGroupWatchdog) and forks `/bin/sh` reading the pipe just before that first
// child exists. Most peers never start one, and a shell per peer at boot was ≈4 % of a 3-peer
// start (two processes more to schedule on a busy machine). Code that may start children
// without this process's child_process starts the watchdog too: the first worker thread (its
// child_process is its own) and the first native add-on.
// The watchdog runs with an empty environment, so that nothing takes it for a peer (PEER_CLUSTER),
// and holds none of the peer's fds but the pipe, as its stdin.
//
// A child an app starts with `detached: true` leads a session of its own, out of the group's
// reach, and once the peer is dead nothing links it to the peer any more. The parent finds such
// processes through /proc when it stops or kills the peer (escaped.ts), but a parent that dies
// without running any code (SIGKILL, Ctrl-C to a Vitest worker, an out-of-memory abort, a Vitest
// thread) never does. So the peer lists them, pid and start time, in a file the watchdog reads
// once its pipe ends: it kills each one still running (its group too) before its own group.
// Only those that carry the peer's environment (PEER_CLUSTER) are listed, as in escaped.ts.
// Processes that leave the group otherwise (`setsid` in a shell, a double fork) are not listed:
// only the parent's scan (or `peer-cluster reap`) finds them.
import type * as ChildProcessModule from 'node:child_process';
import { accessSync, constants, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const SHELL = '/bin/sh';

/** The watchdog's pipe: the stdio slot after the IPC channel (spawn.ts: stdin, stdout, stderr, ipc). */
export const WATCHDOG_FD = 4;

/**
 * Reads stdin (the pipe) to its end, then kills the processes listed in the file `$1` (lines of
 * `pid starttime`; one whose start time differs is another process that got the pid since), each
 * with its group, removes the file, and kills its own process group (`kill -9 0`), the peer's.
 * Closes the IPC channel's fd (3) and the pipe's own slot first, should either have come along.
 * Field 22 of /proc/<pid>/stat is the start time: the 20th after the command's closing parenthesis.
 */
const SCRIPT = [
  `exec 3<&- ${WATCHDOG_FD}<&-; while read -r _; do :; done;`,
  'f=$1; if [ -r "$f" ]; then while read -r p t; do',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  's=; read -r s 2>/dev/null < /proc/$p/stat; s=${s##*\\) }; set -f; set -- $s; set +f;',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  'if [ "${20}" = "$t" ]; then kill -9 -$p $p 2>/dev/null; fi;',
  'done < "$f"; /bin/rm -f "$f"; fi;',
  'kill -9 0',
].join(' ');

let available: boolean | undefined;

/** Whether peers here can get a group watchdog (Linux, with /bin/sh). Checked in the parent. */
export function groupWatchdogAvailable(): boolean {
  if (available !== undefined) return available;
  available = false;
  if (process.platform !== 'linux') return available;
  try {
    accessSync(SHELL, constants.X_OK);
    available = true;
  } catch {
    // No watchdog: a kill of the group by the parent still takes the apps' children.
  }
  return available;
}

let armed = false;

/**
 * In the peer: starts the watchdog on `fd` right before the first child process of this peer is
 * started through child_process (spawn, fork, exec, execFile and their Sync forms), or the first
 * worker thread or native add-on.
 */
export function armGroupWatchdog(
  fd: number,
  detachedList: string | undefined,
  onStart: (pid: number) => void = () => {},
): void {
  if (armed) return;
  armed = true;
  // The module's own exports object (an ES namespace cannot be assigned to); ES module imports of
  // it see the change through syncBuiltinESMExports.
  const cp = createRequire(import.meta.url)('node:child_process') as typeof ChildProcessModule;
  const exported = cp as unknown as Record<string, unknown>;
  const proto = cp.ChildProcess.prototype as unknown as { spawn: (...args: unknown[]) => unknown };
  const spawnChild = proto.spawn;
  const syncs = ['spawnSync', 'execSync', 'execFileSync'] as const;
  const originals = syncs.map((name) => exported[name] as (...args: unknown[]) => unknown);
  const dlopen = process.dlopen;
  const detached = detachedList === undefined ? undefined : new DetachedList(detachedList);
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    // Unwrapped first: the watchdog's own spawn must not come back here. The spawn method stays
    // wrapped, to list the detached children (it does not start the watchdog any more).
    process.off('worker', start);
    if (process.dlopen === wrappedDlopen) process.dlopen = dlopen;
    syncs.forEach((name, i) => {
      if (exported[name] === wrappedSyncs[i]) exported[name] = originals[i];
    });
    syncBuiltinESMExports();
    try {
      const watchdog = cp.spawn(SHELL, ['-c', SCRIPT, 'watchdog', detached?.file ?? ''], {
        env: {},
        stdio: [fd, 'ignore', 'ignore'],
        // In the peer's process group: `kill -9 0` is the group.
        detached: false,
      });
      watchdog.on('error', () => {});
      watchdog.unref();
      if (watchdog.pid !== undefined) onStart(watchdog.pid);
    } catch {
      // The child the app asked for still starts; a kill of the group by the parent still takes it.
    }
  };
  // A worker thread is running by the time this is emitted, but its Node is still starting.
  process.on('worker', start);
  const wrappedDlopen: typeof process.dlopen = function (this: unknown, ...args) {
    start();
    return dlopen.apply(this, args);
  };
  process.dlopen = wrappedDlopen;
  const wrappedSpawn = function (this: ChildProcessModule.ChildProcess, ...args: unknown[]) {
    start();
    const result = spawnChild.apply(this, args);
    detached?.add(this, args[0]);
    return result;
  };
  proto.spawn = wrappedSpawn;
  const wrappedSyncs = originals.map(
    (original) =>
      function (this: unknown, ...args: unknown[]) {
        start();
        return original.apply(this, args);
      },
  );
  syncs.forEach((name, i) => {
    exported[name] = wrappedSyncs[i];
  });
  syncBuiltinESMExports();
}

/**
 * The children this peer started with `detached: true` and its environment, still running, as
 * lines of `pid starttime` in `file` for the watchdog (written whole, renamed into place).
 */
class DetachedList {
  readonly #children = new Map<number, string>();
  constructor(readonly file: string) {}

  /** Lists `child` if `options` (those ChildProcess#spawn got) made it detached with our env. */
  add(child: ChildProcessModule.ChildProcess, options: unknown): void {
    const { pid } = child;
    const { detached, envPairs } = (options ?? {}) as { detached?: boolean; envPairs?: string[] };
    if (!detached || pid === undefined || !envPairs?.some((pair) => pair.startsWith('PEER_CLUSTER='))) return;
    const startTime = startTimeOf(pid);
    if (startTime === undefined) return;
    this.#children.set(pid, startTime);
    this.#write();
    child.once('exit', () => {
      this.#children.delete(pid);
      this.#write();
    });
  }

  #write(): void {
    try {
      if (this.#children.size === 0) {
        unlinkSync(this.file);
        return;
      }
      const temp = `${this.file}.tmp`;
      writeFileSync(temp, [...this.#children].map(([pid, start]) => `${pid} ${start}\n`).join(''));
      renameSync(temp, this.file);
    } catch {
      // Unlisted, the child is still found by the parent's scan when it stops or kills the peer.
    }
  }
}

/**
 * In the parent, once the peer exited on its own (a crash) or was killed with its group, the
 * watchdog too: kills what the peer listed, as the watchdog would have, and removes the list.
 */
export function killListedDetached(file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
    unlinkSync(file);
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    const [pid, startTime] = line.split(' ').map(Number);
    if (!pid || startTimeOf(pid) !== String(startTime)) continue;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Gone, or its group is.
      }
    }
  }
}

/** Field 22 of /proc/<pid>/stat, the process's start time in clock ticks since boot. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
