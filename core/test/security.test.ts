// Security: links refuse other cookies and other clusters (through startCluster, with real peer
// processes); every listener of a running cluster and of the registry binds loopback; nothing
// reachable from a network port evaluates code, even for a caller that knows the cookie; the
// cookie shows in no argv, no env and no log line.
//
// Why nothing evaluates code from the network (grep-level review, kept true by the tests below):
// `new Function` is only in peer/evaluate.ts, called only by the peer runtime's control-channel
// handler (runtime.ts `serve`), whose channel is the IPC pipe only the parent holds. A link
// serves one kind of request, a call, dispatched through `Handlers` (a Map of what the apps
// registered with `handle`), never through the control operations. The registry daemon's
// requests are schema-checked data (register, list, watch, lease, release, status).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';
import {
  type Cluster,
  type ClusterNode,
  HandshakeError,
  type Peer,
  startCluster,
  startNode,
} from '@peer-cluster/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { encodeCall } from '../dist/link/frame.js';
import { linkSocket } from '../dist/link/socket.js';
import {
  alive,
  registryStatus,
  reliabilityDir,
  stopRegistry,
  usePrivateRegistry,
} from './fixtures/reliability/support.js';

const registry = await usePrivateRegistry();
afterAll(() => stopRegistry(registry.port));
const clusters: Cluster[] = [];
const nodes: ClusterNode[] = [];
afterEach(async () => {
  await Promise.all([...clusters.splice(0).map((c) => c.stop()), ...nodes.splice(0).map((n) => n.stop())]);
});

function cluster(options: Parameters<typeof startCluster>[0]): Promise<Cluster> {
  return startCluster({
    root: reliabilityDir,
    apps: ['storm-app.mjs'],
    healer: { pollInterval: 300 },
    ...options,
  }).then((c) => {
    clusters.push(c);
    return c;
  });
}

const sorted = (ids: string[]) => [...ids].sort();
const othersOf = (c: Cluster, p: Peer) => sorted(c.peers.filter((q) => q !== p).map((q) => q.node));

/** Tries to link `from` to `address` from inside the peer; resolves to how it went. */
function tryLink(from: Peer, address: string) {
  return from.evaluate(
    (ctx, to: string) =>
      (ctx.cluster as any).connect(to).then(
        (id: string) => ({ linked: id }),
        (error: any) => ({ name: error.name, reason: error.reason }),
      ),
    address,
  );
}

describe('links through startCluster', () => {
  it('refuse another cookie and another cluster, and stay apart', async () => {
    const name = `sec-${process.pid}`;
    const a = await cluster({ count: 2, name, cookie: 'cookie-of-a-3b9f' });
    // Same name, so the registry hands each cluster the other's nodes: only the cookie keeps them apart.
    const b = await cluster({ count: 2, name, cookie: 'cookie-of-b-81c2' });
    const other = await cluster({ count: 1, name: `${name}-other`, cookie: 'cookie-of-a-3b9f' });

    expect(await tryLink(a.peers[0]!, b.peers[0]!.node)).toEqual({
      name: 'HandshakeError',
      reason: 'cookie',
    });
    expect(await tryLink(b.peers[1]!, a.peers[1]!.node)).toEqual({
      name: 'HandshakeError',
      reason: 'cookie',
    });
    expect(await tryLink(a.peers[0]!, other.peers[0]!.node)).toEqual({
      name: 'HandshakeError',
      reason: 'cluster',
    });
    // The healers kept trying meanwhile (each other's nodes are registered): still apart.
    await a.peers[0]!.control('refresh');
    await b.peers[0]!.control('refresh');
    for (const c of [a, b])
      for (const p of c.peers) expect(sorted(await p.nodes()), p.name).toEqual(othersOf(c, p));
    expect(await other.peers[0]!.nodes()).toEqual([]);
    // Refused on both sides, and said so in the logs.
    const said = (c: Cluster) => c.peers.flatMap((p) => p.logs().map((l) => l.line)).join('\n');
    expect(said(a)).toMatch(/does not know the cluster cookie/);
    expect(said(b)).toMatch(/does not know the cluster cookie/);
  });

  it('a node with the wrong cookie, dialing from the test process, is refused by a peer', async () => {
    const c = await cluster({ count: 1, cookie: 'right-cookie-55aa' });
    const intruder = await startNode({ name: 'intruder', cookie: 'wrong-cookie-55aa', cluster: c.name });
    nodes.push(intruder);
    const error: any = await intruder.connect(c.peers[0]!.node).catch((e) => e);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.reason).toBe('cookie');
    expect(await c.peers[0]!.nodes()).toEqual([]);
  });
});

describe('links go straight from one node to the other', () => {
  // Any local process may register an address for a node with the local registry (it has no
  // authentication), and a node dials what it discovers. A relay at such an address that passes a
  // handshake through unchanged would sit in the middle of a link both ends believe authenticated,
  // and could then read and inject calls without the cookie.
  const COOKIE = 'relay-test-cookie-7d1e';

  /** A TCP relay on loopback to `port`; `rewrite` may change the first message of each direction. */
  async function relay(port: number, rewrite?: Rewrite) {
    const sockets: Socket[] = [];
    const server = createServer((inbound) => {
      const outbound = tcpConnect(port, '127.0.0.1');
      sockets.push(inbound, outbound);
      for (const s of [inbound, outbound]) s.on('error', () => {});
      if (!rewrite) {
        inbound.pipe(outbound).pipe(inbound);
        return;
      }
      outbound.once('connect', () => {
        // What each end sees: the dialer's path ends at the relay, the acceptor's starts there.
        const dialerView = `${inbound.remoteAddress}:${inbound.remotePort}>${inbound.localAddress}:${inbound.localPort}`;
        const acceptorView = `${outbound.localAddress}:${outbound.localPort}>${outbound.remoteAddress}:${outbound.remotePort}`;
        firstFrame(inbound, outbound, (m) => rewrite(m, acceptorView));
        firstFrame(outbound, inbound, (m) => rewrite(m, dialerView));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    };
  }

  async function pair() {
    const a = await startNode({ name: 'a', cookie: COOKIE });
    const b = await startNode({ name: 'b', cookie: COOKIE });
    nodes.push(a, b);
    return { a, b };
  }

  it('a link through a relay is refused as relayed, and says what each end saw', async () => {
    const { a, b } = await pair();
    const r = await relay(b.port);
    try {
      const error: any = await a.connect(`b@127.0.0.1:${r.port}`).catch((e) => e);
      expect(error).toBeInstanceOf(HandshakeError);
      expect(error.reason).toBe('relayed');
      expect(error.message).toMatch(/not direct .* sees it as 127\.0\.0\.1:\d+>127\.0\.0\.1:\d+/);
      expect(a.nodes()).toEqual([]);
      expect(b.nodes()).toEqual([]);
      // The same nodes link directly.
      expect(await a.connect(b.id)).toBe(b.id);
    } finally {
      r.close();
    }
  });

  it('a relay that rewrites what each end saw fails the proofs', async () => {
    const { a, b } = await pair();
    const r = await relay(b.port, (message, view) => ({ ...message, path: view }));
    try {
      const error: any = await a.connect(`b@127.0.0.1:${r.port}`).catch((e) => e);
      expect(error).toBeInstanceOf(HandshakeError);
      expect(error.reason).toBe('cookie');
      expect(a.nodes()).toEqual([]);
      expect(b.nodes()).toEqual([]);
    } finally {
      r.close();
    }
  });
});

type Rewrite = (message: Record<string, unknown>, view: string) => Record<string, unknown>;

/**
 * Pipes `from` to `to`, passing the first WebSocket frame (a handshake message: JSON text, masked
 * with a zero key or not masked) through `rewrite`.
 */
function firstFrame(
  from: Socket,
  to: Socket,
  rewrite: (m: Record<string, unknown>) => Record<string, unknown>,
) {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length < 2) return;
    const masked = (buffered[1]! & 0x80) !== 0;
    let length = buffered[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buffered.length < 4) return;
      length = buffered.readUInt16BE(2);
      offset = 4;
    }
    if (masked) offset += 4;
    if (buffered.length < offset + length) return;
    const key = masked ? buffered.subarray(offset - 4, offset) : Buffer.alloc(4);
    const payload = Buffer.from(
      buffered.subarray(offset, offset + length).map((byte, i) => byte ^ key[i % 4]!),
    );
    const body = Buffer.from(JSON.stringify(rewrite(JSON.parse(payload.toString()))));
    const header = body.length < 126 ? Buffer.from([0x81, body.length]) : Buffer.from([0x81, 126, 0, 0]);
    if (body.length >= 126) header.writeUInt16BE(body.length, 2);
    if (masked) header[1]! |= 0x80;
    to.write(
      Buffer.concat([
        header,
        masked ? Buffer.alloc(4) : Buffer.alloc(0),
        body,
        buffered.subarray(offset + length),
      ]),
    );
    from.off('data', onData);
    from.pipe(to);
  };
  from.on('data', onData);
}

/** Listening TCP sockets of `pid`: [address, port] as /proc/net/tcp{,6} show them. */
function listeners(pid: number): { address: string; port: number }[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const found: { address: string; port: number }[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'latin1').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A' || !inodes.has(cols[9]!)) continue;
      const [hex, port] = cols[1]!.split(':') as [string, string];
      found.push({ address: decodeAddress(hex), port: Number.parseInt(port, 16) });
    }
  }
  return found;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return Buffer.from(hex, 'hex').reverse().join('.');
  // IPv6: four little-endian 32-bit words.
  const words = hex.match(/.{8}/g)!.map((w) => Buffer.from(w, 'hex').reverse().toString('hex'));
  return words
    .join('')
    .replace(/(.{4})/g, '$1:')
    .slice(0, -1);
}

const LOOPBACK = new Set(['127.0.0.1', '0000:0000:0000:0000:0000:0000:0000:0001']);

describe('listeners', () => {
  it('every listener of the peers and of the registry binds loopback', async () => {
    const c = await cluster({ count: 3 });
    const pids = c.peers.map((p) => p.pid!);
    const daemon = (await registryStatus(registry.port)).pid;
    for (const pid of [...pids, daemon]) {
      const bound = listeners(pid);
      expect(bound.length, `pid ${pid} listens on nothing`).toBeGreaterThan(0);
      for (const l of bound)
        expect(LOOPBACK.has(l.address), `pid ${pid} listens on ${l.address}:${l.port}`).toBe(true);
    }
    for (const p of c.peers) expect(listeners(p.pid!).map((l) => l.port)).toContain(p.linkPort);
    expect(listeners(daemon).map((l) => l.port)).toContain(registry.port);
  });
});

describe('no code evaluation from the network', () => {
  const source = '() => process.exit(99)';
  const controlOps = ['evaluate', 'call', 'stop', 'set-blocked', 'nodes', 'refresh', 'connect', 'disconnect'];
  const objectKeys = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

  it('a caller that knows the cookie reaches only the handlers the apps registered', async () => {
    const cookie = 'shared-cookie-of-a-test-4c4c';
    const c = await cluster({ count: 1, cookie });
    const peer = c.peers[0]!;
    const caller = await startNode({ name: 'caller', cookie, cluster: c.name });
    nodes.push(caller);
    await caller.connect(peer.node);
    for (const method of [...controlOps, ...objectKeys]) {
      const error: any = await caller.call(peer.node, method, source, [source]).catch((e) => e);
      expect(error.name, method).toBe('RemoteError');
      expect(error.remoteName, method).toBe('UnknownMethodError');
    }
    // A message with those names is only a `message` event for the apps, which ignore it.
    for (const topic of controlOps) caller.send(peer.node, topic, source);
    expect(await caller.call(peer.node, 'echo', 'still here')).toBe('still here');
    expect(peer.state).toBe('running');
    expect(alive(peer.pid!)).toBe(true);
  });

  it('an unauthenticated evaluate frame is refused before the handshake', async () => {
    const c = await cluster({ count: 1 });
    const peer = c.peers[0]!;
    // Link framing from the first byte, as a node dials (link protocol 3 and later), with no hello first.
    const code = await new Promise<number>((resolve) => {
      const socket = tcpConnect(peer.linkPort!, '127.0.0.1', () => {
        const ws = linkSocket(socket, { dialer: true, maxPayload: 1 << 20 });
        ws.on('close', (closeCode) => resolve(closeCode));
        ws.send(encodeCall(1, 'evaluate', [source]));
      });
    });
    expect(code).toBe(4001);
    // A WebSocket client (an HTTP upgrade) gets no further than a 426.
    const upgrade = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${peer.linkPort}/`, { perMessageDeflate: false });
      ws.on('error', () => {});
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('open', () => resolve(undefined));
    });
    expect(upgrade).toBe(426);
    expect(await peer.call('echo', 1)).toBe(1);
  });

  it('the registry daemon treats an evaluate request as invalid input and closes that connection only', async () => {
    const before = (await registryStatus(registry.port)).pid;
    const closed = await new Promise<string>((resolve) => {
      const socket = tcpConnect(registry.port, '127.0.0.1', () =>
        socket.write(`${JSON.stringify({ type: 'evaluate', id: 1, source })}\n`),
      );
      let got = '';
      socket.on('data', (d) => (got += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
    });
    expect(closed).toMatch(/"type":"hello"/);
    expect(closed).not.toMatch(/"id":1/);
    expect((await registryStatus(registry.port)).pid).toBe(before);
  });
});

describe('the cookie stays secret', () => {
  it('appears in no argv, env, log line, timeline, registry entry or test output', async () => {
    const cookie = 'the-cookie-9e7d3f0a51b2';
    const output: string[] = [];
    const writes = { out: process.stdout.write, err: process.stderr.write };
    const capture =
      (original: typeof process.stdout.write) =>
      (chunk: any, ...rest: any[]): boolean => {
        output.push(String(chunk));
        return (original as any).apply(process.stdout, [chunk, ...rest]);
      };
    process.stdout.write = capture(writes.out) as never;
    process.stderr.write = capture(writes.err) as never;
    let c: Cluster;
    try {
      // `inherit` echoes every peer line into this process's output, which is captured.
      c = await cluster({ count: 3, cookie, logs: 'inherit', heartbeat: { interval: 100, timeout: 600 } });
      // Things that log: a refused dial with another cookie, a kill, a restart, a pause.
      const intruder = await startNode({ name: 'intruder', cookie: 'not-the-cookie', cluster: c.name });
      nodes.push(intruder);
      await intruder.connect(c.peers[0]!.node).catch(() => {});
      await c.peers[1]!.kill();
      await c.peers[1]!.restart();
      await c.peers[2]!.pause();
      await c.peers[0]!.waitForNodes((ids) => !ids.includes(c.peers[2]!.node), { timeout: 10_000 });
      await c.peers[2]!.resume();
      await c.waitForMesh();

      const daemon = (await registryStatus(registry.port)).pid;
      for (const pid of [...c.peers.map((p) => p.pid!), daemon]) {
        expect(readFileSync(`/proc/${pid}/cmdline`, 'latin1'), `argv of ${pid}`).not.toContain(cookie);
        expect(readFileSync(`/proc/${pid}/environ`, 'latin1'), `env of ${pid}`).not.toContain(cookie);
      }
      const lines = c.peers.flatMap((p) => p.logs().map((l) => l.line));
      expect(lines.join('\n')).toMatch(/does not know the cluster cookie/);
      for (const line of lines) expect(line).not.toContain(cookie);
      expect(JSON.stringify(c.timeline)).not.toContain(cookie);
      expect(JSON.stringify(await registryStatus(registry.port))).not.toContain(cookie);
      for (const p of c.peers)
        expect(JSON.stringify(await p.evaluate((ctx) => ctx.env))).not.toContain(cookie);
    } finally {
      process.stdout.write = writes.out;
      process.stderr.write = writes.err;
    }
    expect(output.join('')).toMatch(/\[peer-1\]/);
    expect(output.join('')).not.toContain(cookie);
  }, 60_000);
});
