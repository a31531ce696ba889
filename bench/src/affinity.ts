// CPU placement for the RPC figures. Two processes that trade messages run at one of two speeds
// on a machine with idle CPUs, depending on where the scheduler puts them: on one CPU a wake-up is
// a context switch; on two, it waits for the other CPU to leave its idle state (on this machine's
// VM, a raw ws round trip takes 14 µs on one CPU and 78 µs on two). The scheduler picked one
// placement or the other from run to run, so the floor and the value, measured moments apart, were
// often in different modes and their ratio swung from 1.0 to 5.8. Pinning the two ends of both, the
// same way, measures them alike: each end on its own CPU, as two nodes of a cluster would run.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The CPUs this process may run on (Cpus_allowed_list), in order. */
function allowedCpus(): number[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '';
  return list.split(',').flatMap((range) => {
    const [from = Number.NaN, to = from] = range.split('-').map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to)) return [];
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** Two CPUs to pin the two ends of an exchange to, or why there are none. */
export function twoCpus(): [number, number] | string {
  if (process.platform !== 'linux') return 'not pinned: Linux only';
  const cpus = allowedCpus();
  if (cpus.length < 2) return 'not pinned: one CPU';
  const probe = spawnSync('taskset', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) return 'not pinned: no taskset';
  return [cpus[0]!, cpus[1]!];
}

/** Pins every thread of `pid` to `cpu` (threads it starts later inherit it). */
export function pin(pid: number, cpu: number): void {
  const done = spawnSync('taskset', ['--all-tasks', '--cpu-list', '--pid', String(cpu), String(pid)], {
    encoding: 'utf8',
  });
  if (done.error || done.status !== 0) {
    throw new Error(
      `taskset could not pin pid ${pid} to CPU ${cpu}: ${done.error?.message ?? done.stderr.trim()}`,
    );
  }
}
