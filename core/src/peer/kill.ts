// Signals go to the peer's whole process group (its own: peers are spawned detached), so whatever
// an app spawned goes with it. A group kill takes ≈7 ms; tree-kill (one `ps` per process) is
// only the fallback where groups are unavailable, so it is loaded only there (loading it costs a
// test process ≈4 ms, most of it Node's CommonJS lexer, which nothing else here needs).
import { createRequire } from 'node:module';

/** Signal the process group of `pid`. Returns false when no process of the group is left. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // No process groups here (Windows) or not allowed: walk the tree instead.
  try {
    const treeKill = createRequire(import.meta.url)('tree-kill') as typeof import('tree-kill');
    treeKill(pid, signal, () => {});
    return true;
  } catch {
    return false;
  }
}
