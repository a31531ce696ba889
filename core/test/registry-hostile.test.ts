// What one local client sends the registry daemon must never make the daemon's answers to the
// others unreadable: whatever the daemon accepts, it lists to every watcher of that cluster and in
// every `status`, and a client drops its connection on a line it cannot read.
import { once } from 'node:events';
import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useTestRegistry } from '../../test-support/registry-daemon.js';
import { MAX_NODES_PER_CONNECTION, MAX_REGISTERED_BYTES } from '../dist/registry/daemon.js';
import type { RegisteredNode } from '../dist/registry/protocol.js';

const registry = useTestRegistry();
const { lines: logs } = registry;
const connect = () => registry.connect();

/** Sends `line` on a raw connection; resolves with its answer lines (after the hello) once it is answered or closed. */
async function rawRequest(line: string): Promise<{ answers: Record<string, unknown>[]; socket: net.Socket }> {
  const socket = net.connect({ host: '127.0.0.1', port: registry.handle.port });
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (d) => {
    text += d;
  });
  await once(socket, 'connect');
  socket.write(line);
  // The hello, then one answer (or the line telling why the connection is closed).
  await new Promise<void>((resolve) => {
    const done = () => text.split('\n').length > 2 && resolve();
    socket.on('data', done);
    socket.on('close', () => resolve());
    done();
  });
  const answers = text
    .split('\n')
    .filter(Boolean)
    .slice(1)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { answers, socket };
}

describe('a registration no client could read', () => {
  it('is refused, and the watchers of its cluster and every status stay readable', async () => {
    const watcher = await connect();
    const seen: number[] = [];
    await watcher.watch('unsafe', (nodes) => seen.push(nodes.length));
    for (const pid of [2 ** 53 + 2, 1e300, -(2 ** 60)]) {
      const node = { id: 'a@127.0.0.1:2', name: 'a', host: '127.0.0.1', port: 2, pid };
      const { answers, socket } = await rawRequest(
        `${JSON.stringify({ type: 'register', id: 1, cluster: 'unsafe', node })}\n`,
      );
      // The sender is told why, on the line that closes its connection.
      expect(answers).toEqual([
        { type: 'error', id: 0, message: expect.stringMatching(/^closing this connection: it .*node\.pid/) },
      ]);
      socket.destroy();
    }
    expect(watcher.closed).toBe(false);
    expect(await watcher.list('unsafe')).toEqual([]);
    expect((await watcher.status()).clusters).not.toHaveProperty('unsafe');
    expect(seen).toEqual([]);
  });

  it('whatever the daemon accepts, its answers to the others stay readable (property)', async () => {
    const watcher = await connect();
    await watcher.watch('prop', () => {});
    // Mostly values the daemon takes (so that the property says something), now and then others.
    const edge = fc.constantFrom(
      0,
      -0,
      1,
      65535,
      65536,
      2 ** 31,
      2 ** 53 - 1,
      2 ** 53,
      2 ** 53 + 2,
      1e21,
      1e300,
      -1,
    );
    const number = fc.oneof(fc.integer(), edge, fc.double());
    const hostile = fc.oneof(number, fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
    const mostly = <T>(valid: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: valid, weight: 8 }, { arbitrary: hostile, weight: 1 });
    const text = fc.oneof(
      fc.string({ minLength: 1, maxLength: 256, unit: 'binary' }),
      fc.constantFrom('__proto__', 'constructor', 'toString', '\u001b[31m', '\ud800', 'x'.repeat(256)),
    );
    const node = fc.record(
      {
        id: mostly(text),
        name: mostly(text),
        host: mostly(text),
        port: mostly(fc.integer({ min: 1, max: 65535 })),
        pid: mostly(fc.oneof(fc.integer(), edge)),
        scope: mostly(text),
        __proto__: hostile,
      },
      { requiredKeys: ['id', 'name', 'host', 'port'] },
    );
    const id = mostly(fc.oneof(fc.nat(), edge));
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    // Of the registrations the daemon takes, the sender's connection stays open (it holds them):
    // the watcher and a status must read the cluster all the same.
    const held: net.Socket[] = [];
    let taken = 0;
    try {
      await fc.assert(
        fc.asyncProperty(node, id, async (n, id) => {
          const { answers, socket } = await rawRequest(
            `${JSON.stringify({ type: 'register', id, cluster: 'prop', node: n })}\n`,
          );
          held.push(socket);
          if (answers[0]?.type === 'ok') taken++;
          expect(watcher.closed).toBe(false);
          await watcher.list('prop');
          await watcher.status();
          expect(watcher.closed).toBe(false);
        }),
        { numRuns: 150, seed },
      );
    } catch (error) {
      throw new Error(`failed with FUZZ_SEED=${seed}: ${(error as Error).message}`);
    } finally {
      for (const socket of held) socket.destroy();
    }
    // The property says something: many of the registrations were taken.
    expect(taken).toBeGreaterThan(10);
  });
});

describe('the lines after one that closes the connection', () => {
  it('are not acted on, even in the same chunk', async () => {
    const watcher = await connect();
    const seen: string[][] = [];
    await watcher.watch('after-close', (nodes) => seen.push(nodes.map((n) => n.id)));
    const register = (i: number) =>
      `${JSON.stringify({
        type: 'register',
        id: i,
        cluster: 'after-close',
        node: { id: `late${i}@127.0.0.1:1`, name: `late${i}`, host: '127.0.0.1', port: 1 },
      })}\n`;
    // One write: a line that is not JSON, then requests (a chunk holds thousands, each `status`
    // of them listing every cluster).
    const { answers, socket } = await rawRequest(
      `not json\n${register(1)}${register(2)}{"type":"status","id":3}\n`,
    );
    if (!socket.closed) await once(socket, 'close');
    expect(answers).toEqual([
      { type: 'error', id: 0, message: 'closing this connection: it sent a line that is not JSON' },
    ]);
    // A round trip: what the daemon did with those lines, it has done by now.
    expect((await watcher.status()).clusters).not.toHaveProperty('after-close');
    expect(logs.filter((line) => line.includes('late'))).toEqual([]);
    expect(seen).toEqual([]);
  });
});

describe('the registrations of every connection together', () => {
  it('stop at a machine-wide cap that names itself, so that a status stays readable', async () => {
    // Every field as long as it may be, of a character JSON escapes (six bytes): ≈6 KiB a node.
    const wide = (head: string) => head + '\u0001'.repeat(256 - head.length);
    const big = (i: number): RegisteredNode => ({
      id: wide(`${i}@`),
      name: wide('n'),
      host: wide('h'),
      port: 65535,
      scope: wide('s'),
    });
    // Three connections of MAX_NODES_PER_CONNECTION each, 256 to a cluster (under its own limit):
    // ≈19 MB of JSON to list, past what a client reads of a line (16 MiB), without a cap.
    const holders = [await connect(), await connect(), await connect()];
    const refusals: string[] = [];
    const withdraws: (() => Promise<void>)[] = [];
    await Promise.all(
      holders.flatMap((holder, c) =>
        Array.from({ length: MAX_NODES_PER_CONNECTION }, (_, i) => {
          const n = c * MAX_NODES_PER_CONNECTION + i;
          return holder.register(wide(`big${Math.floor(n / 256)}.`), big(n)).then(
            (withdraw) => void withdraws.push(withdraw),
            (error: Error) => void refusals.push(error.message),
          );
        }),
      ),
    );
    // Every client reads a status (`peer-cluster ls` is one) whatever was registered.
    const reader = await connect();
    const status = await reader.status();
    const listed = Object.values(status.clusters).flat().length;
    expect(refusals.length).toBeGreaterThan(0);
    expect(listed).toBe(holders.length * MAX_NODES_PER_CONNECTION - refusals.length);
    expect(refusals[0]).toMatch(
      new RegExp(
        `the registrations of every connection take \\d+ bytes \\(${listed} nodes\\), and may take at most ${MAX_REGISTERED_BYTES} \\(8 MiB\\)`,
      ),
    );
    expect(logs.some((line) => line.includes(`at most ${MAX_REGISTERED_BYTES}`))).toBe(true);
    // Churn at the cap (one withdrawn, one more in its room) logs nothing each time.
    const churner = await connect();
    for (let i = 0; i < 3; i++) {
      await withdraws.pop()!();
      await churner.register(wide('churn.'), big(i));
    }
    const again = () => logs.filter((line) => line.includes('accepting more again')).length;
    expect(again()).toBe(0);
    // What a closed connection held is taken off: there is room again, and the log says so once.
    await Promise.all([...holders, churner].map((h) => h.close()));
    await reader.register(wide('after.'), big(0));
    expect(again()).toBe(1);

    // Usual use is far from it: ten thousand peers, in a hundred clusters, from ten processes.
    const processes = await Promise.all(Array.from({ length: 10 }, () => connect()));
    await Promise.all(
      processes.flatMap((client, c) =>
        Array.from({ length: 1000 }, (_, i) =>
          client.register(`pc-${(c * 10 + (i % 10)).toString(16).padStart(10, '0')}`, {
            id: `peer-${i + 1}@127.0.0.1:${30000 + i}`,
            name: `peer-${i + 1}`,
            host: '127.0.0.1',
            port: 30000 + i,
            scope: `${process.pid}-${c}-${i % 10}`,
          }),
        ),
      ),
    );
    expect(Object.values((await reader.status()).clusters).flat()).toHaveLength(10_001);
    await Promise.all(processes.map((p) => p.close()));
  });
});
