// `jest -t` that leaves none of a scope's tests to run: its usePeers spawns nothing and reaches no
// registry (Jest skips the hooks of a block whose tests the pattern filtered out), the rest of the
// file runs as usual.
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { beforeAll, expect, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { JEST, jestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

test('jest -t filtering out every test of a file spawns no peer', { timeout: 120_000 }, async () => {
  // Every peer of this config writes booting-<name>.json as it starts (and never gets ready). The
  // first boot timeout stops the other peers, so each must reach its app before it: at a load
  // average of 12 on 2 CPUs a 400 ms bootTimeout left a peer stopped before its app in 2 of 6
  // three-peer clusters, 600 ms none of 20. 3 s, not 1 s: a margin for a busier machine.
  const run = (out: string, pattern: string) => {
    const options = { apps: ['./never-starts.mjs'], env: { E2E_OUT: out }, bootTimeout: 3000 };
    const config = {
      testEnvironment: 'peer-cluster',
      testEnvironmentOptions: { 'peer-cluster': options },
      testMatch: ['<rootDir>/pass/cjs-describes.test.js', '<rootDir>/pass/cjs-file.test.js'],
      transform: {},
    };
    return project.run([...JEST, '-t', pattern, '--config', JSON.stringify(config)]);
  };
  const none = project.outDir('name-pattern-none');
  const result = await run(none, 'no test is named so');
  expect(result.output).toMatch(/Tests:\s+(\d+) skipped, \1 total/);
  expect(result.code, result.output).toBe(0);
  expect(readdirSync(none)).toEqual([]);
  // The same run with one test left to run does start its scope's peers.
  const one = project.outDir('name-pattern-one');
  const other = await run(one, 'environment options reach the peers');
  expect(other.output).toMatch(/Tests:\s+1 failed, (\d+) skipped/);
  expect(readdirSync(one).sort()).toEqual([
    'booting-peer-1.json',
    'booting-peer-2.json',
    'booting-peer-3.json',
  ]);
});

test('jest -t leaving nothing to run does not reach the registry, nor start its daemon', {
  timeout: 120_000,
}, async () => {
  // The registry address is a plain server that counts who connects: an environment or a lease.
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const run = async (pattern: string) => {
    const result = await project.run([...JEST, '--runInBand', '-t', pattern, 'pass/cjs-file.test.js'], {
      env: {
        E2E_SUITE: 'pass',
        E2E_OUT: project.outDir('name-pattern-registry'),
        PEER_CLUSTER_REGISTRY: `127.0.0.1:${port}`,
      },
    });
    // A connection the run made before it exited is accepted by now (the poll phase that saw it exit).
    await new Promise(setImmediate);
    return result;
  };
  try {
    const none = await run('no test is named so');
    expect(none.output).toMatch(/Tests:\s+(\d+) skipped, \1 total/);
    expect(none.code, none.output).toBe(0);
    expect(connections).toBe(0);
    // The same file with a test to run reaches it (its cluster's port lease), and fails there.
    const one = await run('environment options reach the peers');
    expect(one.output).toContain('is not a peer-cluster registry');
    expect(connections).toBeGreaterThan(0);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
