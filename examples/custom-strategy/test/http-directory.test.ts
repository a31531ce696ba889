import { afterAll, describe, expect, test } from 'vitest';
import { usePeers } from 'vitest-environment-peer-cluster';
import { startDirectory } from '../src/directory.js';
import { httpDirectory } from '../src/index.js';

const directory = await startDirectory();
afterAll(() => directory.close());

describe('a cluster discovered through the httpDirectory strategy', () => {
  const cluster = usePeers(3, { apps: ['./test/app.js'], strategy: httpDirectory({ url: directory.url }) });

  test('every peer registered with the directory, and the mesh formed from it', async () => {
    expect(directory.nodes(cluster.name).sort()).toEqual(cluster.peers.map((p) => p.node).sort());
    const [a, b] = cluster.peers;
    expect(await a!.evaluate((ctx, to) => ctx.cluster.call(to, 'whoami'), b!.node)).toBe(b!.name);
  });

  test('a peer that stops unregisters; one that is added registers and is linked', async () => {
    const [a, , c] = cluster.peers;
    await c!.stop();
    expect(directory.nodes(cluster.name)).not.toContain(c!.node);
    await a!.waitForNodes(1);
    const [d] = await cluster.add(1);
    expect(directory.nodes(cluster.name)).toContain(d!.node);
    expect((await a!.waitForNodes(2)).sort()).toEqual([cluster.peers[1]!.node, d!.node].sort());
  });
});

test('a bad URL is a named error that says what to pass', () => {
  expect(() => httpDirectory({ url: 'not a url' })).toThrow(
    /Invalid option `url`: must be an absolute http URL/,
  );
});
