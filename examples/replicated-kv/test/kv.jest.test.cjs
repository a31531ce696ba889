const { usePeers } = require('jest-environment-peer-cluster');

async function put(url, value) {
  const res = await fetch(url, { method: 'PUT', body: JSON.stringify(value) });
  expect(res.status).toBe(200);
  return res.json();
}

describe('replicated-kv under Jest', () => {
  const cluster = usePeers(3);

  test('a write reaches every node', async () => {
    await put(cluster.peers[0].url('/kv/greeting'), 'hello');
    await Promise.all(cluster.peers.map((p) => p.call('kv.await', 'greeting', 'hello')));
    for (const p of cluster.peers) expect(await p.call('kv.get', 'greeting')).toBe('hello');
  });

  test('a node that was down catches up when it restarts', async () => {
    const [a, b] = cluster.peers;
    await b.kill();
    await a.waitForNodes(1);
    await put(a.url('/kv/missed'), 7);
    await b.restart();
    await cluster.waitForMesh();
    await b.call('kv.await', 'missed', 7);
    expect(await b.call('kv.snapshot')).toEqual({ greeting: 'hello', missed: 7 });
  });

  test('after a partition heals, the last writer wins everywhere', async () => {
    const [a, b, c] = cluster.peers;
    await cluster.partition([a], [b, c]);
    await a.waitForNodes(0);
    const left = await put(a.url('/kv/side'), 'left');
    const right = await put(b.url('/kv/side'), 'right');
    await cluster.heal();
    const leftWins = left.clock !== right.clock ? left.clock > right.clock : left.node > right.node;
    const winner = leftWins ? 'left' : 'right';
    await Promise.all(cluster.peers.map((p) => p.call('kv.await', 'side', winner)));
  });
});
