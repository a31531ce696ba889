// An app's own child processes must die with the peer, however the peer dies. A peer leads its own
// process group, so a kill of the group takes them too, but the kernel's parent-death signal
// (`setpriv --pdeathsig SIGKILL`) kills only the peer itself. So each peer's group has a tiny
// watchdog reading a pipe whose other end only the parent holds: the parent closes it when the
// peer exits or when the parent dies, and the watchdog then kills the whole group, the app's
// children included.
//
// The watchdog is started by the command that starts the peer: `/bin/sh` forks it, then execs
// the peer in place (`setpriv … node …`), so the peer keeps the pid, the process group, the IPC
// fd and the parent that spawn() gave it, and the watchdog watches from the very start of the boot.
// (Forking it from the peer's own Node process after ready cost that process more than a shell
// does.) Its pipe is a stdio slot of its own (WATCHDOG_FD), closed before the peer's command runs:
// not the peer's stdin, whose file flags Node makes non-blocking (a read the watchdog blocks in
// would end with EAGAIN at the next SIGSTOP/SIGCONT, i.e. at pause()). It runs with an empty
// environment, so that nothing takes it for a peer (PEER_CLUSTER), and needs no PATH.
import { accessSync, constants } from 'node:fs';

const SHELL = '/bin/sh';

/** The watchdog's pipe: the stdio slot after the IPC channel (spawn.ts: stdin, stdout, stderr, ipc). */
export const WATCHDOG_FD = 4;

/**
 * The watchdog reads its pipe as stdin (given explicitly: a background job's stdin is /dev/null
 * otherwise) and holds none of the peer's fds (3 is the IPC channel); the peer's command runs
 * without the pipe. `kill -9 0` is the watchdog's own process group.
 */
const SCRIPT = [
  `__ENV__ -i ${SHELL} -c 'while read -r _; do :; done; kill -9 0' <&${WATCHDOG_FD} >/dev/null 2>&1 3<&- ${WATCHDOG_FD}<&- &`,
  `exec ${WATCHDOG_FD}<&-`,
  'exec "$@"',
].join('\n');

let script: string | null | undefined;

/** The shell script that starts the watchdog and then execs "$@", or null where that cannot be done. */
function watchdogScript(): string | null {
  if (script !== undefined) return script;
  script = null;
  if (process.platform !== 'linux') return script;
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const env = ['/usr/bin/env', '/bin/env'].find(executable);
  if (env && executable(SHELL)) script = SCRIPT.replace('__ENV__', env);
  return script;
}

/**
 * `[command, args]` that runs `command args` with the group watchdog beside it, or undefined where
 * that cannot be done. The process must get a pipe as stdio slot WATCHDOG_FD.
 */
export function withGroupWatchdog(command: string, args: string[]): [string, string[]] | undefined {
  const s = watchdogScript();
  return s ? [SHELL, ['-c', s, 'peer-cluster', command, ...args]] : undefined;
}
