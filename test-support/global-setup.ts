import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './pack.js';
import { peerProcesses, processGroup } from './procs.js';

type Peer = ReturnType<typeof peerProcesses>[number];

// Every test run must end with no peer process left, whatever the tests did. Only this run's are
// judged (descendants of this process, or orphans that appeared during it), so a parallel run or a
// benchmark on the same machine neither fails this one nor gets killed by it.
export default function setup() {
  assertBundlesCurrent();
  // A run started by a test (test/leak-check.test.ts) judges only the cluster it is given: the
  // orphans of the test files running beside that test are theirs, not its.
  const ours = leakedFromNow(process.env.LEAK_CHECK_CLUSTER || undefined);
  return async () => {
    const { killed, survivors } = await reapLeaks(ours);
    if (killed.length === 0) return;
    // Vitest only prints an error thrown here ("error during close") and still exits 0.
    process.exitCode = 1;
    throw new Error(
      `Leaked peer processes (killed by the leak check):\n${list(killed)}${
        survivors.length > 0 ? `\nStill alive after it:\n${list(survivors)}` : ''
      }`,
    );
  };
}

/**
 * The tests import the bundles of core and of the Vitest environment (`npm run build` makes them
 * after `tsc -b`): after a `tsc -b` alone they would test the code as it was before.
 */
function assertBundlesCurrent(): void {
  const mtime = (file: string) => statSync(file).mtimeMs;
  for (const [dist, bundle] of [
    ['core/dist', 'bundle/index.js'],
    ['plugin-vitest/dist', 'bundle.js'],
  ] as const) {
    let bundled: number;
    try {
      bundled = mtime(join(REPO, dist, bundle));
    } catch {
      throw new Error(`${dist}/${bundle} is missing: run \`npm run build\` (tsc -b, then the bundles).`);
    }
    const newer = (readdirSync(join(REPO, dist), { recursive: true }) as string[]).find(
      (file) => file.endsWith('.js') && !file.startsWith('bundle') && mtime(join(REPO, dist, file)) > bundled,
    );
    if (newer)
      throw new Error(
        `${dist}/${newer} is newer than ${dist}/${bundle}, which the tests import: run \`npm run build\` (tsc -b, then the bundles).`,
      );
  }
}

/**
 * A finder of the peers that this process started from now on (its descendants, and orphans that
 * were not there before), optionally of one `cluster`.
 */
export function leakedFromNow(cluster?: string): () => Peer[] {
  const before = new Set(peerProcesses(cluster).map((p) => p.pid));
  return () =>
    peerProcesses(cluster).filter(
      (p) => !before.has(p.pid) && (descendsFrom(p.pid, process.pid) || parentOf(p.pid) === 1),
    );
}

/**
 * Gives the peers `find` returns `grace` ms to go, then SIGKILLs what is left: the whole process
 * group of one that leads a group (so a child it forks meanwhile goes too), and scans again until
 * nothing is found (a child orphaned by its parent's death shows up then) or `bound` ms pass.
 */
export async function reapLeaks(find: () => Peer[], { grace = 3000, bound = 5000 } = {}) {
  const tick = () => new Promise((r) => setTimeout(r, 25));
  const graceEnd = Date.now() + grace;
  let left = find();
  while (left.length > 0 && Date.now() < graceEnd) {
    // Polling /proc is the only way to observe processes we are not the parent of.
    await tick();
    left = find();
  }
  const killed = new Map<number, Peer>();
  const end = Date.now() + bound;
  while (left.length > 0 && Date.now() < end) {
    for (const p of left) {
      killed.set(p.pid, p);
      try {
        process.kill(processGroup(p.pid) === p.pid ? -p.pid : p.pid, 'SIGKILL');
      } catch {}
    }
    await tick();
    left = find();
  }
  return { killed: [...killed.values()], survivors: left };
}

const list = (peers: Peer[]) => peers.map((p) => `  pid ${p.pid} (${p.cluster}): ${p.cmd}`).join('\n');

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
    if (p === ancestor) return true;
    p = parentOf(p);
  }
  return false;
}
