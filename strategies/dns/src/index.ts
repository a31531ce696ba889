/**
 * `dns` — nodes found by DNS: the A/AAAA records of a name (every pod behind a Kubernetes headless
 * service, every host of a round-robin name) or its SRV records (targets and their ports).
 *
 * Options:
 * - `query` — the name to resolve. Required.
 * - `type` — `'A'`, `'AAAA'` or `'SRV'`. @default 'A'
 * - `basename` — the node name the found nodes share, giving `basename@ip:port`; without it the
 *   addresses are `ip:port` and each node's name is learned in the handshake. @default none
 * - `port` — the link port of every node, for A/AAAA (SRV records carry their own). Required for A/AAAA.
 * - `servers` — DNS servers (`'ip'` or `'ip:port'`, IPv6 as `'[ip]:port'`), instead of the system's.
 *   @default the system's resolvers
 * - `timeout` — the deadline of one whole discover in ms: every query it makes (for SRV, the SRV
 *   query and then its targets'), every try and every server. Past it the query still waiting fails
 *   with `ETIMEOUT`. Keep it well below the healer's refresh timeout (5000 ms by default), or the refresh times out
 *   first, without the DNS error. @default 3000
 *
 * Queries go through `dns.promises.Resolver`, never `dns.lookup` (which ignores `servers` and asks
 * /etc/hosts); each is tried twice per server, c-ares waiting about a third of `timeout` (jittered,
 * longer for the retry) before trying again, while the deadline bounds the whole discover. SRV
 * targets are resolved to A records (AAAA when a target has none) with the same resolver, each on
 * its own: a target that fails (NXDOMAIN, refused, no answer in time) is left out and logged
 * through the strategy context, the others are discovered; a target of "." (RFC 2782: no such
 * service here) is skipped, and a record of port 0 is left out and logged. NXDOMAIN, refusals,
 * server failures and timeouts of the query itself, or of every SRV target, throw a `DnsQueryError` carrying the DNS code (`ENOTFOUND`, `EREFUSED`,
 * `ESERVFAIL`, `ETIMEOUT`…): the healer reports a failed refresh and tries again on the next one.
 * A name with no records of the type discovers no node.
 *
 * @example
 * import { startNode } from '@peer-cluster/core';
 * import { dns } from '@peer-cluster/strategy-dns';
 *
 * // Every pod of a headless service, each node named `app`, links on port 4369.
 * await startNode({ name: 'app', cookie, host: podIp, port: 4369,
 *   strategy: dns({ query: 'app.default.svc.cluster.local', basename: 'app', port: 4369 }) });
 * // Or with SRV records, from a given server.
 * dns({ query: '_cluster._tcp.example.internal', type: 'SRV', servers: ['10.0.0.2'] });
 */
import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';
import {
  InvalidOptionsError,
  PeerClusterError,
  portableStrategy,
  type Strategy,
  type StrategyContext,
} from '@peer-cluster/core/peer';

/** The options every query type takes. */
export interface DnsCommonOptions {
  /** The name to resolve. */
  query: string;
  /** Node name of every node found: `basename@ip:port`. @default none (`ip:port`) */
  basename?: string | undefined;
  /** DNS servers, `ip` or `ip:port`. @default the system's */
  servers?: string[] | undefined;
  /** Deadline of one whole discover (every query, try and server) in ms. @default 3000 */
  timeout?: number | undefined;
}

/**
 * `dns`'s options. A and AAAA records carry no port, so those queries need `port` (the link port of
 * every node); SRV records carry their own.
 */
export type DnsOptions = DnsCommonOptions &
  (
    | {
        /** @default 'A' */
        type?: 'A' | 'AAAA' | undefined;
        /** Link port of the nodes: required for A/AAAA. */
        port: number;
      }
    | {
        type: 'SRV';
        /** SRV records carry each node's port. */
        port?: number | undefined;
      }
  );

/** A DNS query failed; `code` is Node's DNS error code (`ENOTFOUND` for NXDOMAIN, `ETIMEOUT`…). */
export class DnsQueryError extends PeerClusterError {
  readonly code: string;
  readonly query: string;
  readonly type: string;
  constructor(query: string, type: string, servers: string[] | undefined, cause: NodeJS.ErrnoException) {
    const code = cause.code ?? 'EUNKNOWN';
    const via = servers ? ` via ${servers.join(', ')}` : '';
    super(
      `DNS ${type} query for ${query}${via} failed: ${code}${MEANING[code] ? ` (${MEANING[code]})` : ''}`,
      {
        cause,
      },
    );
    this.code = code;
    this.query = query;
    this.type = type;
  }
}

const MEANING: Record<string, string> = {
  ENOTFOUND: 'NXDOMAIN: no such name',
  EREFUSED: 'the server refused the query',
  ECONNREFUSED: "nothing listens on that server's port: the query could not be delivered",
  ESERVFAIL: 'the server failed',
  ETIMEOUT: 'no answer in time',
  ECANCELLED: 'cancelled',
};

/**
 * Per-server tries. c-ares's per-try timeout is `timeout / 3`, which it jitters and lengthens for
 * the retry (2000 ms with 2 tries used to be 7 s in all): the discover's own deadline bounds it.
 */
const TRIES = 2;
/** Below core's healer refresh timeout (5000 ms), so that a silent server is reported as such. */
const DEFAULT_TIMEOUT = 3000;
/** setTimeout's largest delay. */
const MAX_TIMEOUT = 2 ** 31 - 1;

/** Labels of 1 to 63 letters, digits, `-` or `_` (`_service._proto` of SRV), an optional final dot. */
const DNS_NAME = /^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?$/;

const KNOWN = new Set(['query', 'type', 'basename', 'port', 'servers', 'timeout']);

/** Checks the options, naming the first bad one; returns them with their defaults. */
function validate(options: DnsOptions) {
  const bad = (option: string, value: unknown, problem: string): never => {
    throw new InvalidOptionsError(`dns.${option}`, value, problem);
  };
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionsError('dns', options, 'expected an options object with at least `query`');
  for (const key of Object.keys(options))
    if (!KNOWN.has(key)) bad(key, options[key as keyof DnsOptions], 'unknown option');
  const { query, type = 'A', basename, port, servers, timeout = DEFAULT_TIMEOUT } = options;
  if (typeof query !== 'string' || !DNS_NAME.test(query) || query.replace(/\.$/, '').length > 253)
    bad(
      'query',
      query,
      'expected a DNS name: dot-separated labels of 1 to 63 letters, digits, "-" or "_", 253 characters at most',
    );
  if (type !== 'A' && type !== 'AAAA' && type !== 'SRV') bad('type', type, "expected 'A', 'AAAA' or 'SRV'");
  if (basename !== undefined && (typeof basename !== 'string' || !/^[^@\s/]+$/.test(basename)))
    bad('basename', basename, 'expected a node name without spaces, "@" or "/"');
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    bad('port', port, 'expected a port in 1..65535');
  if (port === undefined && type !== 'SRV')
    bad('port', port, 'a port is required for A and AAAA queries (SRV records carry their own)');
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT)
    bad('timeout', timeout, `expected a whole number of ms in 1..${MAX_TIMEOUT}`);
  if (servers !== undefined) {
    if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string'))
      bad('servers', servers, 'expected a non-empty array of "ip" or "ip:port"');
    // Before setServers: it aborts the whole process on port 0 (a failed assertion in Node's
    // cares_wrap), and takes any larger number (querying port 99999 & 0xffff).
    for (const server of servers) {
      const port = /^(?:\[[^\]]+\]|[^:]+):(\d+)$/.exec(server)?.[1];
      if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
        bad('servers', servers, `${server} has a port outside 1..65535`);
    }
    try {
      new dnsPromises.Resolver().setServers(servers);
    } catch (error) {
      bad('servers', servers, `${(error as Error).message}; use "ip" or "ip:port"`);
    }
  }
  return { query, type, basename, port, servers, timeout };
}

export function dns(options: DnsOptions): Strategy {
  const o = validate(options);

  return portableStrategy({
    name: 'dns',
    spec: { module: import.meta.url, export: 'dns', options: { ...options } },
    async discover(ctx) {
      const resolver = new dnsPromises.Resolver({ timeout: Math.ceil(o.timeout / 3), tries: TRIES });
      if (o.servers) resolver.setServers(o.servers);
      const lookup: Lookup = { resolver, servers: o.servers, expired: false };
      const cancel = () => resolver.cancel();
      // c-ares alone may take several times `timeout` (retries wait longer, SRV targets come after
      // the SRV query): past the deadline, what is still waiting fails as ETIMEOUT.
      const deadline = setTimeout(() => {
        lookup.expired = true;
        resolver.cancel();
      }, o.timeout);
      ctx.signal.addEventListener('abort', cancel, { once: true });
      try {
        const found = o.type === 'SRV' ? await srv(lookup, o.query, ctx) : await hosts(lookup, o);
        return withoutSelf(ctx, found, o.basename);
      } finally {
        clearTimeout(deadline);
        ctx.signal.removeEventListener('abort', cancel);
      }
    },
  });
}

type Resolver = InstanceType<typeof dnsPromises.Resolver>;

/** One discover's queries: its resolver, and whether its deadline has passed. */
interface Lookup {
  resolver: Resolver;
  servers: string[] | undefined;
  expired: boolean;
}

async function hosts(
  lookup: Lookup,
  o: { query: string; type: 'A' | 'AAAA' | 'SRV'; port?: number | undefined },
): Promise<Endpoint[]> {
  const ips = await resolve(lookup, o.query, o.type === 'AAAA' ? 'AAAA' : 'A');
  return ips.map((ip) => ({ ip, port: o.port! }));
}

async function srv(lookup: Lookup, query: string, ctx: StrategyContext): Promise<Endpoint[]> {
  const records = await ask(lookup, query, 'SRV', (r) => r.resolveSrv(query));
  // A target of "." (c-ares gives "") says the service is not available at this name (RFC 2782).
  // Port 0 is no link port: such a record is left out here, saying so, rather than given to the
  // healer as an address that fails every refresh.
  const targets = records
    .map((record) => ({ name: record.name.replace(/\.$/, ''), port: record.port }))
    .filter((target) => {
      if (target.name === '') return false;
      if (target.port >= 1 && target.port <= 65535) return true;
      ctx.log?.(`SRV target ${target.name}:${target.port} of ${query} left out: not a port (1-65535)`);
      return false;
    });
  // Each target on its own: one stale or foreign record must not hide the others.
  const settled = await Promise.allSettled(
    targets.map(async ({ name, port }) => {
      if (isIP(name)) return [{ ip: name, port }];
      let ips = await resolve(lookup, name, 'A');
      if (ips.length === 0) ips = await resolve(lookup, name, 'AAAA');
      return ips.map((ip) => ({ ip, port }));
    }),
  );
  const found: Endpoint[] = [];
  const failures: unknown[] = [];
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      found.push(...outcome.value);
      return;
    }
    failures.push(outcome.reason);
    if (ctx.signal.aborted) return; // the refresh is abandoned: its cancelled queries are no news
    const { name, port } = targets[i]!;
    // A DnsQueryError's message names the query, the servers and the code.
    ctx.log?.(`SRV target ${name}:${port} of ${query} left out: ${(outcome.reason as Error).message}`);
  });
  if (failures.length > 0 && failures.length === targets.length) throw failures[0];
  return found;
}

/** The addresses of `name`; none when it has no records of that type (ENODATA). */
function resolve(lookup: Lookup, name: string, type: 'A' | 'AAAA'): Promise<string[]> {
  return ask(lookup, name, type, (r) => (type === 'A' ? r.resolve4(name) : r.resolve6(name)));
}

/** One query; ENODATA is no records, every other failure a DnsQueryError (ETIMEOUT past the deadline). */
async function ask<T>(
  lookup: Lookup,
  name: string,
  type: string,
  query: (resolver: Resolver) => Promise<T[]>,
): Promise<T[]> {
  if (lookup.expired) throw new DnsQueryError(name, type, lookup.servers, timedOut(name, type));
  try {
    return await query(lookup.resolver);
  } catch (error) {
    let cause = error as NodeJS.ErrnoException;
    if (cause.code === 'ENODATA') return [];
    if (cause.code === 'ECANCELLED' && lookup.expired) cause = timedOut(name, type, cause);
    throw new DnsQueryError(name, type, lookup.servers, cause);
  }
}

/** What c-ares would have said, had its own timeout come first. */
function timedOut(name: string, type: string, cause?: Error): NodeJS.ErrnoException {
  return Object.assign(new Error(`query${type} ETIMEOUT ${name}`, cause ? { cause } : undefined), {
    code: 'ETIMEOUT',
    syscall: `query${type}`,
    hostname: name,
  });
}

interface Endpoint {
  ip: string;
  port: number;
}

function withoutSelf(ctx: StrategyContext, found: Endpoint[], basename: string | undefined): string[] {
  const addresses = new Set<string>();
  for (const { ip, port } of found) {
    if (ip === ctx.self.host && port === ctx.self.port) continue;
    const hostPort = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
    addresses.add(basename ? `${basename}@${hostPort}` : hostPort);
  }
  return [...addresses];
}
