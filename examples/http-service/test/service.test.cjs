const { usePeers } = require('jest-environment-peer-cluster');

const cluster = usePeers(3, { env: { GREETING: 'hi' } });

test('every peer serves its own name on its own port', async () => {
  const replies = await Promise.all(cluster.peers.map(async (peer) => (await fetch(peer.url('/'))).json()));
  expect(replies.map((reply) => reply.name)).toEqual(cluster.peers.map((peer) => peer.name));
});

test('a killed peer restarts with the same name and port', async () => {
  const peer = cluster.peers[1];
  const port = peer.port;
  await peer.kill();
  expect(peer.state).not.toBe('running');
  await peer.restart();
  expect(peer.port).toBe(port);
  expect((await (await fetch(peer.url('/'))).json()).name).toBe(peer.name);
});
