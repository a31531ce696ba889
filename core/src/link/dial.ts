// Opening a WebSocket to another node's link port. Errors before the socket opens become a
// LinkError naming the address; the handshake itself is handshake.ts's.

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

export function openSocket(
  address: string,
  host: string,
  port: number,
  options: { timeout: number; maxPayload: number },
): Promise<WebSocket> {
  const url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      handshakeTimeout: options.timeout,
      followRedirects: false,
    });
    const onError = (error: Error & { code?: string }) => {
      ws.off('open', onOpen);
      ws.terminate();
      reject(new LinkError(address, error.message, error.code, { cause: error }));
    };
    const onOpen = () => {
      ws.off('error', onError);
      ws.on('error', ignore);
      resolve(ws);
    };
    ws.once('error', onError);
    ws.once('open', onOpen);
  });
}

function ignore(): void {}
