// The repository's own leak check (test-support/global-setup.ts, test-support/procs.ts), on real
// processes: what it kills must stay dead, and what is dying must count as present until it is gone.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, expect, test } from 'vitest';
import { killWhenTestEnds } from '../test-support/children.js';
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
