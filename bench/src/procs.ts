// Whether processes are gone, for processes we may not be the parent of.
import { setTimeout as sleep } from 'node:timers/promises';

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves once none of `pids` exists any more (polling: they need not be our children). */
export async function waitForExit(pids: number[], timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (pids.some(alive)) {
    if (Date.now() > deadline)
      throw new Error(`processes ${pids.filter(alive).join(', ')} still alive after ${timeout} ms`);
    await sleep(1);
  }
}
