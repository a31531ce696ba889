// The dnsmasq test server's port retry (dnsmasq.ts): the free port it picks can be taken by
// another process (another test file's server, say) before dnsmasq binds it. dnsmasq then exits
// ("Address already in use"), or the port answers as another DNS server; either way the helper
// starts dnsmasq on another port rather than failing dns.test.ts. Here the first port it is given
// is taken for certain.
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startDnsServer } from '../../../test-support/dns-server.js';
import { dnsmasqPath, freeDnsPort, startDnsmasq } from './dnsmasq.js';

const dnsmasq = dnsmasqPath();

/** Hands out `taken` first, then free ports; says which it gave. */
function takenFirst(taken: number) {
  const given: number[] = [];
  const port = async () => {
    const next = given.length === 0 ? taken : await freeDnsPort();
    given.push(next);
    return next;
  };
  return { given, port };
}

async function expectServesOnAnotherPort(taken: number) {
  const { given, port } = takenFirst(taken);
  const server = await startDnsmasq(dnsmasq!, 'retry.test', ['--host-record=a.retry.test,127.0.0.9'], port);
  try {
    // The taken port first, then another (more than one if a free port is taken meanwhile).
    expect(given[0]).toBe(taken);
    expect(given.length).toBeGreaterThan(1);
    expect(server.address).toBe(`127.0.0.1:${given.at(-1)}`);
    const resolver = new Resolver({ timeout: 1000, tries: 3 });
    resolver.setServers([server.address]);
    expect(await resolver.resolve4('a.retry.test')).toEqual(['127.0.0.9']);
  } finally {
    await server.stop();
  }
}

describe.skipIf(!dnsmasq)('the dnsmasq test server, when the port it picked is taken', () => {
  it('by a socket that does not answer: dnsmasq cannot bind it, and starts on another port', async () => {
    const holder = dgram.createSocket('udp4');
    holder.bind(0, '127.0.0.1');
    await once(holder, 'listening');
    try {
      await expectServesOnAnotherPort(holder.address().port);
    } finally {
      holder.close();
    }
  });

  it('for TCP only: dnsmasq binds UDP, fails on TCP, and starts on another port', async () => {
    const holder = net.createServer();
    holder.listen(await freeDnsPort(), '127.0.0.1');
    await once(holder, 'listening');
    try {
      await expectServesOnAnotherPort((holder.address() as net.AddressInfo).port);
    } finally {
      holder.close();
    }
  });

  it('by another DNS server: its answers are not taken for dnsmasq, which starts on another port', async () => {
    const other = await startDnsServer({ 'pc-readiness-probe.retry.test': { A: ['127.0.0.1'] } });
    try {
      await expectServesOnAnotherPort(other.port);
    } finally {
      await other.close();
    }
  });
});
