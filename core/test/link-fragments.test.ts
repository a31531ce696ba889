// A message sent in a great many tiny WebSocket fragments: ws keeps each one as a Buffer of its own
// (≈110 bytes of heap for 7 on the wire), up to the largest message a link takes (64 MiB by
// default), so a link that sends them must be dropped long before that.
import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import type { ClusterNode } from '@peer-cluster/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { connectionPath, DialerHandshake, newIncarnation, PROTOCOL } from '../dist/link/handshake.js';
import { linkSocket, MAX_FRAGMENTS } from '../dist/link/socket.js';
import { COOKIE, node, stopAll, waitForNodes } from './fixtures/node/helpers.js';

afterEach(stopAll);

/** A masked WebSocket frame with a zero key, as a dialer sends it; `fin: false` leaves its message open. */
function frame(opcode: number, payload: Buffer, fin: boolean): Buffer {
  return Buffer.concat([
    Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]),
    Buffer.alloc(4),
    payload,
  ]);
}

/** One message of `count` one-byte fragments, its last left open. */
function fragments(count: number): Buffer {
  const one = frame(0, Buffer.from([1]), false);
  return Buffer.concat([frame(2, Buffer.from([1]), false), ...Array.from({ length: count - 1 }, () => one)]);
}

async function dial(t: ClusterNode): Promise<Socket> {
  const socket = tcpConnect(t.port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** A connection that sent a well-formed hello, and has proven nothing. */
async function introduced(t: ClusterNode): Promise<Socket> {
  const socket = await dial(t);
  const ws = linkSocket(socket, { dialer: true, maxPayload: 1 << 20 });
  const hello = {
    t: 'hello',
    protocol: PROTOCOL,
    cluster: 'default',
    id: 'stranger@127.0.0.1:1',
    incarnation: newIncarnation(),
    maxPayload: 1 << 20,
    nonce: newIncarnation(),
    path: connectionPath(socket, 'dialer'),
  };
  ws.send(JSON.stringify(hello));
  await once(ws, 'message'); // the challenge
  return socket;
}

async function authenticated(t: ClusterNode): Promise<{ ws: WebSocket; socket: Socket }> {
  const socket = await dial(t);
  const ws = linkSocket(socket, { dialer: true, maxPayload: 1 << 20 });
  const hs = new DialerHandshake({
    local: { id: 'frag@127.0.0.1:1', cluster: 'default', incarnation: newIncarnation(), maxPayload: 1 << 20 },
    cookie: COOKIE,
    timeout: 5000,
    address: t.id,
    path: () => connectionPath(socket, 'dialer'),
    check: () => undefined,
    log: () => {},
  });
  await new Promise<void>((resolve, reject) => hs.run(ws, (error) => (error ? reject(error) : resolve())));
  return { ws, socket };
}

/** Whether the connection closes within `ms` (it is dropped at once, or only at some timeout). */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('a message in too many fragments', () => {
  it('drops the connection at once, before and after the handshake; the node serves its other links', async () => {
    // Timeouts far longer than the waits below: only the fragments can close these connections.
    const slow = { heartbeat: { interval: 5000, timeout: 30_000 }, handshakeTimeout: 30_000 };
    const t = await node({ name: 'target', ...slow });
    const friend = await node({ name: 'friend', ...slow });
    t.handle('ping', () => 'pong');
    await friend.connect(t.id);

    // Before the handshake is done (a response in pieces): fewer than MAX_FRAGMENTS keep the
    // connection, as many bytes in more fragments do not.
    const patient = await introduced(t);
    patient.write(fragments(MAX_FRAGMENTS - 10));
    const unproven = await introduced(t);
    unproven.write(fragments(MAX_FRAGMENTS + 10));
    expect(await closesWithin(unproven, 3000)).toBe(true);
    expect(patient.destroyed).toBe(false);
    patient.destroy();

    // After it, from a node that knows the cookie.
    const { socket } = await authenticated(t);
    await waitForNodes(t, 2);
    socket.write(fragments(50_000));
    expect(await closesWithin(socket, 3000)).toBe(true);
    await waitForNodes(t, 1);
    expect(t.nodes()).toEqual([friend.id]);
    expect(await friend.call(t.id, 'ping')).toBe('pong');
  });
});
