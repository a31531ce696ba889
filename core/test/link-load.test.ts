// Links under heavy traffic and with odd values: big calls and messages both ways, a receiver
// slower than its sender, handlers that throw what is not an Error, values nested deeper than a
// process's stack. Each must fail alone, or not at all: never the link, never the node.
import { fileURLToPath } from 'node:url';
import {
  type ClusterNode,
  FrameError,
  InvalidOptionsError,
  RemoteError,
  startCluster,
} from '@peer-cluster/core';
import { afterEach, describe, expect, it } from 'vitest';
import { node, stopAll, waitForNodes } from './fixtures/node/helpers.js';

afterEach(stopAll);

async function pair(options: { maxPayload?: number } = {}): Promise<[ClusterNode, ClusterNode]> {
  const a = await node({ name: 'a', ...options });
  const b = await node({ name: 'b', ...options });
  await a.connect(b.id);
  await waitForNodes(b, 1);
  return [a, b];
}

/** A list of `n` nested objects: { value, next: { value, next: … } }. */
function nested(n: number): object {
  let list: object | null = null;
  for (let i = 0; i < n; i++) list = { value: i, next: list };
  return list!;
}

describe('heavy traffic', () => {
  it('24 MiB of messages each way, sent in one turn, all arrive and the link stays', async () => {
    const [a, b] = await pair();
    const chunk = new Uint8Array(1024 * 1024);
    const got = { a: 0, b: 0 };
    const all = Promise.all(
      (['a', 'b'] as const).map(
        (side) =>
          new Promise<void>((resolve) =>
            (side === 'a' ? a : b).on('message', () => {
              if (++got[side] === 24) resolve();
            }),
          ),
      ),
    );
    // Both ends queue more for the other than it has read: neither may stop reading.
    for (let i = 0; i < 24; i++) {
      a.send(b.id, 'bulk', chunk);
      b.send(a.id, 'bulk', chunk);
    }
    await all;
    expect(a.nodes()).toEqual([b.id]);
  });

  it('32 concurrent 1 MiB calls both ways, answered with 1 MiB each, all succeed', async () => {
    const [a, b] = await pair();
    for (const n of [a, b]) n.handle('echo', (x: unknown) => x);
    const chunk = new Uint8Array(1024 * 1024);
    const calls = [a, b].flatMap((from) =>
      Array.from({ length: 16 }, () => from.call(from === a ? b.id : a.id, 'echo', chunk)),
    );
    const replies = (await Promise.all(calls)) as Uint8Array[];
    expect(replies.map((r) => r.length)).toEqual(calls.map(() => chunk.length));
    expect(a.nodes()).toEqual([b.id]);
  });

  it('a receiver slower than its sender is not declared down, and misses nothing', async () => {
    // Peers, each its own process: the receiver's handler takes 10 ms a message, 3 s for all of
    // them. The 1 KiB messages come 64 to a read of the socket, which the receiver handles in one
    // go: 640 ms in which its heartbeat timer cannot run, more than the 500 ms timeout. And the
    // sender's own PINGs wait behind the messages the receiver has not read yet.
    const cluster = await startCluster({
      count: 2,
      heartbeat: { interval: 100, timeout: 500 },
      root: fileURLToPath(new URL('./fixtures/apps/', import.meta.url)),
      apps: ['slow-receiver.mjs'],
      env: { BUSY_MS: 10 },
    });
    try {
      const [sender, receiver] = cluster.peers as [any, any];
      const count = 300;
      await sender.evaluate(
        (ctx: any, { to, count }: { to: string; count: number }) => {
          const payload = 'x'.repeat(1024);
          for (let i = 0; i < count; i++) ctx.cluster.send(to, 'work', payload);
        },
        { to: receiver.node, count },
      );
      expect(await receiver.call('received', count)).toBe(count);
      expect(cluster.timeline.filter((e) => e.type === 'nodedown')).toEqual([]);
    } finally {
      await cluster.stop();
    }
  });
});

describe('what handlers throw and return', () => {
  it('an object without a prototype, an Error with a number for a name, a plain object, undefined or a throwing then: the call fails alone, saying what was thrown', async () => {
    const [a, b] = await pair();
    b.handle('nullProto', () => {
      throw Object.create(null);
    });
    b.handle('numberName', () => {
      throw Object.assign(new Error('bad name'), { name: 42 });
    });
    b.handle('objectMessage', () => {
      const error = new Error('x');
      Object.defineProperty(error, 'message', { value: { not: 'text' } });
      throw error;
    });
    b.handle('plainObject', () => {
      throw { status: 404, reason: 'missing' };
    });
    b.handle('nothing', () => {
      throw undefined;
    });
    b.handle('thenThrows', () => ({
      // biome-ignore lint/suspicious/noThenProperty: a thenable is what is under test
      then() {
        throw new TypeError('then() threw');
      },
    }));
    b.handle('slow', () => new Promise((resolve) => setTimeout(resolve, 50, 'slow done')));
    const inFlight = a.call(b.id, 'slow');
    const errors: any[] = await Promise.all(
      ['nullProto', 'numberName', 'objectMessage', 'plainObject', 'nothing', 'thenThrows'].map((m) =>
        a.call(b.id, m).catch((e: any) => e),
      ),
    );
    for (const error of errors) expect(error).toBeInstanceOf(RemoteError);
    expect(errors.map((e) => e.message.replace(/ on b@127\.0\.0\.1:\d+: /, ': '))).toEqual([
      'Error: {}',
      '42: bad name',
      'Error: [object Object]',
      'Error: {"status":404,"reason":"missing"}',
      'Error: undefined',
      'TypeError: then() threw',
    ]);
    expect(await inFlight).toBe('slow done');
    expect(a.nodes()).toEqual([b.id]);
  });

  it('an error too large for the other end is cut to fit, and the link stays', async () => {
    const [a, b] = await pair({ maxPayload: 64 * 1024 });
    b.handle('huge', () => {
      throw new Error('e'.repeat(128 * 1024));
    });
    const error: any = await a.call(b.id, 'huge').catch((e: any) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.message).toMatch(/e{4096}… \(cut: 131072 characters in all\)/);
    expect(a.nodes()).toEqual([b.id]);
  });
});

describe('values nested deeper than a stack', () => {
  it('fail the one call or reply, named, at whichever end cannot take them', async () => {
    const [a, b] = await pair();
    b.handle('echo', (x: unknown) => x);
    b.handle('deep', (n: number) => nested(n));
    // Deep enough for the receiver's decoder (≈2 000 levels), not for the sender's encoder.
    const call: any = await a.call(b.id, 'echo', nested(2500)).catch((e: any) => e);
    expect(call).toBeInstanceOf(RemoteError);
    expect(call.message).toMatch(
      /^RangeError on b@\S+ the call's arguments could not be decoded here: .*call stack/,
    );
    const reply: any = await a.call(b.id, 'deep', 2500).catch((e: any) => e);
    expect(reply).toBeInstanceOf(FrameError);
    expect(reply.message).toMatch(
      new RegExp(`^the reply from ${b.id} could not be decoded here: .*call stack`),
    );
    // Too deep to be encoded at all: the caller is told, naming the call.
    const unsendable: any = await a.call(b.id, 'echo', nested(20_000)).catch((e: any) => e);
    expect(unsendable).toBeInstanceOf(InvalidOptionsError);
    expect(unsendable.message).toMatch(
      /`call\(node, "echo", \.\.\.args\)`: cannot be sent to b@\S+: it is nested too deeply/,
    );
    expect(await a.call(b.id, 'echo', nested(10))).toEqual(nested(10));
    expect(a.nodes()).toEqual([b.id]);
  });
});
