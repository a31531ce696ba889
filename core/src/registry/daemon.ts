// The local registry daemon, peer-cluster's EPMD: node registrations scoped by cluster name, pushed
// to watchers as they change, and the machine-wide broker of app-port leases. Everything a
// connection holds (registrations, leases, watches) dies with that connection, so a crashed
// process leaves nothing stale behind.
//
// Any local process may connect (there is no authentication), so no connection can take away what
// another one holds: when two connections register the same node id (a restarted peer keeps its id,
// and may register before its old connection is seen closing; or a client registers another's id),
// the latest registration is the one listed, and the one beneath it is listed again once the
// latest is withdrawn. A connection unregisters, releases and unwatches only its own.
import { once } from 'node:events';
import net from 'node:net';
import getPort from 'get-port';
import * as v from 'valibot';
import { InvalidOptionsError } from '../errors.js';
import { printable } from '../printable.js';
import { formatRegistryAddress, resolveRegistryAddress } from './address.js';
import {
  encode,
  IDLE_TIMEOUT_ENV,
  lineSplitter,
  MAX_LEASES_PER_CONNECTION,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  type RegisteredNode,
  type Request,
} from './protocol.js';
import { requestSchema } from './requests.js';

/** Leased app ports come from here: below Linux's ephemeral range (32768–60999), so port-0 binds never take them. */
export const LEASE_RANGE: readonly [number, number] = [20000, 32767];
const DEFAULT_IDLE_TIMEOUT = 30_000;
/** A watcher that stops reading is cut off rather than buffered for without bound. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/**
 * Connections served at once; more are told so and closed. A run needs one per peer and one per
 * test process (ten workers of 50-peer clusters: ≈510), and an idle connection costs the daemon
 * ≈7 KiB (a half-sent line up to MAX_REQUEST_BYTES more, for PARTIAL_LINE_TIMEOUT at most).
 */
export const MAX_CONNECTIONS = 4096;
/** A line begun this long ago and still unfinished closes its connection: no client writes one that slowly. */
export const PARTIAL_LINE_TIMEOUT = 10_000;
/**
 * Node ids one connection may have registered, and clusters it may watch, at once: a process
 * registers its nodes (one per peer, a few for a test process) and watches their clusters.
 */
export const MAX_NODES_PER_CONNECTION = 1024;
/**
 * How long (JSON characters) one cluster's list may grow. A push lists the whole cluster to each of
 * its watchers: this keeps one under MAX_BACKLOG_BYTES, so a watcher is never cut off for a push,
 * and far under what a client reads (MAX_REPLY_BYTES). A node takes ≈150 (≈13 000 of them).
 */
export const MAX_CLUSTER_CHARS = 2 * 1024 * 1024;
/**
 * What the registrations of every connection may take together, in bytes of JSON (each node as
 * listed, with its cluster's name): a `status` lists them all on one line, which a client reads up
 * to MAX_REPLY_BYTES (16 MiB) of. Without it, a few connections registering their most (each within
 * its own limits) made every status unreadable, `peer-cluster ls` included. A node of a usual
 * cluster takes ≈130 bytes (≈60 000 of them); the leases, the rest of a status, take under 80 KiB.
 */
export const MAX_REGISTERED_BYTES = 8 * 1024 * 1024;

export { MAX_LEASES_PER_CONNECTION };

export interface RegistryOptions {
  /** Address to bind. @default '127.0.0.1' (or the host of env PEER_CLUSTER_REGISTRY) */
  host?: string | undefined;
  /** Port to bind; 0 picks a free one. @default 14369 (or the port of env PEER_CLUSTER_REGISTRY) */
  port?: number | undefined;
  /**
   * Exit after this many ms with no connection; 0 never exits.
   * @default env PEER_CLUSTER_REGISTRY_IDLE_TIMEOUT, else 30000
   */
  idleTimeout?: number | undefined;
  /** One line per registration, lease and incident. @default a no-op */
  log?: ((line: string) => void) | undefined;
  /** Connections served at once; more are told so and closed. @default 4096 */
  maxConnections?: number | undefined;
  /** ms a connection may leave a line unfinished before it is closed. @default 10000 */
  partialLineTimeout?: number | undefined;
}

export interface RegistryHandle {
  /** `host:port` the daemon listens on. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Resolves once the daemon has stopped, by `close()` or after its idle timeout. */
  readonly closed: Promise<void>;
  /** Stop listening and drop every connection (their registrations and leases go with them). */
  close(): Promise<void>;
}

interface Connection {
  socket: net.Socket;
  label: string;
  /** Node ids by cluster, and how many in all. */
  registrations: Map<string, Set<string>>;
  registered: number;
  watching: Set<string>;
  leases: Set<number>;
  /** Ports asked for by lease requests not yet answered. */
  leasing: number;
  /** Set while a line is half-read: closes the connection if it stays so. */
  partial?: NodeJS.Timeout | undefined;
  /** Watched clusters that changed while the connection had not drained: pushed once it has. */
  stale?: Set<string> | undefined;
}

/** A connection's registration of a node id. */
interface Claim {
  node: RegisteredNode;
  owner: Connection;
  /** Its length in a list. */
  size: number;
  /** What it counts towards MAX_REGISTERED_BYTES. */
  bytes: number;
}

/** Starts the daemon; rejects with the listen error (EADDRINUSE when another daemon has the port). */
export async function runRegistry(options: RegistryOptions = {}): Promise<RegistryHandle> {
  const { host, port } = resolveRegistryAddress(options);
  const idleTimeout = options.idleTimeout ?? idleTimeoutFromEnv();
  if (!Number.isFinite(idleTimeout) || idleTimeout < 0 || idleTimeout > MAX_TIMER)
    throw new InvalidOptionsError('idleTimeout', idleTimeout, IDLE_TIMEOUT_RANGE);
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1)
    throw new InvalidOptionsError('maxConnections', maxConnections, 'expected a whole number >= 1');
  const partialLineTimeout = options.partialLineTimeout ?? PARTIAL_LINE_TIMEOUT;
  if (!Number.isFinite(partialLineTimeout) || partialLineTimeout <= 0)
    throw new InvalidOptionsError('partialLineTimeout', partialLineTimeout, 'expected a number of ms > 0');
  // Cluster names, node ids and hosts come from any local client: escaped, they cannot forge a
  // line or restyle the terminal of whoever watches `peer-cluster registry`.
  const write = options.log;
  const log = write ? (line: string) => write(printable(line)) : () => {};

  // Each id's registrations in the order they came, the one listed last.
  const clusters = new Map<string, Map<string, Claim[]>>();
  /** What each cluster's list takes, in JSON characters. */
  const lengths = new Map<string, number>();
  /** Every claim, listed or beneath another, and the bytes they count towards MAX_REGISTERED_BYTES. */
  let claimCount = 0;
  let claimBytes = 0;
  const watchers = new Map<string, Set<Connection>>();
  const leased = new Map<number, Connection>();
  const connections = new Set<Connection>();
  let nextConnection = 1;
  /** Connections refused since the daemon was last below maxConnections. */
  let refused = 0;
  /** Set once a registration was refused for MAX_REGISTERED_BYTES, until one is withdrawn. */
  let full = false;
  // A random start keeps two daemons (say, one per test suite on its own port) from handing out
  // the same ports in the same order.
  let leaseCursor = LEASE_RANGE[0] + Math.floor(Math.random() * (LEASE_RANGE[1] - LEASE_RANGE[0]));
  let leaseQueue: Promise<unknown> = Promise.resolve();
  let idleTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });

  const server = net.createServer({ noDelay: true }, accept);
  server.listen({ host, port, exclusive: true });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  server.on('error', (error) => log(`server error: ${error.message}`));
  const bound = server.address() as net.AddressInfo;
  const address = formatRegistryAddress({ host, port: bound.port });
  armIdle();

  function armIdle() {
    clearTimeout(idleTimer);
    if (idleTimeout > 0 && connections.size === 0) {
      idleTimer = setTimeout(() => {
        if (connections.size === 0) {
          log(`idle for ${idleTimeout} ms, exiting`);
          void close();
        }
      }, idleTimeout);
    }
  }

  function accept(socket: net.Socket) {
    const conn: Connection = {
      socket,
      label: `#${nextConnection++}`,
      registrations: new Map(),
      registered: 0,
      watching: new Set(),
      leases: new Set(),
      leasing: 0,
    };
    socket.on('error', () => {});
    // A hello first all the same: the client knows it reached a registry, and reads why it is closed.
    send(conn, { type: 'hello', version: PROTOCOL_VERSION, pid: process.pid });
    if (connections.size >= maxConnections) {
      // Once per crowd, not once per connection a flood opens.
      if (refused++ === 0)
        log(`${connections.size} connections open, the most this registry serves: refusing more`);
      return reject(
        conn,
        `is one too many: this registry serves at most ${maxConnections} connections at once`,
        true,
        false,
      );
    }
    connections.add(conn);
    clearTimeout(idleTimer);
    // Dropping on `end` (before our FIN goes back) means a client whose close() resolved is gone
    // from every later answer.
    socket.on('end', () => drop(conn));
    socket.on('close', () => drop(conn));
    const split = lineSplitter(
      MAX_REQUEST_BYTES,
      (line) => handleLine(conn, line),
      () => reject(conn, `sent a line over the size limit (${MAX_REQUEST_BYTES} bytes)`),
    );
    socket.on('data', (chunk: Buffer) => {
      // Closed for breaking the protocol: nothing more it sends is acted on.
      if (socket.writableEnded) return;
      split(chunk);
      // A connection may stay open and silent for ever (a peer's, for its whole life), but not
      // in the middle of a line: its buffer would be held for as long.
      if (chunk[chunk.length - 1] === 0x0a) {
        clearTimeout(conn.partial);
        conn.partial = undefined;
      } else if (!conn.partial || chunk.includes(0x0a)) {
        clearTimeout(conn.partial);
        conn.partial = setTimeout(
          () => reject(conn, `left a line unfinished for ${partialLineTimeout / 1000} s`),
          partialLineTimeout,
        );
        conn.partial.unref();
      }
    });
  }

  /** Closes a connection that broke the protocol, telling it why unless it reads nothing anyway. */
  function reject(conn: Connection, why: string, tell = true, logged = true) {
    clearTimeout(conn.partial);
    if (logged) log(`connection ${conn.label} ${why}: closing it`);
    if (!tell || conn.socket.destroyed) {
      conn.socket.destroy();
      return;
    }
    // Id 0 answers no request: our clients ignore it, a person at the other end reads it.
    conn.socket.end(encode({ type: 'error', id: 0, message: `closing this connection: it ${why}` }));
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  }

  function send(conn: Connection, message: object) {
    sendLine(conn, encode(message));
  }

  function sendLine(conn: Connection, line: string) {
    if (conn.socket.destroyed) return;
    if (conn.socket.writableLength > MAX_BACKLOG_BYTES) return reject(conn, 'stopped reading', false);
    conn.socket.write(line);
  }

  function handleLine(conn: Connection, line: string) {
    // Closed (for breaking the protocol, or for not reading its answers) while the lines of one
    // chunk are handled: the rest of them are not acted on either. A chunk holds thousands of
    // requests, and each `status` lists every cluster: answered all the same, one chunk kept the
    // daemon from every other client for 19 s.
    if (conn.socket.writableEnded || conn.socket.destroyed) return;
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return reject(conn, 'sent a line that is not JSON');
    }
    const result = v.safeParse(requestSchema, parsed);
    if (!result.success) return reject(conn, `sent an invalid message (${describeIssue(result.issues[0])})`);
    const request = result.output;
    try {
      handleRequest(conn, request);
    } catch (error) {
      send(conn, { type: 'error', id: request.id, message: (error as Error).message });
    }
  }

  function handleRequest(conn: Connection, request: Request) {
    switch (request.type) {
      case 'register': {
        const { cluster, node } = request;
        const mine = conn.registrations.get(cluster) ?? new Set();
        if (!mine.has(node.id) && conn.registered >= MAX_NODES_PER_CONNECTION)
          throw new Error(
            `this connection has ${conn.registered} nodes registered, and may have at most ${MAX_NODES_PER_CONNECTION}; unregister some first`,
          );
        const members = clusters.get(cluster) ?? new Map<string, Claim[]>();
        const json = JSON.stringify(node);
        const size = json.length + 1;
        const shown = members.get(node.id)?.at(-1)?.size ?? 0;
        const length = (lengths.get(cluster) ?? 0) - shown + size;
        if (length > MAX_CLUSTER_CHARS)
          throw new Error(
            `cluster ${cluster} lists ${members.size} nodes, and may take at most ${MAX_CLUSTER_CHARS} characters to list`,
          );
        // Counted in a status as bytes (a character may take 3 of them), with its cluster's name
        // (`"name":[…],`) as if each node had it to itself: what a status takes is never more.
        const bytes = Buffer.byteLength(json) + Buffer.byteLength(JSON.stringify(cluster)) + 5;
        const previous = members.get(node.id)?.find((c) => c.owner === conn);
        const total = claimBytes - (previous?.bytes ?? 0) + bytes;
        if (total > MAX_REGISTERED_BYTES) {
          // Once until some are withdrawn, not once per registration refused.
          if (!full)
            log(
              `registrations take ${claimBytes} bytes, and may take at most ${MAX_REGISTERED_BYTES}: refusing more until some are withdrawn`,
            );
          full = true;
          throw new Error(
            `the registrations of every connection take ${claimBytes} bytes (${claimCount} nodes), and may take at most ${MAX_REGISTERED_BYTES} (${MAX_REGISTERED_BYTES / 2 ** 20} MiB) together, so that a status stays readable: this registry is full; stop some clusters (\`peer-cluster ls\` lists them)`,
          );
        }
        clusters.set(cluster, members);
        lengths.set(cluster, length);
        conn.registrations.set(cluster, mine);
        if (!mine.has(node.id)) conn.registered++;
        mine.add(node.id);
        const claims = (members.get(node.id) ?? []).filter((c) => c.owner !== conn);
        const under = claims.at(-1)?.owner.label;
        claims.push({ node, owner: conn, size, bytes });
        claimBytes = total;
        if (!previous) claimCount++;
        members.set(node.id, claims);
        log(
          `register ${node.id} in cluster ${cluster}${pidOf(node)} (${conn.label}${under ? `, over ${under}'s` : ''})`,
        );
        send(conn, { type: 'ok', id: request.id });
        notify(cluster);
        return;
      }
      case 'unregister': {
        // Only this connection's own registration: another connection's of the same id stays.
        if (conn.registrations.get(request.cluster)?.has(request.node)) {
          withdraw(conn, request.cluster, request.node, false);
        }
        send(conn, { type: 'ok', id: request.id });
        return;
      }
      case 'list':
        send(conn, { type: 'nodes', id: request.id, nodes: members(request.cluster) });
        return;
      case 'watch': {
        if (!conn.watching.has(request.cluster) && conn.watching.size >= MAX_NODES_PER_CONNECTION)
          throw new Error(
            `this connection watches ${conn.watching.size} clusters, and may watch at most ${MAX_NODES_PER_CONNECTION}; unwatch some first`,
          );
        const set = watchers.get(request.cluster) ?? new Set();
        watchers.set(request.cluster, set);
        set.add(conn);
        conn.watching.add(request.cluster);
        // The members as of now: the watcher needs no list request, every later change is pushed.
        send(conn, { type: 'nodes', id: request.id, nodes: members(request.cluster) });
        return;
      }
      case 'unwatch':
        unwatch(conn, request.cluster);
        send(conn, { type: 'ok', id: request.id });
        return;
      case 'lease': {
        // Leases are probed one request at a time so two requests never pick the same port.
        const { id, count, exclude } = request;
        // Checked now as well as when its turn comes: requests that could not all be granted are
        // not queued (one client could queue without bound, every other client's leases behind them).
        const denied = tooMany(conn, count + conn.leasing);
        if (denied) return send(conn, { type: 'error', id, message: `lease failed: ${denied}` });
        conn.leasing += count;
        leaseQueue = leaseQueue
          .then(() => {
            conn.leasing -= count;
            // Gone while it waited: nobody to lease for.
            return conn.socket.destroyed ? [] : lease(conn, count, exclude);
          })
          .then(
            (ports) => {
              if (conn.socket.destroyed) {
                for (const p of ports) leased.delete(p);
                return;
              }
              log(`lease ${ports.join(',')} (${conn.label})`);
              send(conn, { type: 'ports', id, ports });
            },
            (error: Error) => send(conn, { type: 'error', id, message: `lease failed: ${error.message}` }),
          );
        return;
      }
      case 'status':
        send(conn, {
          type: 'status',
          id: request.id,
          pid: process.pid,
          clusters: Object.fromEntries([...clusters.keys()].map((name) => [name, members(name)])),
          leases: [...leased.keys()].sort((a, b) => a - b),
          connections: connections.size,
        });
        return;
      case 'claim': {
        // No probe: the holder's apps may be listening on them right now.
        // Only ports a daemon leases, and no more than a connection may hold.
        const room = MAX_LEASES_PER_CONNECTION - conn.leases.size;
        const claimed = request.ports
          .filter((p) => p >= LEASE_RANGE[0] && p <= LEASE_RANGE[1])
          .filter((p) => !leased.has(p) || leased.get(p) === conn)
          .slice(0, Math.max(0, room));
        for (const p of claimed) {
          leased.set(p, conn);
          conn.leases.add(p);
        }
        if (claimed.length > 0) log(`claim ${claimed.join(',')} (${conn.label})`);
        send(conn, { type: 'ports', id: request.id, ports: claimed });
        return;
      }
      case 'release': {
        const released = request.ports.filter((p) => leased.get(p) === conn);
        for (const p of released) {
          leased.delete(p);
          conn.leases.delete(p);
        }
        if (released.length > 0) log(`release ${released.join(',')} (${conn.label})`);
        send(conn, { type: 'ok', id: request.id });
        return;
      }
    }
  }

  /** Why this connection may not have `count` more ports, if it may not. */
  function tooMany(conn: Connection, count: number): string | undefined {
    if (conn.leases.size + count > MAX_LEASES_PER_CONNECTION)
      return `this connection holds ${conn.leases.size} leases, and may hold at most ${MAX_LEASES_PER_CONNECTION}; release some first`;
    return undefined;
  }

  async function lease(conn: Connection, count: number, exclude: number[]): Promise<number[]> {
    const denied = tooMany(conn, count);
    if (denied) throw new Error(denied);
    const ports: number[] = [];
    const skip = new Set([...exclude, bound.port]);
    const [lo, hi] = LEASE_RANGE;
    for (let i = 0; i < count; i++) {
      if (leased.size + skip.size > hi - lo) throw rangeFull(conn, ports);
      const start = leaseCursor;
      const candidates = function* () {
        for (let p = start; p <= hi; p++) yield p;
        for (let p = lo; p < start; p++) yield p;
      };
      const port = await getPort({ port: candidates(), exclude: [...skip, ...leased.keys()] });
      // get-port falls back to any free port once every candidate is taken: never one outside the
      // range (DESIGN decision 1: leases stay below the ephemeral ports).
      if (port < lo || port > hi) throw rangeFull(conn, ports);
      // Rotating the start keeps a just-released port (whose holder may still be exiting) out of reach.
      leaseCursor = port >= lo && port < hi ? port + 1 : lo;
      leased.set(port, conn);
      conn.leases.add(port);
      ports.push(port);
    }
    return ports;
  }

  /** The lease range is used up: the ports this request had taken go back. */
  function rangeFull(conn: Connection, taken: number[]): Error {
    for (const p of taken) {
      leased.delete(p);
      conn.leases.delete(p);
    }
    return new Error(
      `no free port left in the lease range ${LEASE_RANGE[0]}-${LEASE_RANGE[1]} (${leased.size} leased, and ports released in the last 15-30 s are held back before they are leased again); stop some clusters, or \`peer-cluster ls\` to see who holds them`,
    );
  }

  function members(cluster: string): RegisteredNode[] {
    return [...(clusters.get(cluster)?.values() ?? [])].map((claims) => claims.at(-1)!.node);
  }

  /** Withdraws `conn`'s registration of `id`: the one beneath it, if any, is listed again. */
  function withdraw(conn: Connection, cluster: string, id: string, closed: boolean) {
    const mine = conn.registrations.get(cluster);
    if (mine?.delete(id)) conn.registered--;
    if (mine?.size === 0) conn.registrations.delete(cluster);
    const members = clusters.get(cluster);
    const claims = members?.get(id);
    const at = claims?.findIndex((c) => c.owner === conn) ?? -1;
    if (!members || !claims || at === -1) return;
    const [gone] = claims.splice(at, 1);
    claimBytes -= gone!.bytes;
    claimCount--;
    // Said once there is room for more than a registration or two (a tenth of the cap): a registry
    // at its cap whose clusters churn would otherwise log a pair of lines per churn.
    if (full && claimBytes < MAX_REGISTERED_BYTES * 0.9) {
      full = false;
      log(`registrations take ${claimBytes} bytes: accepting more again`);
    }
    const listed = at === claims.length;
    // (The one listed again may take the list a little over MAX_CLUSTER_CHARS: it was there first.)
    if (listed) lengths.set(cluster, lengths.get(cluster)! - gone!.size + (claims.at(-1)?.size ?? 0));
    if (claims.length === 0) members.delete(id);
    if (members.size === 0) {
      clusters.delete(cluster);
      lengths.delete(cluster);
    }
    const other = claims.at(-1)?.owner.label;
    log(
      `${closed ? 'gone' : 'unregister'} ${id} from cluster ${cluster} (${conn.label}${closed ? ' closed' : ''})${other ? `; ${other}'s registration of it ${listed ? 'is listed again' : 'stays listed'}` : ''}`,
    );
    // A registration beneath another changes nothing a watcher sees.
    if (listed) notify(cluster);
  }

  /** Clusters whose watchers have a change to hear of, pushed once the requests read meanwhile are handled. */
  const changed = new Set<string>();

  /**
   * Tells the cluster's watchers its members, after this turn of the event loop: the registrations
   * read in one turn (a cluster starting, many peers at once) make one push, not one each.
   */
  function notify(cluster: string) {
    if (!watchers.has(cluster)) return;
    if (changed.size === 0) setImmediate(pushChanges);
    changed.add(cluster);
  }

  function pushChanges() {
    for (const cluster of changed) {
      const set = watchers.get(cluster);
      if (!set) continue;
      // Encoded once: every watcher of the cluster gets the same line.
      const line = encode({ type: 'change', cluster, nodes: members(cluster) });
      for (const conn of set) push(conn, cluster, line);
    }
    changed.clear();
  }

  /**
   * A push lists the whole cluster, so a watcher still writing out earlier lines (a busy process,
   * while nodes register one by one) needs only the latest: it gets that once it has drained,
   * instead of every list meanwhile, which would grow past MAX_BACKLOG_BYTES and cut it off.
   */
  function push(conn: Connection, cluster: string, line: string) {
    if (!conn.socket.writableNeedDrain) return sendLine(conn, line);
    if (!conn.stale) {
      conn.stale = new Set();
      conn.socket.once('drain', () => pushStale(conn));
    }
    conn.stale.add(cluster);
  }

  function pushStale(conn: Connection) {
    const stale = conn.stale!;
    conn.stale = undefined;
    for (const cluster of stale) {
      if (conn.watching.has(cluster))
        push(conn, cluster, encode({ type: 'change', cluster, nodes: members(cluster) }));
    }
  }

  function unwatch(conn: Connection, cluster: string) {
    conn.watching.delete(cluster);
    const set = watchers.get(cluster);
    set?.delete(conn);
    if (set?.size === 0) watchers.delete(cluster);
  }

  function drop(conn: Connection) {
    if (!connections.delete(conn)) return;
    clearTimeout(conn.partial);
    if (refused > 0 && connections.size < maxConnections) {
      log(`accepting connections again (refused ${refused})`);
      refused = 0;
    }
    for (const cluster of [...conn.watching]) unwatch(conn, cluster);
    for (const [cluster, ids] of [...conn.registrations]) {
      for (const id of [...ids]) withdraw(conn, cluster, id, true);
    }
    const released = [...conn.leases].filter((p) => leased.get(p) === conn);
    for (const p of released) leased.delete(p);
    if (released.length > 0) log(`release ${released.join(',')} (${conn.label} closed)`);
    if (!closing) armIdle();
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      clearTimeout(idleTimer);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of connections) conn.socket.destroy();
      await stopped;
      markClosed();
    })();
    return closing;
  }

  return { address, host, port: bound.port, closed, close };
}

function pidOf(node: RegisteredNode): string {
  return node.pid ? ` (pid ${node.pid})` : '';
}

/** The longest delay a Node timer takes: a longer one fires at once (TimeoutOverflowWarning). */
export const MAX_TIMER = 2 ** 31 - 1;
const IDLE_TIMEOUT_RANGE = `expected a number of ms from 0 (never exit) to ${MAX_TIMER}`;

function idleTimeoutFromEnv(): number {
  const raw = process.env[IDLE_TIMEOUT_ENV];
  if (raw === undefined || raw === '') return DEFAULT_IDLE_TIMEOUT;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > MAX_TIMER)
    throw new InvalidOptionsError(IDLE_TIMEOUT_ENV, raw, IDLE_TIMEOUT_RANGE);
  return value;
}

/** Where in the message and what: `node.port: Invalid type: Expected number but received "x"`. */
function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = issue.path?.map((item) => String(item.key)).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
