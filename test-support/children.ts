// A test that fails by its own timeout is abandoned where it stands: its `finally` blocks never
// run, so whatever child it started (a fixture runner with its workers and peers, a CLI, a
// stand-in) would live on. Every long-lived child a test starts is registered here instead, and
// SIGKILLed when its test ends however it ends: Vitest runs `onTestFinished` hooks after a test
// timeout too. One started outside a test (a beforeAll) goes after the test file's last afterAll:
// this module is evaluated anew for each test file (Vitest isolates them) as the file is
// collected, so its afterAll is the file's.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { afterAll, onTestFinished } from 'vitest';

const live = new Set<() => void>();
afterAll(() => {
  for (const kill of live) kill();
});

/**
 * SIGKILL `child` when the current test ends: its whole process group with `group` (a `detached`
 * child leads one; what it leaves in the group goes too, even once it has exited itself).
 */
export function killWhenTestEnds(child: ChildProcess, { group = false } = {}): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const kill = () => {
    live.delete(kill);
    try {
      if (group) process.kill(-pid, 'SIGKILL');
      else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } catch {}
  };
  live.add(kill);
  try {
    onTestFinished(kill);
  } catch {
    // Not inside a test: the afterAll above.
  }
}

/**
 * Runs `command` to its end (killed when the test ends first) and resolves with its exit code and
 * everything it wrote to stdout and stderr.
 */
export async function runToEnd(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  killWhenTestEnds(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out, err };
}
