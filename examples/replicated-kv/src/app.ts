// A replicated key-value app for peer-cluster. Each node keeps the whole map, pushes every write to
// the nodes it is linked to, and pulls a full copy from every node it (re)links with, so a node that
// was down or partitioned catches up as soon as it is back. Conflict rule: last writer wins by
// Lamport clock, ties broken by node id (see store.ts).
//
// HTTP API on PORT:  GET /kv  ·  GET /kv/:key  ·  PUT /kv/:key (body: JSON value)  ·  DELETE /kv/:key
//                    GET /health → { node, nodes }
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AppContext } from '@peer-cluster/core/peer';
import { type Entry, Store } from './store.js';

export async function start(ctx: AppContext) {
  const store = new Store(ctx.node);
  const { cluster } = ctx;

  cluster.handle('kv.put', (key: string, entry: Entry) => store.merge(key, entry));
  cluster.handle('kv.dump', () => [...store.entries]);
  cluster.handle('kv.write', (key: string, value: unknown) => write(key, value));
  cluster.handle('kv.get', (key: string) => store.get(key)?.value);
  cluster.handle('kv.snapshot', () => store.snapshot());
  // Resolves once `key` holds `value` here: lets a test await replication instead of polling.
  cluster.handle('kv.await', (key: string, value: unknown) => {
    const holds = () => JSON.stringify(store.get(key)?.value) === JSON.stringify(value);
    if (holds()) return true;
    return new Promise((resolve) => {
      const check = () => {
        if (!holds()) return;
        changes.delete(check);
        resolve(true);
      };
      changes.add(check);
    });
  });
  const changes = new Set<() => void>();
  const notify = () => {
    for (const check of [...changes]) check();
  };

  function write(key: string, value: unknown, deleted = false) {
    const entry = store.write(key, value, deleted);
    notify();
    for (const node of cluster.nodes()) cluster.send(node, 'kv.put', { key, entry });
    return entry;
  }

  cluster.on('message', (_from, topic, payload) => {
    if (topic === 'kv.put') {
      const { key, entry } = payload as { key: string; entry: Entry };
      if (store.merge(key, entry)) notify();
    }
  });

  // Catch up with every node we link to: pull its whole map and merge it. Both sides do this, so
  // after a partition heals each side ends up with the newer of every pair of conflicting writes.
  function syncWith(node: string) {
    cluster.call<[string, Entry][]>(node, 'kv.dump').then(
      (entries) => {
        const changed = store.mergeAll(entries);
        notify();
        if (changed > 0) ctx.log(`caught up ${changed} key(s) from ${node}`);
      },
      (error: Error) => ctx.log(`could not sync with ${node}: ${error.message}`),
    );
  }
  cluster.on('nodeup', syncWith);
  // The node links before the apps start, so some nodes may already be up.
  for (const node of cluster.nodes()) syncWith(node);

  const server = createServer((req, res) => {
    route(req, res).catch((error: Error) => reply(res, 500, { error: error.message }));
  });
  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/health') return reply(res, 200, { node: ctx.node, nodes: cluster.nodes() });
    if (url.pathname === '/kv' && req.method === 'GET') return reply(res, 200, store.snapshot());
    const key = decodeURIComponent(url.pathname.slice('/kv/'.length));
    if (!url.pathname.startsWith('/kv/') || key === '') return reply(res, 404, { error: 'not found' });
    if (req.method === 'GET') {
      const entry = store.get(key);
      return entry ? reply(res, 200, entry.value) : reply(res, 404, { error: `no key ${key}` });
    }
    if (req.method === 'PUT') {
      const body = await readBody(req);
      let value: unknown;
      try {
        value = JSON.parse(body);
      } catch {
        return reply(res, 400, { error: 'the body must be JSON' });
      }
      return reply(res, 200, write(key, value).version);
    }
    if (req.method === 'DELETE') return reply(res, 200, write(key, null, true).version);
    return reply(res, 405, { error: `method ${req.method} not allowed` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(ctx.port, '127.0.0.1', () => resolve());
  });
  ctx.log(`replicated-kv listening on http://127.0.0.1:${ctx.port}`);
  return { stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function reply(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}
