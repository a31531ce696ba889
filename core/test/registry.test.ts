import { once } from 'node:events';
import net from 'node:net';
import {
  InvalidOptionsError,
  RegistryUnavailableError,
  RegistryVersionError,
  startNode,
} from '@peer-cluster/core';
import {
  leasePorts,
  localRegistryStrategy,
  REGISTRY_PROTOCOL_VERSION,
  type RegisteredNode,
  RegistryClient,
  runRegistry,
} from '@peer-cluster/core/registry';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useTestRegistry } from '../../test-support/registry-daemon.js';
import {
  LEASE_RANGE,
  MAX_CLUSTER_CHARS,
  MAX_LEASES_PER_CONNECTION,
  MAX_NODES_PER_CONNECTION,
} from '../dist/registry/daemon.js';
import { leasePortGroups } from '../dist/registry/ports.js';

const registry = useTestRegistry();
const { lines } = registry;
const connect = () => registry.connect();

function node(name: string, port: number): RegisteredNode {
  return { id: `${name}@127.0.0.1:${port}`, name, host: '127.0.0.1', port };
}

/** A raw socket to the daemon, with its hello already read. */
async function raw(): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: registry.handle.port });
  await once(socket, 'data');
  return socket;
}

describe('registry daemon', () => {
  it('keeps clusters apart and pushes every change to watchers', async () => {
    const a = await connect();
    const b = await connect();
    const seen: string[][] = [];
    await a.watch('red', (nodes) => seen.push(nodes.map((n) => n.name).sort()));
    await a.register('red', node('r1', 1001));
    const unregister = await b.register('red', node('r2', 1002));
    await b.register('blue', node('b1', 1003));

    expect((await a.list('red')).map((n) => n.id).sort()).toEqual(['r1@127.0.0.1:1001', 'r2@127.0.0.1:1002']);
    expect((await a.list('blue')).map((n) => n.id)).toEqual(['b1@127.0.0.1:1003']);
    expect(await a.list('green')).toEqual([]);

    await unregister();
    expect((await b.list('red')).map((n) => n.name)).toEqual(['r1']);
    // The `blue` registration never reached a `red` watcher.
    expect(seen).toEqual([['r1'], ['r1', 'r2'], ['r1']]);
  });

  it('pushes the registrations it reads in one go as one change', async () => {
    const watcher = await connect();
    const seen: string[][] = [];
    await watcher.watch('batch', (nodes) => seen.push(nodes.map((n) => n.name).sort()));
    // Five peers registering at once: their requests reach the daemon in one read.
    const socket = await raw();
    const names = ['b1', 'b2', 'b3', 'b4', 'b5'];
    const replies: string[] = [];
    socket.on('data', (d) => replies.push(...String(d).split('\n').filter(Boolean)));
    socket.write(
      names
        .map(
          (name, i) =>
            `${JSON.stringify({ type: 'register', id: i + 1, cluster: 'batch', node: node(name, 2000 + i) })}\n`,
        )
        .join(''),
    );
    await expect.poll(() => replies.length).toBe(5);
    await expect.poll(() => seen.at(-1)).toEqual(names);
    expect(seen).toEqual([names]);
    socket.destroy();
  });

  it('answers list() from the pushes while watching, the same as the daemon does', async () => {
    const watcher = await connect();
    const other = await connect();
    const pushes: string[][] = [];
    const pushed = () => new Promise<void>((resolve) => waiting.push(resolve));
    const waiting: (() => void)[] = [];
    const unwatch = await watcher.watch('cached', (nodes) => {
      pushes.push(nodes.map((n) => n.name));
      waiting.shift()?.();
    });
    const ids = async (c: RegistryClient) => (await c.list('cached')).map((n) => n.name).sort();
    expect(await ids(watcher)).toEqual([]);
    for (const [name, port] of [
      ['c1', 2001],
      ['c2', 2002],
    ] as const) {
      const next = pushed();
      await other.register('cached', node(name, port));
      await next;
      expect(await ids(watcher)).toEqual(await ids(other));
    }
    const gone = pushed();
    await other.close();
    await gone;
    expect(await ids(watcher)).toEqual([]);
    expect(pushes).toEqual([['c1'], ['c1', 'c2'], []]);
    // No longer watched: asked from the daemon again.
    await unwatch();
    const again = await connect();
    await again.register('cached', node('c3', 2003));
    expect(await ids(watcher)).toEqual(['c3']);
  });

  it('withdraws a connection’s nodes the moment it closes', async () => {
    const watcher = await connect();
    const holder = await connect();
    await holder.register('gone', node('g1', 2001));
    let onChange!: (nodes: RegisteredNode[]) => void;
    const changed = new Promise<RegisteredNode[]>((resolve) => {
      onChange = resolve;
    });
    await watcher.watch('gone', onChange);
    await holder.close();
    expect(await changed).toEqual([]);
    expect(await watcher.list('gone')).toEqual([]);
  });

  it('never leases the same port twice and frees a closed connection’s leases', async () => {
    const a = await connect();
    const b = await connect();
    const [x, y] = await Promise.all([a.lease(20), b.lease(20)]);
    const all = [...x, ...y];
    expect(new Set(all).size).toBe(40);
    for (const port of all) {
      expect(port).toBeGreaterThanOrEqual(20000);
      expect(port).toBeLessThan(32768);
    }
    expect((await a.status()).leases).toEqual(expect.arrayContaining(all));
    await b.close();
    const leases = (await a.status()).leases;
    expect(leases).toEqual(expect.arrayContaining(x));
    for (const port of y) expect(leases).not.toContain(port);
    await a.release(x);
    for (const port of x) expect((await a.status()).leases).not.toContain(port);
  });

  it('leases one connection at most MAX_LEASES_PER_CONNECTION ports, leases or claims, in the range', async () => {
    const greedy = await connect();
    const requests = MAX_LEASES_PER_CONNECTION / 64;
    for (let i = 0; i < requests; i++) await greedy.lease(64);
    await expect(greedy.lease(1)).rejects.toThrow(
      `lease failed: this connection holds ${MAX_LEASES_PER_CONNECTION} leases, and may hold at most ${MAX_LEASES_PER_CONNECTION}`,
    );
    const held = (await greedy.status()).leases;
    // Claims count too, and only ports of the lease range are ever claimed.
    const other = await connect();
    expect(await other.claim([80, 65000, LEASE_RANGE[0] - 1])).toEqual([]);
    await greedy.close();
    // Another connection is not held back by what this one took, and gets its ports back once it is gone.
    const [port] = await other.lease(1);
    expect(port).toBeGreaterThanOrEqual(LEASE_RANGE[0]);
    for (const p of held.slice(0, 10)) expect((await other.status()).leases).not.toContain(p);
  }, 60_000);

  it('a process asking for more app ports than it may hold is told what it asked for, before any lease', async () => {
    // What a usePeers(30, { ports: [70 names] }) meets: 30 groups of 71 ports.
    const first = await leasePortGroups([1000, 1000], { registry: registry.handle.address });
    const before = (await (await connect()).status()).leases.length;
    const asked = leasePortGroups(
      Array.from({ length: 30 }, () => 71),
      { registry: registry.handle.address },
    );
    await expect(asked).rejects.toThrow(
      `Cannot lease 2130 app ports (30 peers × 71: PORT and 70 in \`ports\`): this process holds 2000 already, and the registry leases at most ${MAX_LEASES_PER_CONNECTION} to one process.`,
    );
    expect((await (await connect()).status()).leases).toHaveLength(before);
    await Promise.all(first.map((lease) => lease.release()));
  }, 60_000);

  it('logs what clients send escaped: no forged line, no terminal escape', async () => {
    const client = await connect();
    await client.register('forged\nregister evil in cluster x\u001b[31m', node('n', 3999));
    const line = lines.find((l) => l.includes('register n@127.0.0.1:3999'))!;
    expect(line).toContain('forged\\u000aregister evil in cluster x\\u001b[31m');
    expect(line).not.toMatch(/\p{Cc}/u);
  });

  it('skips excluded ports and ports that are not bindable', async () => {
    const a = await connect();
    const [first] = await a.lease(1);
    await a.release([first!]);
    const busy = net.createServer().listen(first! + 1, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const ports = await a.lease(3, [first!]);
      expect(ports).not.toContain(first);
      expect(ports).not.toContain(first! + 1);
    } finally {
      busy.close();
    }
  });

  it('closes only the connection that sends malformed input', async () => {
    const good = await connect();
    for (const garbage of [
      'not json\n',
      '{"type":"register","id":1}\n',
      '{"type":"lease","id":1,"count":1000000}\n',
      '[1,2,3]\n',
      `${'x'.repeat(100_000)}`,
    ]) {
      const socket = await raw();
      socket.on('error', () => {});
      let answer = '';
      socket.on('data', (d) => (answer += d));
      socket.write(garbage);
      await once(socket, 'close');
      // It is told why, on a line that answers no request.
      expect(JSON.parse(answer)).toMatchObject({
        type: 'error',
        id: 0,
        message: expect.stringMatching(/^closing this connection: it /),
      });
    }
    expect(lines.some((l) => l.includes('over the size limit'))).toBe(true);
    expect(lines.some((l) => l.includes('not JSON'))).toBe(true);
    await good.register('after', node('ok', 3001));
    expect((await good.list('after')).map((n) => n.name)).toEqual(['ok']);
  });

  it('survives arbitrary bytes and arbitrary JSON from a client', async () => {
    const good = await connect();
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
      fc.jsonValue().map((v) => Buffer.from(`${JSON.stringify(v)}\n`)),
      fc
        .record({ type: fc.constantFrom('register', 'lease', 'release', 'watch', 'list'), id: fc.anything() })
        .map((v) => Buffer.from(`${JSON.stringify(v) ?? 'null'}\n`)),
    );
    await fc.assert(
      fc.asyncProperty(hostile, async (bytes) => {
        const socket = await raw();
        socket.on('error', () => {});
        socket.write(bytes);
        socket.end();
        await once(socket, 'close');
      }),
      { numRuns: 60 },
    );
    expect((await good.status()).pid).toBe(process.pid);
  });

  it('answers requests split across packets and batched in one', async () => {
    const socket = await raw();
    const replies: string[] = [];
    socket.on('data', (d) => replies.push(...String(d).split('\n').filter(Boolean)));
    socket.write('{"type":"list","id":7,');
    await new Promise((r) => setTimeout(r, 20));
    socket.write('"cluster":"none"}\n{"type":"list","id":8,"cluster":"none"}\n');
    await expect.poll(() => replies.length).toBe(2);
    expect(replies.map((r) => JSON.parse(r).id)).toEqual([7, 8]);
    socket.destroy();
  });
});

describe('what a hostile or buggy client cannot do to the others', () => {
  /** Replies read on a raw socket, one parsed line each. */
  function replies(socket: net.Socket): { id?: number; type: string; message?: string }[] {
    const read: { id?: number; type: string; message?: string }[] = [];
    let rest = '';
    socket.on('data', (d) => {
      const parts = (rest + String(d)).split('\n');
      rest = parts.pop()!;
      for (const line of parts) if (line) read.push(JSON.parse(line));
    });
    return read;
  }

  it('a connection that registers a node’s id and leaves (or unregisters it) takes the node with it no more', async () => {
    const owner = await connect();
    const watcher = await connect();
    const asker = await connect();
    const victim = node('victim', 4001);
    await owner.register('hijacked', victim);
    const pushes: RegisteredNode[][] = [];
    await watcher.watch('hijacked', (nodes) => pushes.push(nodes));
    const listed = async () => (await asker.list('hijacked')).map((n) => `${n.id} ${n.host}:${n.port}`);

    for (const leave of ['close', 'unregister'] as const) {
      const hijacker = await connect();
      const unregister = await hijacker.register('hijacked', { ...victim, host: '127.0.0.9', port: 1 });
      // The latest registration is the one listed while it stands...
      expect(await listed()).toEqual([`${victim.id} 127.0.0.9:1`]);
      if (leave === 'close') await hijacker.close();
      else await unregister();
      // ...and the owner's, never withdrawn, is listed again once it is gone.
      expect(await listed()).toEqual([`${victim.id} 127.0.0.1:4001`]);
      await expect.poll(() => pushes.at(-1)?.map((n) => n.host)).toEqual(['127.0.0.1']);
    }
    expect(pushes.every((nodes) => nodes.length === 1)).toBe(true);
    // The log names both connections.
    const ownerLabel = lines.find((l) => l.startsWith(`register ${victim.id}`))!.match(/\((#\d+)\)$/)![1];
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^gone ${victim.id} from cluster hijacked \\(#\\d+ closed\\); ${ownerLabel}'s registration of it is listed again$`,
        ),
      ),
    );

    // An unregister from a connection that never registered the id changes nothing.
    const stranger = await raw();
    const read = replies(stranger);
    stranger.write(
      `${JSON.stringify({ type: 'unregister', id: 1, cluster: 'hijacked', node: victim.id })}\n`,
    );
    await expect.poll(() => read).toEqual([{ type: 'ok', id: 1 }]);
    expect(await listed()).toEqual([`${victim.id} 127.0.0.1:4001`]);
    stranger.destroy();
  });

  it('a restarted node registering its id before its old connection is seen closing stays listed throughout', async () => {
    const watcher = await connect();
    const asker = await connect();
    const pushes: RegisteredNode[][] = [];
    await watcher.watch('restarted', (nodes) => pushes.push(nodes));
    const before = await connect();
    await before.register('restarted', { ...node('again', 4002), pid: 1 });
    const after = await connect();
    await after.register('restarted', { ...node('again', 4002), pid: 2 });
    await before.close();
    expect((await asker.list('restarted')).map((n) => n.pid)).toEqual([2]);
    await after.close();
    await expect.poll(() => pushes.at(-1)).toEqual([]);
    // Listed all along, as the old process's, then the new one's, until the new one went.
    expect(pushes.map((nodes) => nodes.map((n) => n.pid))).toEqual([[1], [2], []]);
  });

  it('registers at most MAX_NODES_PER_CONNECTION node ids and watches as many clusters per connection', async () => {
    const greedy = await connect();
    const ids = Array.from({ length: MAX_NODES_PER_CONNECTION }, (_, i) => node(`m${i}`, 5000 + i));
    await Promise.all(ids.map((n) => greedy.register('many', n)));
    await expect(greedy.register('many', node('one-more', 4999))).rejects.toThrow(
      `this connection has ${MAX_NODES_PER_CONNECTION} nodes registered, and may have at most ${MAX_NODES_PER_CONNECTION}; unregister some first`,
    );
    // A node registered again is not one more.
    await greedy.register('many', ids[0]!);
    const clusters = Array.from({ length: MAX_NODES_PER_CONNECTION }, (_, i) => `w${i}`);
    await Promise.all(clusters.map((c) => greedy.watch(c, () => {})));
    await expect(greedy.watch('one-more', () => {})).rejects.toThrow(
      `this connection watches ${MAX_NODES_PER_CONNECTION} clusters, and may watch at most ${MAX_NODES_PER_CONNECTION}; unwatch some first`,
    );
    // Refused requests, not a closed connection: what it holds stays.
    expect(await (await connect()).list('many')).toHaveLength(MAX_NODES_PER_CONNECTION);
    await greedy.close();
    expect(await (await connect()).list('many')).toEqual([]);
  });

  it('queues no lease requests a connection could not be granted: they are refused at once', async () => {
    const socket = await raw();
    const read = replies(socket);
    // Claims take no probe: a connection one port short of the most it may hold.
    const free = (await (await connect()).status()).leases;
    const ports: number[] = [];
    for (let p = LEASE_RANGE[1]; ports.length < MAX_LEASES_PER_CONNECTION - 1; p--)
      if (!free.includes(p)) ports.push(p);
    socket.write(`${JSON.stringify({ type: 'claim', id: 1, ports })}\n`);
    await expect.poll(() => read.length).toBe(1);
    expect(read[0]).toMatchObject({ type: 'ports', id: 1 });
    socket.write(
      `${JSON.stringify({ type: 'lease', id: 2, count: 1 })}\n${JSON.stringify({ type: 'lease', id: 3, count: 1 })}\n`,
    );
    await expect.poll(() => read.length).toBe(3);
    // The second one is answered first: it never waited behind the first one's probe.
    expect(read.slice(1)).toEqual([
      {
        type: 'error',
        id: 3,
        message: `lease failed: this connection holds ${MAX_LEASES_PER_CONNECTION - 1} leases, and may hold at most ${MAX_LEASES_PER_CONNECTION}; release some first`,
      },
      { type: 'ports', id: 2, ports: [expect.any(Number)] },
    ]);
    socket.destroy();
  });

  it('closes a connection that leaves a line unfinished, and never one that is idle between lines', async () => {
    const log: string[] = [];
    const timeout = 1000;
    const own = await runRegistry({
      port: 0,
      idleTimeout: 0,
      partialLineTimeout: timeout,
      log: (l) => log.push(l),
    });
    try {
      const open = async () => {
        const socket = net.connect({ host: '127.0.0.1', port: own.port });
        socket.on('error', () => {});
        await once(socket, 'data');
        return socket;
      };
      const watcher = await RegistryClient.connect({ port: own.port, autoStart: false });
      const pushes: string[][] = [];
      await watcher.watch('patient', (nodes) => pushes.push(nodes.map((n) => n.name)));
      const stalled = await open();
      const trickling = await open();
      const told = replies(stalled);
      const start = performance.now();
      stalled.write('{"type":"list","id":1,');
      // A byte every tenth of the timeout: still the one line, begun too long ago.
      const line = `${JSON.stringify({ type: 'list', id: 1, cluster: 'patient'.repeat(10) })}\n`;
      let sent = 0;
      const trickle = setInterval(() => trickling.write(line[sent++]!), timeout / 10);
      try {
        await Promise.all([once(stalled, 'close'), once(trickling, 'close')]);
      } finally {
        clearInterval(trickle);
      }
      expect(performance.now() - start).toBeGreaterThan(timeout - 100);
      expect(told).toEqual([
        { type: 'error', id: 0, message: 'closing this connection: it left a line unfinished for 1 s' },
      ]);
      expect(log.filter((l) => l.endsWith('left a line unfinished for 1 s: closing it'))).toHaveLength(2);
      // The watcher, silent all along, is served on.
      expect(watcher.closed).toBe(false);
      const other = await RegistryClient.connect({ port: own.port, autoStart: false });
      await other.register('patient', node('p', 4100));
      await expect.poll(() => pushes.at(-1)).toEqual(['p']);
      await Promise.all([watcher.close(), other.close()]);
    } finally {
      await own.close();
    }
    await expect(runRegistry({ port: 0, partialLineTimeout: 0 })).rejects.toThrow(InvalidOptionsError);
  });

  it('a watcher slow to read is pushed the latest list once it drains, not cut off for the lists it missed', async () => {
    // What a peer whose event loop is busy meets while another client registers nodes one by one
    // in its cluster: every push lists the whole cluster, so the lists it missed add up fast.
    const watcher = await raw();
    const read = replies(watcher) as unknown as {
      type: string;
      cluster?: string;
      nodes?: RegisteredNode[];
    }[];
    watcher.write(`${JSON.stringify({ type: 'watch', id: 1, cluster: 'flooded' })}\n`);
    await expect.poll(() => read.length).toBe(1);
    watcher.pause();
    const flooder = await connect();
    const long = 'x'.repeat(230);
    const count = 300;
    // Each awaited register is a turn of its own, so a push of its own: ≈45 MB in all.
    for (let i = 0; i < count; i++)
      await flooder.register('flooded', {
        ...node(`${long}${i}`, 4200),
        id: `${long}${i}@127.0.0.1:${i + 1}`,
      });
    watcher.resume();
    await expect.poll(() => read.at(-1)?.nodes?.length, { timeout: 10_000 }).toBe(count);
    expect(watcher.destroyed).toBe(false);
    expect(lines.some((l) => l.includes('stopped reading'))).toBe(false);
    // It was pushed far fewer lists than there were changes.
    expect(read.length).toBeLessThan(count / 2);
    watcher.destroy();
    await flooder.close();
  });

  it('lists no more than MAX_CLUSTER_CHARS of nodes in one cluster', async () => {
    // Every field as long as it may be: what a client would register to make each push huge.
    const big = (i: number): RegisteredNode => ({
      id: `${'i'.repeat(240)}${i}@127.0.0.1:1`,
      name: 'n'.repeat(256),
      host: 'h'.repeat(256),
      port: 1,
      scope: 's'.repeat(256),
    });
    const size = JSON.stringify({ pid: process.pid, ...big(1000) }).length + 1;
    const fits = Math.floor(MAX_CLUSTER_CHARS / size);
    const holders = [await connect(), await connect(), await connect()];
    await Promise.all(
      Array.from({ length: fits }, (_, i) =>
        holders[Math.floor(i / MAX_NODES_PER_CONNECTION)]!.register('crowded', big(1000 + i)),
      ),
    );
    const last = holders.at(-1)!;
    await expect(last.register('crowded', big(9999))).rejects.toThrow(
      `cluster crowded lists ${fits} nodes, and may take at most ${MAX_CLUSTER_CHARS} characters to list`,
    );
    // A node listed already may be registered again.
    await last.register('crowded', big(1000));
    expect(await last.list('crowded')).toHaveLength(fits);
    await Promise.all(holders.map((h) => h.close()));
  });

  it('serves at most maxConnections at once, telling the next ones why on a line they can read', async () => {
    const log: string[] = [];
    const small = await runRegistry({ port: 0, idleTimeout: 0, maxConnections: 2, log: (l) => log.push(l) });
    const open = (): Promise<RegistryClient> =>
      RegistryClient.connect({ port: small.port, autoStart: false });
    try {
      const a = await open();
      const b = await open();
      for (let i = 0; i < 2; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: small.port });
        socket.on('error', () => {});
        const read = replies(socket);
        await once(socket, 'close');
        expect(read).toEqual([
          { type: 'hello', version: REGISTRY_PROTOCOL_VERSION, pid: process.pid },
          {
            type: 'error',
            id: 0,
            message:
              'closing this connection: it is one too many: this registry serves at most 2 connections at once',
          },
        ]);
      }
      // One line for the crowd, not one per connection refused.
      expect(log.filter((l) => l.includes('refusing'))).toEqual([
        '2 connections open, the most this registry serves: refusing more',
      ]);
      expect((await a.status()).connections).toBe(2);
      // A client turned away says why, not that the registry may not be running.
      const refused = await open();
      const why = await refused.list('x').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(why).toBeInstanceOf(RegistryUnavailableError);
      expect((why as Error).message).toMatch(
        /closed the connection: it is one too many: this registry serves at most 2 connections at once\. Its log/,
      );
      await b.close();
      await expect.poll(() => log).toContain('accepting connections again (refused 3)');
      const c = await open();
      expect((await c.status()).connections).toBe(2);
    } finally {
      await small.close();
    }
    await expect(runRegistry({ port: 0, maxConnections: 0 })).rejects.toThrow(InvalidOptionsError);
    // A timer over 2^31-1 ms fires at once: such an idle timeout would exit as soon as it started.
    await expect(runRegistry({ port: 0, idleTimeout: 2 ** 31 })).rejects.toThrow(
      /`idleTimeout`: expected a number of ms from 0 \(never exit\) to 2147483647/,
    );
  });
});

describe('registry client', () => {
  it('refuses a daemon speaking another protocol version', async () => {
    const old = net.createServer((socket) => socket.write('{"type":"hello","version":0,"pid":4242}\n'));
    old.listen(0, '127.0.0.1');
    await once(old, 'listening');
    const port = (old.address() as net.AddressInfo).port;
    try {
      const error = await RegistryClient.connect({ port, autoStart: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryVersionError);
      expect((error as Error).name).toBe('RegistryVersionError');
      expect((error as Error).message).toContain(
        `speaks protocol 0, this client needs ${REGISTRY_PROTOCOL_VERSION}`,
      );
      expect((error as Error).message).toContain('peer-cluster reap');
      expect((error as Error).message).toContain('pid 4242');
    } finally {
      old.close();
    }
  });

  it('drops a daemon that answers with malformed lines, failing what waited on it', async () => {
    const bad = [
      '{"type":"nodes","id":1,"nodes":[{"id":"a@127.0.0.1:1","name":"a","host":"127.0.0.1","port":0}]}',
      '{"type":"ports","id":1,"ports":[1.5]}',
      '{"type":"change","cluster":"c","nodes":"all of them"}',
      '{"type":"ok"}',
      '{"type":"status","id":1,"pid":1,"clusters":{"c":[{}]},"leases":[],"connections":1}',
      '[1,2,3]',
      'not json',
    ];
    for (const line of bad) {
      const fake = net.createServer((socket) => {
        socket.write(`{"type":"hello","version":${REGISTRY_PROTOCOL_VERSION},"pid":4242}\n`);
        socket.once('data', () => socket.write(`${line}\n`));
      });
      fake.listen(0, '127.0.0.1');
      await once(fake, 'listening');
      try {
        const client = await RegistryClient.connect({
          port: (fake.address() as net.AddressInfo).port,
          autoStart: false,
        });
        const closed = once(client, 'close');
        await expect(client.list('c'), line).rejects.toThrow(/closed the connection/);
        await closed;
        expect(client.closed).toBe(true);
      } finally {
        fake.close();
      }
    }
  });

  it('refuses something that is not a registry', async () => {
    const http = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as net.AddressInfo).port;
    try {
      await expect(RegistryClient.connect({ port, autoStart: false })).rejects.toThrow(
        /not a peer-cluster registry/,
      );
    } finally {
      http.close();
    }
  });

  it('rejects an invalid PEER_CLUSTER_REGISTRY with InvalidOptionsError', async () => {
    const saved = process.env.PEER_CLUSTER_REGISTRY;
    process.env.PEER_CLUSTER_REGISTRY = 'localhost';
    try {
      await expect(RegistryClient.connect({ autoStart: false })).rejects.toThrow(InvalidOptionsError);
      await expect(leasePorts(1)).rejects.toThrow(/PEER_CLUSTER_REGISTRY/);
    } finally {
      if (saved === undefined) delete process.env.PEER_CLUSTER_REGISTRY;
      else process.env.PEER_CLUSTER_REGISTRY = saved;
    }
  });

  /**
   * A fake daemon whose first connection is cut when its first request arrives (the daemon died);
   * the next connections get `answer(request)` for each request.
   */
  async function registryThatDiesOnce(answer: (request: { type: string; id: number }) => object | undefined) {
    const sockets: net.Socket[] = [];
    const requests: string[] = [];
    const fake = net.createServer((socket) => {
      const first = sockets.push(socket) === 1;
      socket.write(`{"type":"hello","version":${REGISTRY_PROTOCOL_VERSION},"pid":4242}\n`);
      socket.on('data', (data) => {
        if (first) return void socket.destroy();
        for (const line of String(data).split('\n').filter(Boolean)) {
          const request = JSON.parse(line) as { type: string; id: number };
          requests.push(request.type);
          const reply = answer(request);
          if (reply) socket.write(`${JSON.stringify({ ...reply, id: request.id })}\n`);
        }
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    return {
      port: (fake.address() as net.AddressInfo).port,
      sockets,
      requests,
      close() {
        fake.close();
        for (const socket of sockets) socket.destroy();
      },
    };
  }

  it('a lease whose daemon goes away before it answers is asked again of the next one', async () => {
    const fake = await registryThatDiesOnce((request) =>
      request.type === 'lease' ? { type: 'ports', ports: [40001] } : undefined,
    );
    try {
      const lease = await leasePorts(1, { registry: `127.0.0.1:${fake.port}` });
      expect(lease.ports).toEqual([40001]);
      expect(fake.sockets).toHaveLength(2);
    } finally {
      fake.close();
    }
  });

  it('leases claimed from a daemon that dies in turn before it answers are claimed from the next one, with no unhandled rejection', async () => {
    // What a test process holding leases meets when the daemon is killed twice in a row (or the
    // one started to replace it is replaced too): the claim in flight fails with the connection.
    const claims: net.Socket[] = [];
    let claimed = () => {};
    const thirdClaim = new Promise<void>((resolve) => {
      claimed = resolve;
    });
    const sockets: net.Socket[] = [];
    const fake = net.createServer((socket) => {
      const n = sockets.push(socket);
      socket.write(`{"type":"hello","version":${REGISTRY_PROTOCOL_VERSION},"pid":4242}\n`);
      socket.on('data', (data) => {
        for (const line of String(data).split('\n').filter(Boolean)) {
          const request = JSON.parse(line) as { type: string; id: number; ports?: number[] };
          if (request.type === 'lease') socket.write(`{"type":"ports","ports":[40003],"id":${request.id}}\n`);
          else if (request.type === 'claim') {
            claims.push(socket);
            // The second daemon dies with the claim unanswered; the third one answers it.
            if (n === 2) socket.destroy();
            else {
              socket.write(`{"type":"ports","ports":${JSON.stringify(request.ports)},"id":${request.id}}\n`);
              claimed();
            }
          } else if (request.type === 'release') socket.write(`{"type":"ok","id":${request.id}}\n`);
        }
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const lease = await leasePorts(1, {
        registry: `127.0.0.1:${(fake.address() as net.AddressInfo).port}`,
      });
      expect(lease.ports).toEqual([40003]);
      sockets[0]!.destroy();
      await thirdClaim;
      // An unhandled rejection is reported once the microtasks of its turn have run.
      await new Promise((resolve) => setImmediate(resolve));
      expect(claims).toHaveLength(2);
      expect(unhandled).toEqual([]);
      await lease.release();
    } finally {
      process.off('unhandledRejection', onUnhandled);
      fake.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  it('a node whose registry connection is cut while it registers (the daemon died) registers with the next one', async () => {
    // What a peer booting while the daemon is killed (or replaced) meets: the first connection is
    // cut when the register and watch requests arrive; the next one answers them.
    const fake = await registryThatDiesOnce((request) =>
      request.type === 'register' ? { type: 'ok' } : { type: 'nodes', nodes: [] },
    );
    try {
      const node = await startNode({
        name: 'reg',
        cookie: 'c',
        strategy: localRegistryStrategy({ port: fake.port }),
      });
      await node.stop();
      expect(fake.sockets.length).toBeGreaterThanOrEqual(2);
      expect(fake.requests).toEqual(expect.arrayContaining(['register', 'watch']));
    } finally {
      fake.close();
    }
  });

  it('leases through leasePorts with an explicit registry', async () => {
    const lease = await leasePorts(3, { registry: registry.handle.address });
    expect(new Set(lease.ports).size).toBe(3);
    const status = await (await connect()).status();
    expect(status.leases).toEqual(expect.arrayContaining(lease.ports));
    await lease.release();
    const after = await (await connect()).status();
    for (const port of lease.ports) expect(after.leases).not.toContain(port);
  });

  it('validates the local-registry strategy options', () => {
    expect(() => localRegistryStrategy({ port: 70000 })).toThrow(InvalidOptionsError);
    expect(() => localRegistryStrategy({ hots: 'x' } as never)).toThrow(/hots/);
    expect(() => localRegistryStrategy({ host: '' })).toThrow(/`localRegistry.host`.*non-empty host/s);
    expect(() => localRegistryStrategy({ port: 1.5 })).toThrow(/`localRegistry.port`.*whole number/s);
    expect(() => localRegistryStrategy('127.0.0.1' as never)).toThrow(/`localRegistry.options`/);
    expect(localRegistryStrategy({ host: '127.0.0.1' }).spec?.options).toMatchObject({ host: '127.0.0.1' });
    const strategy = localRegistryStrategy({ port: registry.handle.port });
    expect(strategy.spec).toMatchObject({
      export: 'localRegistryStrategy',
      options: { port: registry.handle.port },
    });
    expect(strategy.spec?.module).toMatch(/^file:.*registry\/strategy\.js$/);
  });
});
