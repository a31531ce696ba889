// The floor of starting and stopping peers: N bare Node children forked in parallel, each
// listening on port 0 and reporting over IPC (what a peer does, minus everything peer-cluster
// adds), then SIGKILLed and reaped.
import { type ChildProcess, fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { FLOOR_CLUSTER, fixture } from '../paths.js';

export interface BareChildren {
  children: ChildProcess[];
  /** ms from the first fork to the last child's report. */
  readyMs: number;
}

/** Forks `count` bare children in parallel; resolves when every one has reported its port. */
export async function forkBareChildren(count: number): Promise<BareChildren> {
  const script = fixture('bare-child.mjs');
  const start = performance.now();
  const children: ChildProcess[] = [];
  const reported: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const child = fork(script, [], {
      execArgv: [],
      serialization: 'advanced',
      env: { PATH: process.env.PATH ?? '', PEER_CLUSTER: FLOOR_CLUSTER },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.push(child);
    reported.push(
      new Promise((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code, signal) =>
          reject(new Error(`bare child ${i} exited before reporting (code ${code}, signal ${signal})`)),
        );
        child.once('error', reject);
      }),
    );
  }
  try {
    await Promise.all(reported);
  } catch (error) {
    await killAndReap(children);
    throw error;
  }
  return { children, readyMs: performance.now() - start };
}

/** SIGKILLs every child and resolves, with the ms it took, once each has been reaped. */
export async function killAndReap(children: ChildProcess[]): Promise<number> {
  const start = performance.now();
  const reaped = children.map((child) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve())),
  );
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(reaped);
  return performance.now() - start;
}
