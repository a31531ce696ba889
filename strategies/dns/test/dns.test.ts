import type { StrategyContext } from '@peer-cluster/core';
import { InvalidOptionsError } from '@peer-cluster/core';
import { DnsQueryError, dns } from '@peer-cluster/strategy-dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsServer, startDnsServer } from '../../../test-support/dns-server.js';
import { type Dnsmasq, dnsmasqPath, startDnsmasq } from './dnsmasq.js';

function context(host = '127.0.0.9', port = 1): StrategyContext {
  return {
    self: { id: `self@${host}:${port}`, name: 'self', host, port, cluster: 'dns-test' },
    node: undefined as never,
    signal: new AbortController().signal,
    log: () => {},
  };
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
    expect(() => dns({ query: 'x.test' })).toThrow(/dns\.port.*required/);
    expect(() => dns({ query: '', port: 1 })).toThrow(InvalidOptionsError);
    expect(() => dns({ query: 'x.test', port: 1, type: 'MX' as never })).toThrow(/dns\.type/);
    expect(() => dns({ query: 'x.test', port: 1, servers: ['not an ip'] })).toThrow(/dns\.servers/);
    expect(() => dns({ query: 'x.test', port: 1, basename: 'a@b' })).toThrow(/dns\.basename/);
    expect(() => dns({ query: 'x.test', port: 1, timeout: -1 })).toThrow(/dns\.timeout/);
    expect(() => dns({ query: 'x.test', port: 1, bogus: 1 } as never)).toThrow(/dns\.bogus/);
    expect(dns({ query: 'x.test', type: 'SRV' }).spec).toMatchObject({
      export: 'dns',
      options: { query: 'x.test', type: 'SRV' },
    });
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
