// A test that fails by its own timeout is abandoned where it stands, its `finally` blocks never
// run: what it started must go anyway (test-support/children.ts). Here the first test starts a
// stand-in runner (a peer-like process with a child in its group, the way a fixture vitest has
// workers) and times out; the next one finds none of them left.
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { expect, test } from 'vitest';
import { startCli } from '../test-support/fixture-project.js';
import { peerProcesses, waitForNoPeers } from '../test-support/procs.js';

const cluster = `abandoned-${process.pid}`;
let started: number[] = [];

test.fails('a test abandoned at its timeout, holding a runner and its child', { timeout: 1000 }, async () => {
  const cli = startCli(
    tmpdir(),
    [
      '-e',
      `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'],
         { stdio: 'ignore' });
       console.log(process.pid, c.pid); setInterval(() => {}, 1000);`,
    ],
    { PEER_CLUSTER: cluster },
  );
  while (!cli.output().includes('\n')) await once(cli.child.stdout!, 'data');
  started = cli.output().trim().split(' ').map(Number);
  expect(
    peerProcesses(cluster)
      .map((p) => p.pid)
      .sort(),
  ).toEqual([...started].sort());
  await new Promise(() => {});
});

test('leaves nothing of what it started', async () => {
  expect(started).toHaveLength(2);
  await waitForNoPeers({ cluster, timeout: 3000 });
});
