import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWhenTestEnds } from '../../test-support/children.js';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';

const parentScript = fileURLToPath(new URL('./fixtures/parent/start-cluster.mjs', import.meta.url));
const hasPdeathsig = existsSync('/usr/bin/setpriv') || existsSync('/bin/setpriv');
let parent: ChildProcess | undefined;

// A native add-on that starts a child from C, compiled with the machine's C compiler (.ci/run
// installs gcc where there is none).
const nativeSource = fileURLToPath(new URL('./fixtures/native/spawner.c', import.meta.url));
let nativeDir: string;
let nativeAddon: string;
beforeAll(() => {
  nativeDir = mkdtempSync(join(tmpdir(), 'peer-cluster-native-'));
  nativeAddon = join(nativeDir, 'spawner.node');
  const cc = spawnSync(process.env.CC ?? 'cc', ['-shared', '-fPIC', '-o', nativeAddon, nativeSource], {
    encoding: 'utf8',
  });
  if (cc.status !== 0)
    throw new Error(`could not build the native add-on fixture with cc: ${cc.error?.message ?? cc.stderr}`);
});
afterAll(() => rmSync(nativeDir, { recursive: true, force: true }));

/** Starts the fixture parent and resolves with what it reports once its cluster is up. */
async function startParent(
  args: string[],
): Promise<{ cluster: string; pids: number[]; children: number[]; independents: number[] }> {
  parent = spawn(process.execPath, [parentScript, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NATIVE_ADDON: nativeAddon },
  });
  killWhenTestEnds(parent);
  const lines = createInterface({ input: parent.stdout! });
  for await (const line of lines) {
    if (line.startsWith('{')) return JSON.parse(line);
  }
  throw new Error(`the fixture parent exited (code ${parent.exitCode}) before reporting its cluster`);
}

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
    ['the children a native add-on started from C', '--app-children-native'],
    // SIGSTOP and SIGCONT reach the whole group: the watchdog's read of its pipe must go on after them.
    ["the apps' own child processes, after a pause() and resume()", '--app-children --pause-resume'],
    // A paused peer dies by the kernel's signal; its stopped children by the watchdog, which
    // pause() leaves running.
    ["the apps' own child processes of peers left paused", '--app-children --pause'],
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

  it('with what the apps started outside their groups, when the parent calls process.exit()', async () => {
    const { cluster, children, independents } = await startParent(['2', '--app-detached', '--exit']);
    try {
      // Per peer: a detached child and a setsid shell (whose own child is found through /proc).
      expect(children).toHaveLength(4);
      await waitForNoPeers({ cluster, timeout: 3000 });
    } finally {
      for (const pid of independents) process.kill(pid, 'SIGKILL');
    }
  });

  // A parent that dies without running any code cannot look for them through /proc: the
  // children started with `detached: true` are listed for the watchdog, which kills them.
  it('with the children the apps started with detached: true, when the parent is SIGKILLed', async () => {
    const { cluster, pids, children, independents } = await startParent(['2', '--app-detached']);
    // Per peer: the detached child, then the setsid shell, which only the parent's scan (or
    // `peer-cluster reap`) finds: killed here with its group.
    const detached = children.filter((_, i) => i % 2 === 0);
    const setsid = children.filter((_, i) => i % 2 === 1);
    try {
      expect(detached).toHaveLength(2);
      parent!.kill('SIGKILL');
      const deadline = Date.now() + 3000;
      for (;;) {
        const left = peerProcesses(cluster).filter((p) => [...pids, ...detached].includes(p.pid));
        if (left.length === 0) break;
        if (Date.now() > deadline)
          throw new Error(`Leaked: ${left.map((p) => `${p.pid} ${p.cmd}`).join(', ')}`);
        // Polling /proc is the only way to observe processes we are not the parent of.
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      for (const pid of setsid) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {}
      }
      for (const pid of independents) process.kill(pid, 'SIGKILL');
    }
  });

  it.runIf(hasPdeathsig)('when the peers themselves are blocked (setpriv --pdeathsig)', async () => {
    const { cluster, pids } = await startParent(['2', '--block-peers']);
    expect(pids).toHaveLength(2);
    parent!.kill('SIGKILL');
    await waitForNoPeers({ cluster, timeout: 3000 });
  });
});
