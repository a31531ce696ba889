// Opening a WebSocket to another node's link port. Errors before the socket opens become a
// LinkError naming the address; the handshake itself is handshake.ts's.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { PeerClusterError } from '../errors.js';

/** A node could not be reached at all (nothing listens there, the connection was reset...). */
export class LinkError extends PeerClusterError {
  readonly address: string;
  readonly code: string | undefined;
  constructor(address: string, detail: string, code?: string, options?: ErrorOptions) {
    super(`Cannot link to ${address}: ${detail}`, options);
    this.address = address;
    this.code = code;
  }
}

export interface OpenSocket {
  ws: WebSocket;
  /** The 101 response's headers (the handshake's challenge is one). */
  headers: IncomingHttpHeaders;
}

/**
 * `opened` is called synchronously with the socket's open event: the other end may send right
 * behind its 101 response, so whoever reads the socket must listen before the next tick.
 */
export function openSocket(
  address: string,
  host: string,
  port: number,
  options: { timeout: number; maxPayload: number; headers: Record<string, string> },
  opened: (error: LinkError | null, socket?: OpenSocket) => void,
): void {
  const url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    handshakeTimeout: options.timeout,
    followRedirects: false,
    headers: options.headers,
    // A zero masking key, which ws then skips: masking protects HTTP proxies from what a browser
    // page sends; between two nodes it only costs a random key and an XOR of every frame. The
    // acceptor's ws skips unmasking a zero key too.
    generateMask: leaveZero,
  });
  let headers: IncomingHttpHeaders = {};
  const onUpgrade = (res: IncomingMessage) => {
    headers = res.headers;
  };
  const onError = (error: Error & { code?: string }) => {
    ws.off('open', onOpen);
    ws.terminate();
    opened(new LinkError(address, error.message, error.code, { cause: error }));
  };
  const onOpen = () => {
    ws.off('error', onError);
    ws.on('error', ignore);
    opened(null, { ws, headers });
  };
  ws.once('upgrade', onUpgrade);
  ws.once('error', onError);
  ws.once('open', onOpen);
}

function ignore(): void {}

/** Leaves ws's (zero-filled) masking key as it is. */
function leaveZero(): void {}
