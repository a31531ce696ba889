// Starting a peer process: `node <nodeArgs> runtime.js`, its own process group (so kills reach
// whatever its apps spawned), stdio piped plus the IPC control channel, the parent's execArgv never
// passed down (Vitest workers carry their own loader flags).
//
// On Linux it runs under `setpriv --pdeathsig SIGKILL` when available: the kernel kills the peer
// when its parent dies, even if the peer's event loop is blocked. setpriv execs node in place, so
// the pid, the process group and the IPC fd stay the same. Note that pdeathsig fires when the
// parent *thread* that spawned the peer exits: a peer spawned from a worker thread (Vitest
// `pool: 'threads'`) dies with that worker, which is the lifetime a test file's cluster has anyway.
// The command starts through the group watchdog's shell (group-watchdog.ts), which execs it in place
// too: the peer's parent is still the test process.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { WATCHDOG_FD, withGroupWatchdog } from './group-watchdog.js';

let setpriv: string | null | undefined;
let probing: Promise<void> | undefined;

/** The `setpriv` to probe: the first executable one on the usual paths and PATH. */
function setprivCandidate(): string | undefined {
  const dirs = ['/usr/bin', '/bin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    const candidate = join(dir, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

const supportsPdeathsig = (help: string) => help.includes('--pdeathsig');

/**
 * Probes `setpriv --help` without blocking, once per process, so that the first peer's spawn
 * finds the answer (pdeathsigHelper) without waiting for a process of its own.
 */
export function probePdeathsigHelper(): Promise<void> {
  probing ??= new Promise<void>((resolve) => {
    const candidate = process.platform === 'linux' ? setprivCandidate() : undefined;
    if (setpriv !== undefined || !candidate) return resolve();
    let help = '';
    const child = spawn(candidate, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (help += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (help += chunk));
    const done = (ok: boolean) => {
      clearTimeout(timer);
      setpriv ??= ok && supportsPdeathsig(help) ? candidate : null;
      resolve();
    };
    child.on('error', () => done(false));
    child.on('close', () => done(true));
  });
  return probing;
}

/** The path of a `setpriv` that supports `--pdeathsig`, or null. Probed once per process. */
export function pdeathsigHelper(): string | null {
  if (setpriv !== undefined) return setpriv;
  setpriv = null;
  const candidate = process.platform === 'linux' ? setprivCandidate() : undefined;
  if (!candidate) return setpriv;
  const help = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 2000 });
  if (supportsPdeathsig(`${help.stdout}${help.stderr}`)) setpriv = candidate;
  return setpriv;
}

export function spawnRuntime(options: {
  /** The runtime file (see runtime-bundle.ts). */
  entry: string;
  env: Record<string, string>;
  nodeArgs: string[];
  cwd: string;
}): ChildProcess {
  const nodeArgv = [...options.nodeArgs, options.entry];
  const helper = pdeathsigHelper();
  const [command, args]: [string, string[]] = helper
    ? [helper, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...nodeArgv]]
    : [process.execPath, nodeArgv];
  const watched = withGroupWatchdog(command, args);
  const child = spawn(...(watched ?? [command, args]), {
    cwd: options.cwd,
    env: options.env,
    // The watchdog's pipe (WATCHDOG_FD) follows the IPC channel; only the watchdog holds its far end.
    stdio: ['pipe', 'pipe', 'pipe', 'ipc', ...(watched ? (['pipe'] as const) : [])],
    serialization: 'advanced',
    detached: true,
    windowsHide: true,
  });
  (child.stdio[WATCHDOG_FD] as Socket | undefined)?.on('error', () => {});
  return child;
}
