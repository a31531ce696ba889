// Hostile input on the link port closes that one connection; the node keeps running and keeps
// serving its other links.

import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';
import { type ClusterNode, customStrategy } from '@peer-cluster/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decode, encodeCall, FrameType } from '../dist/link/frame.js';
import { connectionPath, DialerHandshake, newIncarnation, PROTOCOL } from '../dist/link/handshake.js';
import { MAX_UNPROVEN } from '../dist/link/listener.js';
import { linkSocket } from '../dist/link/socket.js';
import { COOKIE, nextEvent, node, stopAll, waitForNodes } from './fixtures/node/helpers.js';

afterEach(stopAll);

/** A target node with one healthy link, to check after each attack. */
async function target(options: { maxPayload?: number } = {}) {
  const logs: string[] = [];
  const t = await node({ name: 'target', log: (l) => logs.push(l), ...options });
  const friend = await node({ name: 'friend' });
  t.handle('ping', () => 'pong');
  await friend.connect(t.id);
  await waitForNodes(t, 1);
  const stillServes = async () => {
    expect(t.nodes()).toEqual([friend.id]);
    expect(await friend.call(t.id, 'ping')).toBe('pong');
  };
  return { t, friend, logs, stillServes };
}

function rawTcp(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(bytes));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
  });
}

const validHello = () => ({
  t: 'hello',
  protocol: PROTOCOL,
  cluster: 'default',
  id: 'intruder@127.0.0.1:1',
  incarnation: newIncarnation(),
  maxPayload: 1024 * 1024,
  nonce: newIncarnation(),
});

/** The TCP connection under each raw WebSocket, whose endpoints a hello states (`path`). */
const sockets = new WeakMap<WebSocket, Socket>();

/** A TCP connection to the node's link port, as a link's dialing end (WebSocket framing at once). */
function dialRaw(t: ClusterNode): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = tcpConnect(t.port, '127.0.0.1', () => {
      const ws = linkSocket(socket, { dialer: true, maxPayload: 1 << 20 });
      sockets.set(ws, socket);
      resolve(ws);
    });
    socket.once('error', reject);
  });
}

/** A hello object given no `path` gets its connection's, as a genuine dialer's would. */
function withPath(hello: unknown, ws: WebSocket): unknown {
  if (typeof hello !== 'object' || hello === null || Array.isArray(hello) || 'path' in hello) return hello;
  return { ...hello, path: connectionPath(sockets.get(ws)!, 'dialer') };
}

/**
 * Open a raw link connection to the node, send `hello` as its first message (a valid one unless
 * given: an object is sent as JSON, a string as is; null sends none), then run `act`, at once or,
 * with `afterChallenge`, once the node answered with its first message. Resolves with the close code.
 */
async function rawWs(
  t: ClusterNode,
  act: (ws: WebSocket) => void,
  hello: unknown = validHello(),
  options: { afterChallenge?: boolean } = {},
): Promise<number> {
  const ws = await dialRaw(t);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  if (hello !== null) ws.send(typeof hello === 'string' ? hello : JSON.stringify(withPath(hello, ws)));
  if (options.afterChallenge) ws.once('message', () => act(ws));
  else act(ws);
  return closed;
}

describe('hostile input on the link port', () => {
  it('drops garbage bytes and answers plain HTTP with 426', async () => {
    const { t, stillServes } = await target();
    expect(await rawTcp(t.port, Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]))).toBe('');
    expect(await rawTcp(t.port, Buffer.from([0x88, 0x80, 0, 0, 0, 0]))).toBe(''); // a close frame
    const http = await rawTcp(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(http).toMatch(
      new RegExp(`^HTTP/1.1 426 .*\r\n[\\s\\S]*peer-cluster link port \\(link protocol ${PROTOCOL}\\)`),
    );
    // A node of link protocol 2 began its links with an HTTP upgrade: it gets the same answer.
    const upgrade = await rawTcp(
      t.port,
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(upgrade).toMatch(/^HTTP\/1.1 426/);
    await stillServes();
  });

  it('closes connections that send frames before or instead of the handshake', async () => {
    const { t, stillServes } = await target();
    // A call frame instead of the hello.
    expect(await rawWs(t, (ws) => ws.send(encodeCall(1, 'ping', [])), null)).toBe(4001);
    // A hello that is not JSON, not an object, of the wrong shape, of another protocol.
    expect(await rawWs(t, () => {}, '{not json')).toBe(4001);
    expect(await rawWs(t, () => {}, [validHello()])).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), extra: 1 })).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), t: 'challenge' })).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), id: 'no-name' })).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), nonce: 'short' })).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), protocol: 2 })).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), maxPayload: 0 })).toBe(4001);
    expect(await rawWs(t, () => {}, { ...validHello(), maxPayload: '1' })).toBe(4001);
    // A valid hello, then a call frame, unauthenticated, instead of the response.
    expect(
      await rawWs(t, (ws) => ws.send(encodeCall(1, 'ping', [])), undefined, { afterChallenge: true }),
    ).toBe(4001);
    // A valid hello, then not JSON, then a forged proof.
    expect(await rawWs(t, (ws) => ws.send('{not json'), undefined, { afterChallenge: true })).toBe(4001);
    expect(
      await rawWs(
        t,
        (ws) => ws.send(JSON.stringify({ t: 'response', proof: `${'A'.repeat(43)}=` })),
        undefined,
        {
          afterChallenge: true,
        },
      ),
    ).toBe(4001);
    await stillServes();
  });

  it('closes a connection whose frame exceeds maxPayload', async () => {
    const { t, stillServes } = await target({ maxPayload: 4096 });
    expect(await rawWs(t, (ws) => ws.send(Buffer.alloc(10_000)))).toBe(1009);
    // Also before any hello was read (the refusal may not even be sent yet).
    expect([1009, 4001]).toContain(await rawWs(t, (ws) => ws.send(Buffer.alloc(10_000)), null));
    await stillServes();
  });

  it('takes no frame larger than a handshake message before the handshake is done', async () => {
    // maxPayload is 64 MiB by default; an unauthenticated connection cannot make the node buffer it.
    const { t, stillServes } = await target();
    expect(await rawWs(t, (ws) => ws.send(Buffer.alloc(5000)))).toBe(1009);
    expect(await rawWs(t, () => {}, JSON.stringify({ ...validHello(), pad: 'x'.repeat(5000) }))).toBe(1009);
    await stillServes();
    // Once linked, the node's own maxPayload holds, both ways.
    const big = await node({ name: 'big' });
    big.handle('echo', (b: Buffer) => b);
    await big.connect(t.id);
    expect(await big.call(t.id, 'ping', Buffer.alloc(100_000))).toBe('pong');
    expect(await t.call<Uint8Array>(big.id, 'echo', Buffer.alloc(100_000))).toHaveLength(100_000);
  });

  it('closes an authenticated link whose frames are malformed or too large, and only that link', async () => {
    const { t, logs, stillServes } = await target({ maxPayload: 64 * 1024 });
    const other = await node({ name: 'other' });
    // Malformed frame after a genuine handshake: only this link goes down.
    await other.connect(t.id);
    await waitForNodes(t, 2);
    const down = nextEvent(t, 'nodedown', other.id);
    // A link speaks frames; we get at the raw socket through a second, hand-made dialer.
    const ws = await authenticatedSocket(t);
    ws.send(Buffer.from([0xff, 0x0f, 0x99, 0x99]));
    const closed = await new Promise<number>((resolve) => ws.on('close', resolve));
    expect(closed).toBe(1006);
    expect(logs.join('\n')).toMatch(/malformed|Malformed/);
    // The other link, made by `other`, was not touched by the hand-made one.
    await other.disconnect(t.id);
    await down;
    await stillServes();
    // Over maxPayload from a node that ignores the limit the target announced: that link goes
    // down, the node survives. (A genuine node refuses to send it: the call fails alone.)
    const rogue = await authenticatedSocket(t);
    const rogueDown = nextEvent(t, 'nodedown', 'handmade@127.0.0.1:1');
    rogue.send(Buffer.alloc(200_000));
    expect(await new Promise<number>((resolve) => rogue.on('close', resolve))).toBe(1009);
    await rogueDown;
    const big = await node({ name: 'big' });
    await big.connect(t.id);
    await expect(big.call(t.id, 'ping', Buffer.alloc(200_000))).rejects.toThrow(/its maxPayload/);
    expect(big.nodes()).toEqual([t.id]);
    await big.disconnect(t.id);
    await waitForNodes(t, 1);
    await stillServes();
  });

  it('a dialer that gives up its handshake after it was accepted takes the link down, saying so', async () => {
    // On a loaded machine the dialer's handshake can time out after the acceptor sent its welcome
    // and took the link up: the dialer's refusal then arrives as text on an open link.
    const { t, logs, stillServes } = await target();
    const late = await authenticatedSocket(t);
    const down = nextEvent(t, 'nodedown', 'handmade@127.0.0.1:1');
    late.send(
      JSON.stringify({ t: 'refuse', reason: 'timeout', detail: 'no complete handshake within 5 ms' }),
    );
    await down;
    expect(logs.join('\n')).toMatch(
      /lost its link to handmade@127\.0\.0\.1:1: it gave up its handshake after this node had accepted it \(timeout: no complete handshake within 5 ms\)/,
    );
    expect(logs.join('\n')).not.toMatch(/malformed|text message/);
    // Any other text is a protocol error.
    const chatty = await authenticatedSocket(t);
    const down2 = nextEvent(t, 'nodedown', 'handmade@127.0.0.1:1');
    chatty.send(JSON.stringify({ t: 'refuse', reason: 'made-up', detail: 'x' }));
    await down2;
    expect(logs.join('\n')).toMatch(
      /closing the link to handmade@127\.0\.0\.1:1: a text message after the handshake/,
    );
    await stillServes();
  });

  it('closes connections that never authenticate, after the handshake timeout', async () => {
    const { t, stillServes } = await target();
    const started = Date.now();
    // A hello, then silence; and a connection that never sends a byte.
    const [silentWs, silentTcp] = await Promise.all([rawWs(t, () => {}), rawTcp(t.port, '')]);
    expect(silentWs).toBe(4001);
    expect(silentTcp).toBe('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
    await stillServes();
  }, 20_000);

  it('survives fuzzed handshake messages (property), then still serves its link', async () => {
    const { t, stillServes } = await target();
    const field = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.constant(1),
      fc.constant('default'),
      fc.constant(t.id),
      fc.string({ unit: 'binary', maxLength: 100 }),
      // Objects whose conversion to text throws (`String({ toString: 1 })`), and friends.
      fc.dictionary(
        fc.constantFrom('toString', 'valueOf', '__proto__', 'constructor', 'length'),
        fc.jsonValue(),
        {
          minKeys: 1,
        },
      ),
    );
    const intro = fc.record(
      {
        t: fc.oneof(field, fc.constant('hello')),
        protocol: fc.oneof(field, fc.constant(PROTOCOL)),
        cluster: field,
        id: field,
        incarnation: field,
        maxPayload: fc.oneof(field, fc.constant(4096)),
        nonce: field,
      },
      { requiredKeys: [] },
    );
    const hello = fc.oneof(
      intro,
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.constant(validHello()),
    );
    const message = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          t: fc.constantFrom('hello', 'response', 'refuse', 'challenge', 'welcome', 'x'),
          proof: field,
          reason: field,
          detail: field,
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(hello, fc.array(message, { maxLength: 3 }), async (h, messages) => {
        const code = await rawWs(
          t,
          (ws) => {
            for (const m of messages) ws.send(JSON.stringify(m));
            // Make sure a connection that is still waiting ends quickly.
            setTimeout(() => ws.terminate(), 200);
          },
          h,
        );
        expect([4001, 1005, 1006]).toContain(code);
      }),
      { numRuns: 60 },
    );
    expect(t.nodes()).toHaveLength(1);
    await stillServes();
  }, 60_000);

  it('refuses a hello whose fields cannot be turned into text, on either side of a dial', async () => {
    const { t, logs, stillServes } = await target();
    const tricky = { ...validHello(), protocol: { toString: 1 } };
    expect(await rawWs(t, () => {}, tricky)).toBe(4001);
    expect(logs.join('\n')).toMatch(/speaks link protocol of another kind \(object\), this node speaks/);
    // Text it sends reaches the log escaped: it cannot forge a line (or restyle a terminal).
    expect(
      await rawWs(t, () => {}, { ...validHello(), cluster: 'other\npeer-cluster: forged\u001b[31m' }),
    ).toBe(4001);
    expect(logs.join('\n')).toContain('"other\\u000apeer-cluster: forged\\u001b[31m"');
    expect(logs.some((line) => line.split('\n').some((l) => l.startsWith('peer-cluster: forged')))).toBe(
      false,
    );
    // A listener that answers a dial with such a challenge: the dial fails, the dialer runs on.
    const hostile = createServer((socket) => {
      const ws = linkSocket(socket, { dialer: false, maxPayload: 1 << 20 });
      ws.once('message', () =>
        ws.send(JSON.stringify({ ...validHello(), t: 'challenge', protocol: { valueOf: 1 } })),
      );
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    const { port } = hostile.address() as AddressInfo;
    await expect(t.connect(`evil@127.0.0.1:${port}`, { timeout: 2000 })).rejects.toMatchObject({
      name: 'HandshakeError',
      reason: 'protocol',
    });
    hostile.close();
    await stillServes();
  });

  it('answers a call whose arguments are a huge sparse array with an error; the link stays up', async () => {
    const { t, stillServes } = await target();
    const ws = await authenticatedSocket(t);
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1; // 32 bytes on the wire; spread, 4 billion arguments
    const reply = new Promise<Buffer>((resolve) => ws.once('message', resolve));
    ws.send(encodeCall(1, 'ping', sparse));
    const frame = decode(await reply);
    expect(frame).toMatchObject({ type: FrameType.ReplyError, id: 1 });
    expect((frame as { error: { message: string } }).error.message).toBe(
      'a call takes at most 65535 arguments, got 4294967295',
    );
    ws.send(encodeCall(2, 'ping', []));
    const second = decode(await new Promise<Buffer>((resolve) => ws.once('message', resolve)));
    expect(second).toMatchObject({ type: FrameType.Reply, id: 2, value: 'pong' });
    const down = nextEvent(t, 'nodedown', 'handmade@127.0.0.1:1');
    ws.close();
    await down;
    await stillServes();
  });

  it('serves no more calls of a link whose other end reads none of its replies, until they have gone out', async () => {
    const { t, stillServes } = await target();
    let served = 0;
    const answer = 'y'.repeat(16 * 1024);
    t.handle('big', () => {
      served++;
      return answer;
    });
    const ws = await authenticatedSocket(t);
    ws.pause(); // read nothing
    // Each reply is 16 times its call. Unbounded, the target would read every call and queue every
    // reply (64 MiB here) for a reader that never reads.
    const calls = 4000;
    const body = 'x'.repeat(1000);
    for (let id = 1; id <= calls; id++) ws.send(encodeCall(id, 'big', [body]));
    // Let the target read what it will: until it serves nothing more for 20 turns of the loop.
    for (let last = -1, still = 0; still < 20; ) {
      await new Promise((resolve) => setImmediate(resolve));
      if (served === last) still++;
      else [last, still] = [served, 0];
    }
    expect(served).toBeGreaterThan(0);
    expect(served).toBeLessThan(calls);
    // Once this end reads again, every call is answered and the link carries on.
    let replies = 0;
    const answered = new Promise<void>((resolve) =>
      ws.on('message', () => {
        if (++replies === calls) resolve();
      }),
    );
    ws.resume();
    await answered;
    expect(served).toBe(calls);
    const down = nextEvent(t, 'nodedown', 'handmade@127.0.0.1:1');
    ws.close();
    await down;
    await stillServes();
  }, 60_000);

  it('sends no pong for the pings of a connection that has proven nothing', async () => {
    const { t, stillServes } = await target();
    let pongs = 0;
    const code = await rawWs(
      t,
      (ws) => {
        ws.on('pong', () => pongs++);
        for (let i = 0; i < 100; i++) ws.ping();
        // Then a response that proves nothing: the target refuses and closes, after the pongs it
        // would have sent.
        ws.send(JSON.stringify({ t: 'response', proof: '0'.repeat(64) }));
      },
      validHello(),
      { afterChallenge: true },
    );
    expect(code).toBe(4001);
    expect(pongs).toBe(0);
    await stillServes();
  });

  it('drops new connections at once while too many have proven nothing', async () => {
    const { t, stillServes } = await target();
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = tcpConnect(t.port, '127.0.0.1', () => resolve(socket));
        socket.once('error', reject);
      });
    const silent: Socket[] = [];
    try {
      for (let i = 0; i < MAX_UNPROVEN; i++) silent.push(await open());
      // Each is accepted by now once the target has seen it; one more is closed without waiting
      // for the handshake timeout.
      const started = Date.now();
      let extra = await open();
      while (!(await closedWithin(extra, 1000))) {
        silent.push(extra);
        extra = await open();
      }
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      for (const socket of silent) socket.destroy();
    }
    await stillServes();
  }, 30_000);

  it('a hello claiming to be a node delays dials to that node only until its handshake fails', async () => {
    const { t, friend } = await target();
    const victim = await node({ name: 'victim' });
    // An impostor introduces itself as the victim: while its handshake runs, the target waits for
    // it instead of dialing the victim (a genuine node dialing in makes a second dial useless).
    let challenged = () => {};
    const opened = new Promise<void>((resolve) => {
      challenged = resolve;
    });
    const impostor = rawWs(
      t,
      (ws) => {
        challenged();
        setTimeout(() => ws.send(JSON.stringify({ t: 'response', proof: `${'A'.repeat(43)}=` })), 300);
      },
      { ...validHello(), id: victim.id },
      { afterChallenge: true },
    );
    await opened;
    const started = Date.now();
    expect(await t.connect(victim.id)).toBe(victim.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await impostor).toBe(4001);
    expect(t.nodes().sort()).toEqual([friend.id, victim.id].sort());
    // An impostor that stays silent holds the dial up for a second at most, not its whole timeout.
    const victim2 = await node({ name: 'victim2' });
    let silent: WebSocket | undefined;
    const opened2 = new Promise<void>((resolve) => {
      void rawWs(
        t,
        (ws) => {
          silent = ws;
          resolve();
        },
        { ...validHello(), id: victim2.id },
        { afterChallenge: true },
      );
    });
    await opened2;
    const started2 = Date.now();
    expect(await t.connect(victim2.id)).toBe(victim2.id);
    expect(Date.now() - started2).toBeLessThan(3000);
    silent?.terminate();
    expect(await friend.call(t.id, 'ping')).toBe('pong');
  });

  it('a node of an older link protocol is told so at once, both ways', async () => {
    // Link protocol 2 began each link with an HTTP upgrade: its nodes listen with an HTTP server.
    const { WebSocketServer } = await import('ws');
    const old = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => old.once('listening', resolve));
    try {
      const here = await node({ name: 'here' });
      const started = Date.now();
      const error = await here
        .connect(`old@127.0.0.1:${(old.address() as { port: number }).port}`)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'HandshakeError', reason: 'protocol' });
      expect((error as Error).message).toMatch(/older link protocol/);
      expect(Date.now() - started).toBeLessThan(4000); // not the 5 s handshake timeout
      // And an old dialer (its upgrade carries its hello) gets a 426 naming this port's protocol.
      const { t } = await target();
      const refused = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${t.port}/`, { headers: { 'x-peer-cluster-hello': 'e30' } });
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString();
          });
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        });
        ws.on('error', () => {});
      });
      expect(refused).toMatch(
        new RegExp(`^426 This is a peer-cluster link port \\(link protocol ${PROTOCOL}\\)`),
      );
    } finally {
      old.close();
    }
  });

  it('keeps a strategy-made mesh through an attack', async () => {
    const list: string[] = [];
    const strategy = customStrategy({ discover: () => list });
    const a = await node({ name: 'a', strategy });
    const b = await node({ name: 'b', strategy });
    list.push(a.id, b.id);
    await a.healer.refresh();
    await waitForNodes(b, 1);
    await rawTcp(a.port, Buffer.alloc(1000, 0x41));
    expect(await a.healer.refresh()).toMatchObject({ failed: [], connected: [] });
    expect(a.nodes()).toEqual([b.id]);
  });
});

/** Whether the socket closes within `ms` (an accepted socket the other end drops at once does). */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on('error', () => {});
  });
}

/** Complete a genuine handshake by hand (as a dialer) and return the raw socket. */
async function authenticatedSocket(t: ClusterNode): Promise<WebSocket> {
  const hs = new DialerHandshake({
    local: {
      id: 'handmade@127.0.0.1:1',
      cluster: 'default',
      incarnation: newIncarnation(),
      maxPayload: 1 << 30,
    },
    cookie: COOKIE,
    timeout: 5000,
    address: t.id,
    path: () => connectionPath(sockets.get(ws)!, 'dialer'),
    check: () => undefined,
    log: () => {},
  });
  const ws = await dialRaw(t);
  return new Promise((resolve, reject) => {
    hs.run(ws, (error: Error | null) => (error ? reject(error) : resolve(ws)));
  });
}
