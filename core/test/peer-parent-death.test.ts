import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';

const parentScript = fileURLToPath(new URL('./fixtures/parent/start-cluster.mjs', import.meta.url));
const hasPdeathsig = existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv');
let parent: ChildProcess | undefined;

/** Starts the fixture parent and resolves with what it reports once its cluster is up. */
async function startParent(args: string[]): Promise<{ cluster: string; pids: number[]; children: number[] }> {
  parent = spawn(process.execPath, [parentScript, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: parent.stdout! });
  for await (const line of lines) {
    if (line.startsWith('{')) return JSON.parse(line);
  }
  throw new Error(`the fixture parent exited (code ${parent.exitCode}) before reporting its cluster`);
}

afterEach(() => {
  if (parent?.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
  parent = undefined;
});

describe('peers die with their parent', () => {
  it('when the parent is SIGKILLed', async () => {
    const { cluster, pids } = await startParent(['3']);
    expect(
      peerProcesses(cluster)
        .map((p) => p.pid)
        .sort(),
    ).toEqual([...pids].sort());
    parent!.kill('SIGKILL');
    await waitForNoPeers({ cluster, timeout: 3000 });
  });

  it('when the parent is SIGKILLed while its event loop is blocked', async () => {
    const { cluster } = await startParent(['2', '--block']);
    parent!.kill('SIGKILL');
    await waitForNoPeers({ cluster, timeout: 3000 });
  });

  // The apps' children inherit the peer's env, so the leak check sees them as the cluster's. Each
  // peer starts the watchdog of its group with its apps' first child (group-watchdog.ts).
  it.each([
    ["the apps' own child processes, even when the apps ignore SIGTERM", '--app-children'],
    ['what an app left behind from execSync (an ES module named import)', '--app-children-sync'],
    ["the children an app's worker thread started", '--app-children-worker'],
    // SIGSTOP and SIGCONT reach the whole group: the watchdog's read of its pipe must go on after them.
    ["the apps' own child processes, after a pause() and resume()", '--app-children --pause-resume'],
  ])('with %s', async (_what, flags) => {
    const { cluster, pids, children } = await startParent(['2', ...flags.split(' ')]);
    expect(children).toHaveLength(2);
    expect(
      peerProcesses(cluster)
        .map((p) => p.pid)
        .sort(),
    ).toEqual([...pids, ...children].sort());
    parent!.kill('SIGKILL');
    await waitForNoPeers({ cluster, timeout: 3000 });
  });

  it.runIf(hasPdeathsig)('when the peers themselves are blocked (setpriv --pdeathsig)', async () => {
    const { cluster, pids } = await startParent(['2', '--block-peers']);
    expect(pids).toHaveLength(2);
    parent!.kill('SIGKILL');
    await waitForNoPeers({ cluster, timeout: 3000 });
  });
});
