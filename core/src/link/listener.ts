// The link listener: an HTTP server that only upgrades to WebSocket. Anything else on the port
// (plain HTTP, garbage bytes, a slow client that never finishes its headers) gets that one
// connection answered or dropped; the node and its other links never notice.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

export interface Listener {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export interface Accepting {
  headers: string[];
  open(ws: WebSocket): void;
}

const ACCEPTING = Symbol('accepting');
type Upgrade = IncomingMessage & { [ACCEPTING]?: Accepting };

export async function listen(options: {
  host: string;
  port: number;
  maxPayload: number;
  /**
   * Called with each upgrade request before it is answered: `headers` go into the 101 response,
   * `open` gets the socket once upgraded (never called when the upgrade fails).
   */
  accept(req: IncomingMessage): Accepting;
}): Promise<Listener> {
  const server = createServer(
    { connectionsCheckingInterval: 1000, headersTimeout: 5000, requestTimeout: 5000 },
    (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('This is a peer-cluster link port: only authenticated WebSocket links are accepted.\n');
    },
  );
  server.keepAliveTimeout = 1000;
  server.on('clientError', (_error, socket) => socket.destroy());
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    clientTracking: false,
  });
  wss.on('headers', (headers: string[], req: Upgrade) => {
    const accepting = req[ACCEPTING];
    if (accepting) for (const header of accepting.headers) headers.push(header);
  });
  server.on('upgrade', (req: Upgrade, socket: Socket, head) => {
    socket.on('error', ignore);
    const accepting = options.accept(req);
    req[ACCEPTING] = accepting;
    wss.handleUpgrade(req, socket, head, (ws) => accepting.open(ws));
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
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function ignore(): void {}
