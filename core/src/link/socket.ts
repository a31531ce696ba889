// A link's connection as a ws WebSocket, made from a TCP socket that is already connected (link
// protocol 3 and later have no HTTP upgrade, see listener.ts): ws's own server builds its WebSockets the same
// way (`new WebSocket(null)` and `setSocket`, which @types/ws leaves out).
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

interface FromSocket {
  _isServer: boolean;
  _receiver: { _maxPayload: number; _fragments?: Buffer[] } | null;
  setSocket(
    socket: Socket,
    head: Buffer,
    options: { maxPayload: number; allowSynchronousEvents: boolean; generateMask?: (mask: Buffer) => void },
  ): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Fragments of one message a connection may have sent before it is dropped. Nodes never fragment
 * what they send (nor does ws), but ws keeps each fragment of a message in progress as a Buffer of
 * its own, ≈110 bytes of heap for 7 bytes on the wire, up to maxPayload of them: 4 million one-byte
 * fragments (28 MB sent in 2 s) held 436 MB of a node's heap, and a link's 64 MiB would take ≈7 GB.
 */
export const MAX_FRAGMENTS = 1024;

const answeredHttp = new WeakSet<WebSocket>();

/** Whether the other end of a dialed link connection answered with HTTP (a node of link protocol 2 or older). */
export function answeredWithHttp(ws: WebSocket): boolean {
  return answeredHttp.has(ws);
}

/**
 * The dialer's end is ws's client side: it masks what it sends and takes only unmasked frames. Its
 * masking key is zero, which ws then skips on both ends: masking protects HTTP proxies from what a
 * browser page sends; between two nodes it would only cost a random key and an XOR of every frame.
 * The acceptor's end is ws's server side. `head`: bytes already read from the socket.
 */
export function linkSocket(
  socket: Socket,
  options: { dialer: boolean; maxPayload: number; head?: Buffer },
): WebSocket {
  const ws = new (
    WebSocket as unknown as new (
      address: null,
      protocols: undefined,
      options: { autoPong: boolean },
    ) => WebSocket
  )(null, undefined, { autoPong: false });
  // No autoPong: heartbeats are link frames (PING, PONG), not WebSocket pings, and a connection that
  // has proven nothing must not get a pong for every ping it sends (replies it need never read).
  // Frame errors close the link (the link layer sees the close); an unheard 'error' would throw.
  ws.on('error', ignore);
  if (options.dialer) {
    // Before ws reads it: an HTTP answer says the other end is no link of this protocol.
    socket.once('data', (first: Buffer) => {
      if (first.subarray(0, 5).toString('latin1') === 'HTTP/') answeredHttp.add(ws);
    });
  }
  const raw = ws as unknown as FromSocket;
  raw._isServer = !options.dialer;
  raw.setSocket(socket, options.head ?? EMPTY, {
    maxPayload: options.maxPayload,
    allowSynchronousEvents: true,
    ...(options.dialer && { generateMask: leaveZero }),
  });
  // Looked at once ws has read each chunk (its listener came first): a chunk adds at most a few
  // thousand fragments.
  const receiver = raw._receiver;
  socket.on('data', () => {
    // ws's own field (ws 8): should a later ws name it otherwise, the check lapses; a link must not throw.
    if ((receiver?._fragments?.length ?? 0) > MAX_FRAGMENTS) socket.destroy();
  });
  return ws;
}

function ignore(): void {}

/** Leaves ws's (zero-filled) masking key as it is. */
function leaveZero(): void {}

/**
 * Raises the largest frame the link takes, once its handshake is done: until then, a connection
 * that has proven nothing can make this node buffer no more than a handshake message.
 */
export function allowPayload(ws: WebSocket, maxPayload: number): void {
  const receiver = (ws as unknown as FromSocket)._receiver;
  if (receiver) receiver._maxPayload = maxPayload;
}
