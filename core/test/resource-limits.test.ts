import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runToEnd } from '../../test-support/children.js';
import { waitForNoPeers } from '../../test-support/procs.js';

const script = fileURLToPath(new URL('./fixtures/parent/out-of-fds.mjs', import.meta.url));

it('a test process out of file descriptors gets a boot error that says so, and nothing is left', async () => {
  // A hard limit of 64 (Node raises its soft limit to the hard one): room for a few peers, not 20.
  const { code, out, err } = await runToEnd('/bin/sh', [
    '-c',
    `ulimit -n 64 && exec "${process.execPath}" "${script}" 20`,
  ]);
  // Before, Node's EMFILE from spawn() was an unhandled 'error' event: the process crashed.
  expect({ code, err }).toEqual({ code: 0, err: '' });
  const report = JSON.parse(out) as { cluster: string; name?: string; message?: string };
  expect(report.name).toBe('PeerBootError');
  expect(report.message).toMatch(
    /^Peer peer-\d+ failed to boot in phase "spawn": this process has run out of file descriptors \(\d+ open, limit 64\): each peer holds \d of them in the test process .*Raise the limit .*`ulimit -n`/,
  );
  await waitForNoPeers({ cluster: report.cluster, timeout: 3000 });
});
