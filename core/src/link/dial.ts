// Opening a link connection to another node's link port: TCP, then WebSocket framing (ws) from the
// first byte, no HTTP upgrade (link protocol 3 and later, see listener.ts). Errors before the connection is
// up become a LinkError naming the address; the handshake itself is handshake.ts's.

import { connect, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { LinkError } from '../errors.js';
import { MAX_HANDSHAKE_MESSAGE } from './handshake.js';
import { linkSocket } from './socket.js';

/**
 * `opened` is called synchronously with the connection: the caller sends its hello at once and
 * must listen before the next tick.
 */
export function openSocket(
  address: string,
  host: string,
  port: number,
  options: { timeout: number },
  opened: (error: LinkError | null, ws?: WebSocket, socket?: Socket) => void,
): void {
  const socket = connect({ host, port, noDelay: true });
  const onError = (error: Error & { code?: string }) => {
    socket.destroy();
    opened(new LinkError(address, error.message, error.code, { cause: error }));
  };
  // Listened for first: nothing after it may leave a connection error unheard (a crash).
  socket.once('error', onError);
  socket.setTimeout(options.timeout, () => {
    socket.off('error', onError);
    socket.destroy();
    opened(new LinkError(address, `no connection within ${options.timeout} ms`, 'ETIMEDOUT'));
  });
  socket.once('connect', () => {
    socket.off('error', onError);
    // setSocket clears the connect timeout: the handshake has its own from here.
    opened(null, linkSocket(socket, { dialer: true, maxPayload: MAX_HANDSHAKE_MESSAGE }), socket);
  });
}
