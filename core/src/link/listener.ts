// The link listener: a TCP server whose connections speak WebSocket framing (ws) from their first
// byte, without an HTTP upgrade (link protocol 3 and later, see handshake.ts). What else arrives on the
// port gets that one connection answered or dropped; the node and its other links never notice:
// plain HTTP (a browser, curl, a node of an older link protocol, whose links begin with an HTTP
// upgrade) gets a 426 that says what the port is, anything else that does not begin like a
// WebSocket frame is dropped, and a connection that sends nothing is closed after the handshake
// timeout.
//
// An HTTP upgrade cost each end of a link about a third of a millisecond of CPU (the request, its
// parsing, the 101 response, the accept key) and loading `http` ≈2 ms per peer; links carry no
// HTTP, so they do without.

import { createServer, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { MAX_HANDSHAKE_MESSAGE, PROTOCOL } from './handshake.js';
import { linkSocket } from './socket.js';

export interface Listener {
  port: number;
  close(): Promise<void>;
}

/**
 * Connections that have proven nothing, past which new ones are dropped: silent ones here, and
 * handshakes in progress in the node. Far above what a cluster's start opens at once (each node
 * of an n-node cluster takes at most n - 1 handshakes).
 */
export const MAX_UNPROVEN = 512;

/** What a link port answers to plain HTTP. */
const HTTP_ANSWER = [
  'HTTP/1.1 426 Upgrade Required',
  'content-type: text/plain',
  'connection: close',
  '',
  `This is a peer-cluster link port (link protocol ${PROTOCOL}): only authenticated links of peer-cluster nodes are accepted.\n`,
].join('\r\n');

/** The first byte of a WebSocket frame from a dialer: FIN set, no extension bits, a text or binary opcode. */
const isFrameStart = (byte: number) => byte === 0x81 || byte === 0x82;
/** Plain HTTP begins with a method name: an ASCII capital letter. */
const isHttpStart = (byte: number) => byte >= 0x41 && byte <= 0x5a;

export async function listen(options: {
  host: string;
  port: number;
  /** How long a connection may stay silent before its first frame. */
  timeout: number;
  /** Called with each connection that begins with a WebSocket frame, already wrapped. */
  accept(ws: WebSocket, socket: Socket): void;
}): Promise<Listener> {
  /** Connections not yet handed to a WebSocket (after that, the node tracks them). */
  const pending = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', ignore);
    // Silent connections cost a file descriptor each until their timeout: past a bound, new ones
    // are dropped at once, so that a flood of them cannot starve the node of descriptors.
    if (pending.size >= MAX_UNPROVEN) {
      socket.destroy();
      return;
    }
    pending.add(socket);
    socket.setTimeout(options.timeout, () => socket.destroy());
    socket.once('close', () => pending.delete(socket));
    socket.once('data', (first: Buffer) => {
      pending.delete(socket);
      const byte = first[0]!;
      if (isFrameStart(byte)) {
        // setSocket clears the timeout: the handshake has its own from here.
        options.accept(
          linkSocket(socket, { dialer: false, maxPayload: MAX_HANDSHAKE_MESSAGE, head: first }),
          socket,
        );
      } else if (isHttpStart(byte)) {
        socket.setTimeout(0);
        socket.end(HTTP_ANSWER);
        // Whatever else the client sends is not read; it must not hold the socket open.
        setTimeout(() => socket.destroy(), 1000).unref();
      } else {
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', ignore);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of pending) socket.destroy();
      }),
  };
}

function ignore(): void {}
