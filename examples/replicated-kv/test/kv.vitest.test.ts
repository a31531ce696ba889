import { describe, expect, test } from 'vitest';
import { usePeers } from 'vitest-environment-peer-cluster';

async function put(url: string, value: unknown) {
  const res = await fetch(url, { method: 'PUT', body: JSON.stringify(value) });
  expect(res.status).toBe(200);
  return (await res.json()) as { clock: number; node: string };
}

describe('replicated-kv', () => {
  const cluster = usePeers(3);

  test('a write reaches every node', async () => {
    const [a] = cluster.peers;
    await put(a!.url('/kv/greeting'), 'hello');
    await Promise.all(cluster.peers.map((p) => p.call('kv.await', 'greeting', 'hello')));
    for (const p of cluster.peers) expect(await p.call('kv.get', 'greeting')).toBe('hello');
  });

  test('a node that was down catches up when it restarts', async () => {
    const [a, b] = cluster.peers;
    await b!.kill();
    await a!.waitForNodes(1);
    await put(a!.url('/kv/missed'), { n: 1 });
    await b!.restart();
    await cluster.waitForMesh();
    await b!.call('kv.await', 'missed', { n: 1 });
    expect(await (await fetch(b!.url('/kv'))).json()).toMatchObject({ greeting: 'hello', missed: { n: 1 } });
  });

  test('after a partition heals, the last writer wins everywhere', async () => {
    const [a, b, c] = cluster.peers;
    await cluster.partition([a!], [b!, c!]);
    await a!.waitForNodes(0);
    const left = await put(a!.url('/kv/side'), 'left');
    const right = await put(b!.url('/kv/side'), 'right');
    await cluster.heal();
    const winner =
      left.clock !== right.clock
        ? left.clock > right.clock
          ? 'left'
          : 'right'
        : left.node > right.node
          ? 'left'
          : 'right';
    await Promise.all(cluster.peers.map((p) => p.call('kv.await', 'side', winner)));
    for (const p of cluster.peers) expect(await p.call('kv.get', 'side')).toBe(winner);
  });
});
