// An app's own child processes must die with the peer, however the peer dies. A peer leads its own
// process group, so a kill of the group takes them too, but the kernel's parent-death signal
// (`setpriv --pdeathsig SIGKILL`) kills only the peer itself. So each peer starts a tiny watchdog
// in its group that shares the peer's stdin: the parent holds the other end of that pipe and
// closes it when the peer exits or when the parent dies, and the watchdog then kills the whole
// group, the app's children included. Only builtins, so it needs no PATH; started after `ready`,
// so it costs the boot nothing.
import { spawn } from 'node:child_process';

export function watchProcessGroup(): void {
  if (process.platform !== 'linux') return;
  try {
    const watchdog = spawn('/bin/sh', ['-c', 'while read -r _; do :; done; kill -9 0'], {
      stdio: [0, 'ignore', 'ignore'],
      env: {},
    });
    watchdog.on('error', () => {});
    watchdog.unref();
  } catch {
    // No /bin/sh: the group is still killed by stop(), kill() and the runner plugins.
  }
}
