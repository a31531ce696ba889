import { expect, test } from 'vitest';
import { usePeers } from 'vitest-environment-peer-cluster';

const cluster = usePeers(3, { env: { GREETING: 'hi' } });

test('every peer serves its own name on its own port', async () => {
  const replies = await Promise.all(cluster.peers.map(async (peer) => (await fetch(peer.url('/'))).json()));
  expect(replies.map((reply) => reply.name)).toEqual(cluster.peers.map((peer) => peer.name));
  expect(replies.every((reply) => reply.greeting === 'hi')).toBe(true);
});

test('a peer that crashes comes back on the same port', async () => {
  const peer = cluster.peers[0]!;
  const exited = new Promise((resolve) => peer.once('exit', resolve));
  await fetch(peer.url('/crash'));
  await exited;
  expect(peer.state).toBe('crashed');
  const port = peer.port;
  await peer.restart();
  expect(peer.port).toBe(port);
  expect((await (await fetch(peer.url('/'))).json()).hits).toBe(1);
});
