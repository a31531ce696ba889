// Pods behind a headless service, on one machine: every peer listens on its own loopback address
// (127.0.0.2, 127.0.0.3, …; Linux routes all of 127.0.0.0/8 to loopback), and the peers find each
// other only through DNS: an SRV record lists one target per peer with its link port, and an A
// record per target gives its address. The DNS server runs in this test, on port 0.

import type { Peer } from '@peer-cluster/core';
import { dns } from '@peer-cluster/strategy-dns';
import { afterAll, describe, expect, test } from 'vitest';
import { usePeers } from 'vitest-environment-peer-cluster';
import { startDnsServer } from '../../../test-support/dns-server.js';

const server = await startDnsServer();
afterAll(() => server.close());

const SERVICE = '_peers._tcp.cluster.test';

/** What a service controller would publish: one SRV target per running peer, and its A record. */
function publish(peers: Peer[]) {
  const running = peers.filter((p) => p.state === 'running');
  server.setZone({
    [SERVICE]: { SRV: running.map((p) => ({ target: `${p.name}.cluster.test`, port: p.linkPort })) },
    ...Object.fromEntries(running.map((p) => [`${p.name}.cluster.test`, { A: [p.host] }])),
  });
}

describe('peers discovered through DNS', () => {
  const cluster = usePeers(3, {
    apps: ['./test/app.js'],
    host: ({ index }) => `127.0.0.${index + 2}`,
    strategy: dns({ query: SERVICE, type: 'SRV', servers: [server.address], timeout: 500 }),
    // The addresses are published once the peers run, as a service controller would.
    waitForMesh: false,
  });

  test('each peer listens on its own address and links the others it finds in DNS', async () => {
    expect(cluster.peers.map((p) => p.host)).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    publish(cluster.peers);
    await cluster.waitForMesh();
    const [a, b] = cluster.peers;
    expect(await a!.evaluate((ctx, to) => ctx.cluster.call(to, 'where'), b!.node)).toBe(
      'peer-2 on 127.0.0.3',
    );
    expect(server.queries.get(`SRV ${SERVICE}`)).toBeGreaterThan(0);
  });

  test('a peer added to the service is found by every healer', async () => {
    const [d] = await cluster.add(1, { host: '127.0.0.9' });
    publish(cluster.peers);
    await cluster.waitForMesh();
    expect(await cluster.peers[0]!.nodes()).toContain(d!.node);
    expect(d!.node).toMatch(/^peer-4@127\.0\.0\.9:\d+$/);
  });
});
