// The repository's own leak check (test-support/global-setup.ts, test-support/procs.ts), on real
// processes: what it kills must stay dead, and what is dying must count as present until it is gone.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, onTestFinished, test } from 'vitest';
import { killWhenTestEnds } from '../test-support/children.js';
import { startCli, VITEST_BIN } from '../test-support/fixture-project.js';
import { leakedFromNow, reapLeaks } from '../test-support/global-setup.js';
import { peerProcesses, waitForNoPeers } from '../test-support/procs.js';

const cluster = `leak-check-${process.pid}`;
afterEach(() => waitForNoPeers({ cluster }));

const tick = () => new Promise((r) => setTimeout(r, 10));

test('the leak check kills the child of a leaked orphan, which it sees only once that dies', async () => {
  // An app reparented to init (its runner gone), with a child of its own: the child is neither
  // this process's descendant nor an orphan until the leak check has killed the app.
  const find = leakedFromNow(cluster);
  const runner = spawn('sh', ['-c', '(sleep 60 & exec sleep 61) & echo $!'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, PEER_CLUSTER: cluster },
  });
  const [app] = (await once(runner.stdout!, 'data')).map(Number);
  await once(runner, 'exit');
  while (peerProcesses(cluster).length < 2) await tick();
  expect(find().map((p) => p.pid)).toEqual([app]);

  const { killed, survivors } = await reapLeaks(find, { grace: 0 });

  expect(survivors).toEqual([]);
  expect(killed).toHaveLength(2);
  expect(peerProcesses(cluster)).toEqual([]);
});

test('the leak check kills a leaked process and the children it keeps forking as it is killed', async () => {
  // A leaked supervisor leading its own group, forking a child every few ms, the way a runner
  // starts workers or a healer replaces peers: children forked after a scan must not survive it.
  const leader = spawn('sh', ['-c', 'while :; do sleep 60 & sleep 0.003; done'], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, PEER_CLUSTER: cluster },
  });
  killWhenTestEnds(leader, { group: true });
  while (peerProcesses(cluster).length < 20) await tick();

  const { killed, survivors } = await reapLeaks(() => peerProcesses(cluster), { grace: 0 });

  expect(survivors).toEqual([]);
  expect(killed.map((p) => p.pid)).toContain(leader.pid);
  expect(peerProcesses(cluster)).toEqual([]);
});

test('a process whose main thread has exited counts as present while another thread runs', async (ctx) => {
  // python3 lets the main thread end alone (pthread_exit); a dying process passes through the same
  // state for a few ms, its /proc/<pid>/environ unreadable while its other threads still run.
  const python = spawn(
    'python3',
    [
      '-c',
      'import ctypes, threading, time\n' +
        'threading.Thread(target=time.sleep, args=(60,)).start()\n' +
        'ctypes.CDLL(None).pthread_exit(None)\n',
    ],
    { stdio: 'ignore', env: { ...process.env, PEER_CLUSTER: cluster } },
  );
  const [error] = await Promise.race([once(python, 'error'), once(python, 'spawn').then(() => [])]);
  if (error) ctx.skip();
  killWhenTestEnds(python);
  const state = () => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${python.pid}/status`, 'latin1'))?.[1];
  // Polling /proc is the only way to see a thread of another process end.
  while (state() !== 'Z') await tick();

  expect(peerProcesses(cluster).map((p) => p.pid)).toEqual([python.pid]);
  python.kill('SIGKILL');
  await once(python, 'exit');
});

/**
 * The real vitest CLI on test/fixtures/leak-check, whose run has the repository's leak check,
 * judging only `cluster` (LEAK_CHECK_CLUSTER): the orphans of test files running beside this one
 * (cli.test.ts leaves some for `reap`) are theirs.
 */
function runWithLeakCheck(env: Record<string, string>) {
  const dir = fileURLToPath(new URL('./fixtures/leak-check/', import.meta.url));
  return startCli(dir, [VITEST_BIN, 'run', '--root', dir], { LEAK_CHECK_CLUSTER: cluster, ...env }).done;
}

test('a run that leaves a peer process fails (exit code 1) and the process is killed', {
  timeout: 120_000,
}, async () => {
  // Whatever happens, nothing of this cluster outlives the test (afterEach above checks it).
  onTestFinished(() => {
    for (const p of peerProcesses(cluster)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
  });
  // The same run without the leak passes: the exit code below is the leak check's.
  const clean = await runWithLeakCheck({});
  expect(clean.output).not.toContain('Leaked peer processes');
  expect(clean.code, clean.output).toBe(0);

  const leaky = await runWithLeakCheck({ LEAK_CLUSTER: cluster });
  const pid = Number(/leaked pid (\d+)/.exec(leaky.output)?.[1]);
  expect(pid, leaky.output).toBeGreaterThan(0);
  expect(leaky.output).toContain('Leaked peer processes (killed by the leak check):');
  expect(leaky.output).toMatch(new RegExp(`pid ${pid} \\(${cluster}\\): sleep 60`));
  expect(leaky.output).not.toContain('Still alive after it');
  expect(leaky.code, leaky.output).toBe(1);
  // Killed by the check, not merely reported.
  expect(peerProcesses(cluster)).toEqual([]);
});
