import dgram from 'node:dgram';
import { once } from 'node:events';
import type { ClusterNode, Strategy, StrategyContext } from '@peer-cluster/core';
import { InvalidOptionsError, PeerClusterError, runOnce, startNode } from '@peer-cluster/core';
import { DnsQueryError, dns } from '@peer-cluster/strategy-dns';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DnsServer, startDnsServer } from '../../../test-support/dns-server.js';
import { type Dnsmasq, dnsmasqPath, startDnsmasq } from './dnsmasq.js';

function context(host = '127.0.0.9', port = 1, log: (line: string) => void = () => {}): StrategyContext {
  return {
    self: { id: `self@${host}:${port}`, name: 'self', host, port, cluster: 'dns-test' },
    node: undefined as never,
    signal: new AbortController().signal,
    log,
  };
}

/** A context whose log lines are kept. */
function logging(): { ctx: StrategyContext; lines: string[] } {
  const lines: string[] = [];
  return { ctx: context(undefined, undefined, (line) => lines.push(line)), lines };
}

describe('dns strategy against a dns-packet server', () => {
  let server: DnsServer;
  beforeAll(async () => {
    server = await startDnsServer({
      'nodes.peer.test': { A: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] },
      'six.peer.test': { AAAA: ['::1'] },
      'empty.peer.test': {},
      '_peer._tcp.peer.test': {
        SRV: [
          { target: 'n1.peer.test', port: 4001 },
          { target: 'n2.peer.test', port: 4002 },
        ],
      },
      'n1.peer.test': { A: ['127.0.0.2'] },
      'n2.peer.test': { AAAA: ['::1'] },
      'refused.peer.test': 'REFUSED',
      'broken.peer.test': 'SERVFAIL',
      'silent.peer.test': 'TIMEOUT',
    });
  });
  afterAll(() => server.close());

  it('turns A records into basename@ip:port, leaving itself out', async () => {
    const strategy = dns({
      query: 'nodes.peer.test',
      basename: 'app',
      port: 4369,
      servers: [server.address],
    });
    expect(await strategy.discover(context('127.0.0.3', 4369))).toEqual([
      'app@127.0.0.2:4369',
      'app@127.0.0.4:4369',
    ]);
    const anonymous = dns({ query: 'nodes.peer.test', port: 4369, servers: [server.address] });
    expect(await anonymous.discover(context())).toEqual([
      '127.0.0.2:4369',
      '127.0.0.3:4369',
      '127.0.0.4:4369',
    ]);
  });

  it('turns AAAA records into bracketed addresses', async () => {
    const strategy = dns({
      query: 'six.peer.test',
      type: 'AAAA',
      basename: 'v6',
      port: 4000,
      servers: [server.address],
    });
    expect(await strategy.discover(context())).toEqual(['v6@[::1]:4000']);
  });

  it('takes ports from SRV records and resolves their targets with the same server', async () => {
    const strategy = dns({ query: '_peer._tcp.peer.test', type: 'SRV', servers: [server.address] });
    expect((await strategy.discover(context())).sort()).toEqual(['127.0.0.2:4001', '[::1]:4002']);
    expect(server.queries.get('A n1.peer.test')).toBeGreaterThan(0);
  });

  it('leaves out an SRV record of port 0, and logs it', async () => {
    const own = await startDnsServer({
      '_zero._tcp.peer.test': {
        SRV: [
          { target: 'n1.peer.test', port: 0 },
          { target: 'n1.peer.test', port: 4001 },
        ],
      },
      'n1.peer.test': { A: ['127.0.0.2'] },
    });
    try {
      const { ctx, lines } = logging();
      const strategy = dns({ query: '_zero._tcp.peer.test', type: 'SRV', servers: [own.address] });
      expect(await strategy.discover(ctx)).toEqual(['127.0.0.2:4001']);
      expect(lines).toEqual([
        'SRV target n1.peer.test:0 of _zero._tcp.peer.test left out: not a port (1-65535)',
      ]);
    } finally {
      await own.close();
    }
  });

  it('leaves out an SRV target that does not answer in time, and logs it', async () => {
    server.setZone({
      '_half._tcp.peer.test': {
        SRV: [
          { target: 'n1.peer.test', port: 4001 },
          { target: 'silent.peer.test', port: 4002 },
        ],
      },
      '_mute._tcp.peer.test': { SRV: [{ target: 'silent.peer.test', port: 4002 }] },
      'n1.peer.test': { A: ['127.0.0.2'] },
      'silent.peer.test': 'TIMEOUT',
    });
    const { ctx, lines } = logging();
    const half = dns({ query: '_half._tcp.peer.test', type: 'SRV', servers: [server.address], timeout: 300 });
    expect(await half.discover(ctx)).toEqual(['127.0.0.2:4001']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/silent\.peer\.test:4002 of _half\._tcp\.peer\.test.*ETIMEOUT/);
    // The deadline covers the targets' queries too, and names the one still waiting.
    const mute = dns({ query: '_mute._tcp.peer.test', type: 'SRV', servers: [server.address], timeout: 300 });
    await expect(mute.discover(context())).rejects.toMatchObject({
      name: 'DnsQueryError',
      code: 'ETIMEOUT',
      query: 'silent.peer.test',
      message: expect.stringContaining(`silent.peer.test via ${server.address}`),
    });
  });

  it('tells a closed port (ECONNREFUSED) from a server refusing the query (EREFUSED)', async () => {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const closed = `127.0.0.1:${socket.address().port}`;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    const error = (await Promise.resolve(
      dns({ query: 'nodes.peer.test', port: 1, servers: [closed] }).discover(context()),
    ).catch((e: unknown) => e)) as DnsQueryError;
    expect(error).toMatchObject({ name: 'DnsQueryError', code: 'ECONNREFUSED' });
    expect(error.message).toContain('nothing listens');
    expect(error.message).not.toContain('refused the query');
  });

  it('sees a changed zone on the next discover', async () => {
    const strategy = dns({ query: 'grow.peer.test', port: 4000, servers: [server.address] });
    server.setZone({ 'grow.peer.test': { A: ['127.0.0.2'] } });
    expect(await strategy.discover(context())).toEqual(['127.0.0.2:4000']);
    server.setZone({ 'grow.peer.test': { A: ['127.0.0.2', '127.0.0.5'] } });
    expect(await strategy.discover(context())).toEqual(['127.0.0.2:4000', '127.0.0.5:4000']);
  });

  it('reports NXDOMAIN, REFUSED, SERVFAIL and timeouts with their codes', async () => {
    server.setZone({
      'empty.peer.test': {},
      'refused.peer.test': 'REFUSED',
      'broken.peer.test': 'SERVFAIL',
      'silent.peer.test': 'TIMEOUT',
    });
    const failure = async (query: string) => {
      const strategy = dns({ query, port: 4000, servers: [server.address], timeout: 200 });
      return (await Promise.resolve(strategy.discover(context())).catch((e: unknown) => e)) as DnsQueryError;
    };
    const nx = await failure('missing.peer.test');
    expect(nx).toBeInstanceOf(DnsQueryError);
    expect(nx).toBeInstanceOf(PeerClusterError);
    expect(nx.name).toBe('DnsQueryError');
    expect(nx.code).toBe('ENOTFOUND');
    expect(nx.message).toContain('missing.peer.test');
    expect((await failure('refused.peer.test')).code).toBe('EREFUSED');
    expect((await failure('broken.peer.test')).code).toBe('ESERVFAIL');
    expect((await failure('silent.peer.test')).code).toBe('ETIMEOUT');
    // A name without records of the type is an empty cluster, not a failure.
    expect(
      await dns({ query: 'empty.peer.test', port: 4000, servers: [server.address] }).discover(context()),
    ).toEqual([]);
  });

  it('validates its options with InvalidOptionsError', () => {
    // (Its type says so too: the cast is a JavaScript caller.)
    expect(() => dns({ query: 'x.test' } as never)).toThrow(/dns\.port.*required/);
    expect(() => dns({ query: '', port: 1 })).toThrow(InvalidOptionsError);
    expect(() => dns({ query: 'x.test', port: 1, type: 'MX' as never })).toThrow(/dns\.type/);
    expect(() => dns({ query: 'x.test', port: 1, servers: ['not an ip'] })).toThrow(/dns\.servers/);
    for (const server of ['127.0.0.1:99999', '127.0.0.1:0', '[::1]:70000'])
      expect(() => dns({ query: 'x.test', port: 1, servers: [server] }), server).toThrow(
        `${server} has a port outside 1..65535`,
      );
    expect(() =>
      dns({ query: 'x.test', port: 1, servers: ['127.0.0.1:53', '[::1]:5353', '::1'] }),
    ).not.toThrow();
    // Node's setServers aborts the process on port 0: any server string is accepted or named.
    fc.assert(
      fc.property(
        fc.constantFrom('127.0.0.1', '[::1]', '0.0.0.0', '[::ffff:127.0.0.1]', ' 10.0.0.1'),
        fc.oneof(fc.nat({ max: 10 }), fc.nat({ max: 2 ** 32 })),
        fc.constantFrom('', '0', '00'),
        (ip, port, pad) => {
          try {
            dns({ query: 'x.test', port: 1, servers: [`${ip}:${pad}${port}`] });
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidOptionsError);
          }
        },
      ),
    );
    expect(() => dns({ query: 'x.test', port: 1, basename: 'a@b' })).toThrow(/dns\.basename/);
    expect(() => dns({ query: 'x.test', port: 1, timeout: -1 })).toThrow(/dns\.timeout/);
    expect(() => dns({ query: 'x.test', port: 1, bogus: 1 } as never)).toThrow(/dns\.bogus/);
    expect(dns({ query: 'x.test', type: 'SRV' }).spec).toMatchObject({
      export: 'dns',
      options: { query: 'x.test', type: 'SRV' },
    });
  });

  it('refuses a query that is not a DNS name, rather than failing every refresh with EBADNAME', () => {
    const label = 'a'.repeat(63);
    const longest = [label, label, label, 'b'.repeat(61)].join('.'); // 253 characters
    for (const query of [
      'a..b',
      'bad name!',
      '.',
      '.x.test',
      'x.test..',
      `${label}a.test`,
      `${longest}c`,
      'é.test',
    ]) {
      let error: unknown;
      try {
        dns({ query, port: 1 });
      } catch (e) {
        error = e;
      }
      expect(error, query).toBeInstanceOf(InvalidOptionsError);
      expect(error, query).toMatchObject({ option: 'dns.query', value: query });
    }
    expect(() => dns({ query: 'a..b', port: 1 })).toThrow(
      /`dns\.query`: expected a DNS name.*\(got "a\.\.b"\)/,
    );
    for (const query of [
      'x',
      'x.test.',
      '_peer._tcp.peer.test',
      'a-b.c_d.test',
      `${label}.test`,
      longest,
      `${longest}.`,
    ])
      expect(() => dns({ query, port: 1 }), query).not.toThrow();
  });

  it("bounds timeout to setTimeout's range", () => {
    // Past setTimeout's range Node's Resolver throws a RangeError on every refresh.
    expect(() => dns({ query: 'x.test', port: 1, timeout: 2 ** 31 })).toThrow(
      /dns\.timeout.*1\.\.2147483647.*got 2147483648/,
    );
    expect(() => dns({ query: 'x.test', port: 1, timeout: 2 ** 31 - 1 })).not.toThrow();
  });
});

const dnsmasq = dnsmasqPath();
if (!dnsmasq) {
  console.warn('dnsmasq is not installed (apt-get install dnsmasq-base): skipping the dnsmasq tests');
}

describe.skipIf(!dnsmasq)('dns strategy against a real dnsmasq', () => {
  let server: Dnsmasq;
  beforeAll(async () => {
    server = await startDnsmasq(dnsmasq!, 'peer.test', [
      '--host-record=nodes.peer.test,127.0.0.2',
      '--host-record=nodes.peer.test,127.0.0.3',
      '--host-record=n1.peer.test,127.0.0.2',
      '--host-record=n2.peer.test,127.0.0.3',
      '--srv-host=_peer._tcp.peer.test,n1.peer.test,4001',
      '--srv-host=_peer._tcp.peer.test,n2.peer.test,4002',
      // RFC 2782's "no such service here": a target of ".".
      '--srv-host=_none._tcp.peer.test',
      // One target that resolves, one stale (NXDOMAIN), one outside dnsmasq's zone (REFUSED).
      '--srv-host=_mixed._tcp.peer.test,n1.peer.test,4001',
      '--srv-host=_mixed._tcp.peer.test,gone.peer.test,4003',
      '--srv-host=_mixed._tcp.peer.test,host.elsewhere.test,4004',
      '--srv-host=_stale._tcp.peer.test,gone.peer.test,4003',
    ]);
  });
  afterAll(() => server?.stop());

  it('resolves A records', async () => {
    const strategy = dns({
      query: 'nodes.peer.test',
      basename: 'app',
      port: 4369,
      servers: [server.address],
    });
    expect((await strategy.discover(context())).sort()).toEqual(['app@127.0.0.2:4369', 'app@127.0.0.3:4369']);
  });

  it('resolves SRV records and their targets', async () => {
    const strategy = dns({ query: '_peer._tcp.peer.test', type: 'SRV', servers: [server.address] });
    expect((await strategy.discover(context())).sort()).toEqual(['127.0.0.2:4001', '127.0.0.3:4002']);
  });

  it('skips SRV records whose target is "." (no such service)', async () => {
    const { ctx, lines } = logging();
    const strategy = dns({ query: '_none._tcp.peer.test', type: 'SRV', servers: [server.address] });
    expect(await strategy.discover(ctx)).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('discovers the SRV targets that resolve and logs the others', async () => {
    const { ctx, lines } = logging();
    const mixed = dns({ query: '_mixed._tcp.peer.test', type: 'SRV', servers: [server.address] });
    expect(await mixed.discover(ctx)).toEqual(['127.0.0.2:4001']);
    expect(lines.sort()).toEqual([
      expect.stringMatching(
        /^SRV target gone\.peer\.test:4003 of _mixed\._tcp\.peer\.test left out: .*ENOTFOUND/,
      ),
      expect.stringMatching(
        /^SRV target host\.elsewhere\.test:4004 of _mixed\._tcp\.peer\.test left out: .*EREFUSED/,
      ),
    ]);
    // Only when every target fails does the discover fail, with the target's error.
    const stale = logging();
    await expect(
      dns({ query: '_stale._tcp.peer.test', type: 'SRV', servers: [server.address] }).discover(stale.ctx),
    ).rejects.toMatchObject({ name: 'DnsQueryError', code: 'ENOTFOUND', query: 'gone.peer.test' });
    expect(stale.lines).toEqual([expect.stringContaining('gone.peer.test:4003')]);
  });

  it('reports NXDOMAIN inside its zone and REFUSED outside it', async () => {
    const nx = dns({ query: 'missing.peer.test', port: 1, servers: [server.address] });
    await expect(nx.discover(context())).rejects.toMatchObject({ name: 'DnsQueryError', code: 'ENOTFOUND' });
    const outside = dns({ query: 'example.com', port: 1, servers: [server.address] });
    await expect(outside.discover(context())).rejects.toMatchObject({
      name: 'DnsQueryError',
      code: 'EREFUSED',
    });
  });
});

describe('dns driving real nodes', () => {
  const cookie = 'dns-cookie';
  const started: ClusterNode[] = [];
  let server: DnsServer;
  beforeAll(async () => {
    server = await startDnsServer();
  });
  afterAll(() => server.close());
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.stop()));
  });
  async function node(options: { name: string; host?: string; port?: number; strategy?: Strategy }) {
    const n = await startNode({ cookie, cluster: 'dns', healer: { pollInterval: 60_000 }, ...options });
    started.push(n);
    return n;
  }

  it('links many hosts on one port found by A records (a headless service)', async () => {
    const first = await node({ name: 'app', host: '127.0.0.2' });
    const port = first.port;
    server.setZone({ 'app.peer.test': { A: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] } });
    const strategy = dns({ query: 'app.peer.test', basename: 'app', port, servers: [server.address] });
    const others = [
      await node({ name: 'app', host: '127.0.0.3', port }),
      await node({ name: 'app', host: '127.0.0.4', port }),
    ];
    const all = [first, ...others];
    for (const n of all) {
      const result = await runOnce(n, strategy);
      expect(result.failed).toEqual([]);
    }
    for (const n of all)
      expect(n.nodes().sort()).toEqual(
        all
          .filter((o) => o !== n)
          .map((o) => o.id)
          .sort(),
      );
    expect(all.map((n) => n.id)).toEqual([
      `app@127.0.0.2:${port}`,
      `app@127.0.0.3:${port}`,
      `app@127.0.0.4:${port}`,
    ]);
  });

  it('links the nodes that SRV records point at', async () => {
    const b = await node({ name: 'b' });
    const c = await node({ name: 'c' });
    server.setZone({
      '_cluster._tcp.peer.test': {
        SRV: [
          { target: 'b.peer.test', port: b.port },
          { target: 'c.peer.test', port: c.port },
          // A stale record (the pod is gone): the others are linked all the same.
          { target: 'gone.peer.test', port: 1 },
        ],
      },
      'b.peer.test': { A: ['127.0.0.1'] },
      'c.peer.test': { A: ['127.0.0.1'] },
    });
    const a = await node({
      name: 'a',
      strategy: dns({ query: '_cluster._tcp.peer.test', type: 'SRV', servers: [server.address] }),
    });
    // The healer's first refresh runs at start; this one waits behind it.
    const result = await a.healer.refresh();
    expect(result.discovered.sort()).toEqual([`127.0.0.1:${b.port}`, `127.0.0.1:${c.port}`].sort());
    expect(result.failed).toEqual([]);
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());
  });

  it('with the default timeout, reports a silent server as ETIMEOUT within the refresh timeout', async () => {
    server.setZone({ 'silent.peer.test': 'TIMEOUT' });
    const a = await node({ name: 'a' });
    const started = Date.now();
    // runOnce gives the strategy core's default refresh timeout, 5000 ms.
    const result = await runOnce(
      a,
      dns({ query: 'silent.peer.test', port: 4000, servers: [server.address] }),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.error).toMatchObject({
      name: 'DnsQueryError',
      code: 'ETIMEOUT',
      message: expect.stringContaining(`silent.peer.test via ${server.address}`),
    });
  });

  it('turns DNS failures into failed refreshes with their codes, never crashes', async () => {
    server.setZone({ 'refused.peer.test': 'REFUSED', 'silent.peer.test': 'TIMEOUT' });
    const a = await node({ name: 'a' });
    for (const [query, code] of [
      ['missing.peer.test', 'ENOTFOUND'],
      ['refused.peer.test', 'EREFUSED'],
      ['silent.peer.test', 'ETIMEOUT'],
    ] as const) {
      const result = await runOnce(a, dns({ query, port: 4000, servers: [server.address], timeout: 200 }));
      expect(result.failed).toHaveLength(1);
      expect(result.failed[0]!.node).toBe('*');
      expect(result.failed[0]!.error).toMatchObject({ name: 'DnsQueryError', code });
    }
    const errors: Error[] = [];
    const b = await node({
      name: 'b',
      strategy: dns({ query: 'missing.peer.test', port: 4000, servers: [server.address] }),
    });
    b.healer.on('error', (e) => errors.push(e));
    const result = await b.healer.refresh();
    expect(result.failed[0]!.error).toMatchObject({ code: 'ENOTFOUND' });
    expect(b.healer.state).toBe('running');
  });
});

describe.skipIf(!dnsmasq)('dns driving real nodes through dnsmasq', () => {
  const started: ClusterNode[] = [];
  let server: Dnsmasq | undefined;
  afterAll(async () => {
    await Promise.all(started.map((n) => n.stop()));
    await server?.stop();
  });

  it('links nodes found by A and SRV records', async () => {
    const start = (name: string, host: string, port = 0) =>
      startNode({ name, cookie: 'dnsmasq-cookie', cluster: 'dnsmasq', host, port }).then((n) => {
        started.push(n);
        return n;
      });
    const x = await start('app', '127.0.0.2');
    const y = await start('app', '127.0.0.3', x.port);
    const z = await start('z', '127.0.0.1');
    server = await startDnsmasq(dnsmasq!, 'mesh.test', [
      '--host-record=app.mesh.test,127.0.0.2',
      '--host-record=app.mesh.test,127.0.0.3',
      '--host-record=z.mesh.test,127.0.0.1',
      `--srv-host=_z._tcp.mesh.test,z.mesh.test,${z.port}`,
    ]);
    const byA = await runOnce(
      x,
      dns({ query: 'app.mesh.test', basename: 'app', port: x.port, servers: [server.address] }),
    );
    expect(byA, JSON.stringify(byA)).toMatchObject({ connected: [y.id] });
    const bySrv = await runOnce(
      x,
      dns({ query: '_z._tcp.mesh.test', type: 'SRV', servers: [server.address] }),
    );
    expect(bySrv.connected).toEqual([z.id]);
    expect(x.nodes().sort()).toEqual([y.id, z.id].sort());
  });
});
