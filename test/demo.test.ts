// `npm run demo` is the first thing the README asks of a new user: it runs here as they run it.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runToEnd } from '../test-support/children.js';
import { peerProcesses } from '../test-support/procs.js';

const repo = new URL('..', import.meta.url).pathname;

it('npm run demo boots, kills, restarts and heals a cluster, prints its timeline and leaves no peer', async () => {
  const { code, out, err } = await runToEnd(
    process.execPath,
    [join(repo, 'examples/replicated-kv/demo.js')],
    {
      cwd: repo,
    },
  );
  expect({ code, err }).toEqual({ code: 0, err: '' });
  const cluster = /cluster (\S+) ready and meshed in \d+ ms/.exec(out)?.[1];
  expect(cluster).toBeDefined();
  // Piped, as into a CI log: no escape codes.
  expect(out).not.toContain('\x1b[');
  expect(out).toContain('\n== Killing peer-2 (SIGKILL)\n');
  expect(out).toContain('peer-1 now sees: peer-3@');
  expect(out).toMatch(/peer-2 logged "caught up 2 key\(s\) from peer-[13]@/);
  expect(out).toContain('peer-2 holds {"colour":"green","size":42}');
  // The timeline: the kill, its crash said as the demo's own doing, the restart and the new mesh.
  expect(out).toMatch(/\n +\d+ {2}kill +peer-2 +SIGKILL\n/);
  expect(out).toMatch(/\n +\d+ {2}crash +peer-2 +signal SIGKILL \(sent by peer\.kill\(\)\)\n/);
  expect(out).toMatch(/\n +\d+ {2}restart +peer-2\n[\s\S]*\n +\d+ {2}mesh +3 peers\n/);
  expect(out).toMatch(/done in \d+ ms; no peer left running\.\n$/);
  // The cluster's stop reaped every process before it resolved.
  expect(peerProcesses(cluster)).toEqual([]);
});
