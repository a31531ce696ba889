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
 * - `timeout` — per-try query timeout in ms (2 tries per server). @default 2000
 *
 * Queries go through `dns.promises.Resolver`, never `dns.lookup` (which ignores `servers` and asks
 * /etc/hosts). SRV targets are resolved to A records (AAAA when a target has none) with the same
 * resolver. NXDOMAIN, refusals, server failures and timeouts throw a `DnsQueryError` carrying the
 * DNS code (`ENOTFOUND`, `EREFUSED`, `ESERVFAIL`, `ETIMEOUT`…): the healer reports a failed refresh
 * and tries again on the next one. A name with no records of the type discovers no node.
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
import { promises as dnsPromises, type SrvRecord } from 'node:dns';
import { isIP } from 'node:net';
import {
  InvalidOptionsError,
  PeerClusterError,
  portableStrategy,
  type Strategy,
  type StrategyContext,
} from '@peer-cluster/core/peer';

export interface DnsOptions {
  /** The name to resolve. */
  query: string;
  /** @default 'A' */
  type?: 'A' | 'AAAA' | 'SRV';
  /** Node name of every node found: `basename@ip:port`. @default none (`ip:port`) */
  basename?: string;
  /** Link port of the nodes, required for A/AAAA. */
  port?: number;
  /** DNS servers, `ip` or `ip:port`. @default the system's */
  servers?: string[];
  /** Per-try query timeout in ms. @default 2000 */
  timeout?: number;
}

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
  ECONNREFUSED: 'the server refused the query',
  ESERVFAIL: 'the server failed',
  ETIMEOUT: 'no answer in time',
  ECANCELLED: 'cancelled',
};

/** Per-server tries, each waiting `timeout` ms. */
const TRIES = 2;

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
  const { query, type = 'A', basename, port, servers, timeout = 2000 } = options;
  if (typeof query !== 'string' || query.length === 0 || query.length > 253)
    bad('query', query, 'expected a DNS name');
  if (type !== 'A' && type !== 'AAAA' && type !== 'SRV') bad('type', type, "expected 'A', 'AAAA' or 'SRV'");
  if (basename !== undefined && (typeof basename !== 'string' || !/^[^@\s/]+$/.test(basename)))
    bad('basename', basename, 'expected a node name without spaces, "@" or "/"');
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    bad('port', port, 'expected a port in 1..65535');
  if (port === undefined && type !== 'SRV')
    bad('port', port, 'a port is required for A and AAAA queries (SRV records carry their own)');
  if (!Number.isInteger(timeout) || timeout < 1) bad('timeout', timeout, 'expected a positive number of ms');
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
      const resolver = new dnsPromises.Resolver({ timeout: o.timeout, tries: TRIES });
      if (o.servers) resolver.setServers(o.servers);
      const cancel = () => resolver.cancel();
      ctx.signal.addEventListener('abort', cancel, { once: true });
      try {
        const found = o.type === 'SRV' ? await srv(resolver, o.query, o.servers) : await hosts(resolver, o);
        return withoutSelf(ctx, found, o.basename);
      } finally {
        ctx.signal.removeEventListener('abort', cancel);
      }
    },
  });
}

type Resolver = InstanceType<typeof dnsPromises.Resolver>;

async function hosts(
  resolver: Resolver,
  o: { query: string; type: 'A' | 'AAAA' | 'SRV'; port?: number | undefined; servers?: string[] | undefined },
): Promise<Endpoint[]> {
  const ips = await resolve(resolver, o.query, o.type === 'AAAA' ? 'AAAA' : 'A', o.servers);
  return ips.map((ip) => ({ ip, port: o.port! }));
}

async function srv(resolver: Resolver, query: string, servers: string[] | undefined): Promise<Endpoint[]> {
  let records: SrvRecord[];
  try {
    records = await resolver.resolveSrv(query);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENODATA') return [];
    throw new DnsQueryError(query, 'SRV', servers, error as NodeJS.ErrnoException);
  }
  const resolved = await Promise.all(
    records.map(async (record) => {
      const target = record.name.replace(/\.$/, '');
      if (isIP(target)) return [{ ip: target, port: record.port }];
      let ips = await resolve(resolver, target, 'A', servers);
      if (ips.length === 0) ips = await resolve(resolver, target, 'AAAA', servers);
      return ips.map((ip) => ({ ip, port: record.port }));
    }),
  );
  return resolved.flat();
}

/** The addresses of `name`; none when it has no records of that type (ENODATA). */
async function resolve(resolver: Resolver, name: string, type: 'A' | 'AAAA', servers: string[] | undefined) {
  try {
    return type === 'A' ? await resolver.resolve4(name) : await resolver.resolve6(name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENODATA') return [];
    throw new DnsQueryError(name, type, servers, error as NodeJS.ErrnoException);
  }
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
