// Hostile input on the link port closes that one connection; the node keeps running and keeps
// serving its other links.

import { connect as tcpConnect } from 'node:net';
import { type ClusterNode, customStrategy } from '@peer-cluster/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { encodeCall } from '../dist/link/frame.js';
import { DialerHandshake, HELLO_HEADER, newIncarnation } from '../dist/link/handshake.js';
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
  protocol: 2,
  cluster: 'default',
  id: 'intruder@127.0.0.1:1',
  incarnation: newIncarnation(),
  nonce: newIncarnation(),
});

/** An introduction as the upgrade header carries it. */
const header = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Open a raw WebSocket to the node (its upgrade says `hello`, a valid one unless given; null for
 * no hello header at all), run `act`, resolve with the close code.
 */
function rawWs(t: ClusterNode, act: (ws: WebSocket) => void, hello: string | null = header(validHello())) {
  return new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/`, {
      perMessageDeflate: false,
      headers: hello === null ? {} : { [HELLO_HEADER]: hello },
    });
    ws.on('error', () => {});
    ws.on('open', () => act(ws));
    ws.on('close', (code) => resolve(code));
  });
}

describe('hostile input on the link port', () => {
  it('drops garbage bytes and answers plain HTTP with 426', async () => {
    const { t, stillServes } = await target();
    await rawTcp(t.port, Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]));
    await rawTcp(t.port, 'GARBAGE / NOT-HTTP\r\n\r\n');
    const http = await rawTcp(t.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(http).toMatch(/^HTTP\/1.1 426/);
    const badUpgrade = await rawTcp(
      t.port,
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(badUpgrade).toMatch(/^HTTP\/1.1 400/);
    await stillServes();
  });

  it('closes connections that send frames before or instead of the handshake', async () => {
    const { t, stillServes } = await target();
    // No hello in the upgrade: refused at once, whatever follows.
    expect(await rawWs(t, () => {}, null)).toBe(4001);
    expect(await rawWs(t, (ws) => ws.send(encodeCall(1, 'ping', [])), null)).toBe(4001);
    // A hello that is not base64url, not JSON, of the wrong shape, of an unknown protocol.
    expect(await rawWs(t, () => {}, '{not base64}')).toBe(4001);
    expect(await rawWs(t, () => {}, Buffer.from('{not json').toString('base64url'))).toBe(4001);
    expect(await rawWs(t, () => {}, header({ ...validHello(), extra: 1 }))).toBe(4001);
    expect(await rawWs(t, () => {}, header({ ...validHello(), id: 'no-name' }))).toBe(4001);
    expect(await rawWs(t, () => {}, header({ ...validHello(), nonce: 'short' }))).toBe(4001);
    expect(await rawWs(t, () => {}, header({ ...validHello(), protocol: 1 }))).toBe(4001);
    expect(await rawWs(t, () => {}, header([validHello()]))).toBe(4001);
    // A valid hello, then a call frame, unauthenticated, instead of the response.
    expect(await rawWs(t, (ws) => ws.send(encodeCall(1, 'ping', [])))).toBe(4001);
    // A valid hello, then not JSON, then a forged proof.
    expect(await rawWs(t, (ws) => ws.send('{not json'))).toBe(4001);
    expect(
      await rawWs(t, (ws) => ws.send(JSON.stringify({ t: 'response', proof: `${'A'.repeat(43)}=` }))),
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
    // Over maxPayload from a genuine node: its link goes down, the node survives.
    const big = await node({ name: 'big' });
    big.handle('noop', () => 0);
    await big.connect(t.id);
    const bigDown = nextEvent(t, 'nodedown', big.id);
    await expect(big.call(t.id, 'ping', Buffer.alloc(200_000))).rejects.toThrow();
    await bigDown;
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
    const [silentWs, silentTcp] = await Promise.all([
      rawWs(t, () => {}),
      rawTcp(t.port, 'GET / HTTP/1.1\r\n'),
    ]);
    expect(silentWs).toBe(4001);
    expect(silentTcp).toBeDefined();
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
    );
    const intro = fc.record(
      {
        protocol: fc.oneof(field, fc.constant(2)),
        cluster: field,
        id: field,
        incarnation: field,
        nonce: field,
      },
      { requiredKeys: [] },
    );
    const hello = fc.oneof(
      intro.map(header),
      fc.jsonValue().map(header),
      fc.string({ unit: fc.constantFrom(...'AZaz09-_'), maxLength: 200 }),
      fc.constant(header(validHello())),
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

  it('a hello claiming to be a node delays dials to that node only until its handshake fails', async () => {
    const { t, friend } = await target();
    const victim = await node({ name: 'victim' });
    // An impostor introduces itself as the victim: while its handshake runs, the target waits for
    // it instead of dialing the victim (a genuine node dialing in makes a second dial useless).
    let upgraded = () => {};
    const opened = new Promise<void>((resolve) => {
      upgraded = resolve;
    });
    const impostor = rawWs(
      t,
      (ws) => {
        upgraded();
        setTimeout(() => ws.send(JSON.stringify({ t: 'response', proof: `${'A'.repeat(43)}=` })), 300);
      },
      header({ ...validHello(), id: victim.id }),
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
        header({ ...validHello(), id: victim2.id }),
      );
    });
    await opened2;
    const started2 = Date.now();
    expect(await t.connect(victim2.id)).toBe(victim2.id);
    expect(Date.now() - started2).toBeLessThan(3000);
    silent?.terminate();
    expect(await friend.call(t.id, 'ping')).toBe('pong');
  });

  it('a node of the older link protocol is told so at once, both ways', async () => {
    // Link protocol 1: the upgrade carried nothing, the hello came as the first message.
    const { WebSocketServer } = await import('ws');
    const old = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => old.once('listening', resolve));
    const toldOld = new Promise<unknown>((resolve) =>
      old.once('connection', (ws) => ws.once('message', (m) => resolve(JSON.parse(String(m))))),
    );
    try {
      const here = await node({ name: 'here' });
      const started = Date.now();
      const error = await here
        .connect(`old@127.0.0.1:${(old.address() as { port: number }).port}`)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'HandshakeError', reason: 'protocol' });
      expect((error as Error).message).toMatch(/older link protocol/);
      expect(Date.now() - started).toBeLessThan(4000); // not the 5 s handshake timeout
      expect(await toldOld).toMatchObject({ t: 'refuse', reason: 'protocol' });
      // And an old dialer (no hello in its upgrade) gets a refusal, not silence.
      const { t } = await target();
      const code = await rawWs(t, () => {}, null);
      expect(code).toBe(4001);
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

/** Complete a genuine handshake by hand (as a dialer) and return the raw socket. */
function authenticatedSocket(t: ClusterNode): Promise<WebSocket> {
  const hs = new DialerHandshake({
    local: { id: 'handmade@127.0.0.1:1', cluster: 'default', incarnation: newIncarnation() },
    cookie: COOKIE,
    timeout: 5000,
    address: t.id,
    check: () => undefined,
    log: () => {},
  });
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/`, {
      perMessageDeflate: false,
      headers: { [HELLO_HEADER]: hs.hello },
    });
    let challenge: string | string[] | undefined;
    let refused = false;
    ws.on('upgrade', (res) => {
      challenge = res.headers['x-peer-cluster-challenge'];
      refused = res.headers['x-peer-cluster-refused'] !== undefined;
    });
    ws.on('error', () => {});
    ws.on('open', () =>
      hs.run(ws, challenge, refused, (error: Error | null) => (error ? reject(error) : resolve(ws))),
    );
  });
}
