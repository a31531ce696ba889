import { expect, test } from 'vitest';
import { type Peer, usePeers } from 'vitest-environment-peer-cluster';

const cluster = usePeers(3, { env: { GREETING: 'hi' } });

interface Reply {
  name: string;
  greeting: string;
  hits: number;
}
const get = async (peer: Peer): Promise<Reply> => (await fetch(peer.url('/'))).json() as Promise<Reply>;

test('every peer serves its own name on its own port', async () => {
  const replies = await Promise.all(cluster.peers.map(get));
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
  expect((await get(peer)).hits).toBe(1);
});
