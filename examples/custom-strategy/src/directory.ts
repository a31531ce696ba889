// A minimal HTTP directory for the httpDirectory strategy: PUT/DELETE a node id (the body) under
// /clusters/:name/nodes, GET the list. Loopback only.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Directory {
  url: string;
  nodes(cluster: string): string[];
  close(): Promise<void>;
}

export async function startDirectory(): Promise<Directory> {
  const clusters = new Map<string, Set<string>>();
  const server = createServer(async (req, res) => {
    const match = /^\/clusters\/([^/]+)\/nodes$/.exec(req.url ?? '');
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const cluster = decodeURIComponent(match[1]!);
    const nodes = clusters.get(cluster) ?? new Set<string>();
    clusters.set(cluster, nodes);
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.method === 'PUT') nodes.add(body.trim());
    else if (req.method === 'DELETE') nodes.delete(body.trim());
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([...nodes]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    nodes: (cluster) => [...(clusters.get(cluster) ?? [])],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
