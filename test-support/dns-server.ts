// A small authoritative DNS server over UDP for tests, built on dns-packet: it answers A, AAAA and
// SRV from a record table that a test can change while it runs, and can be told to refuse a name,
// fail it, or never answer it (to exercise timeouts). Unknown names get NXDOMAIN.
import dgram from 'node:dgram';
import { once } from 'node:events';
import dnsPacket, { type Answer } from 'dns-packet';

export interface SrvTarget {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export type DnsBehaviour = 'REFUSED' | 'SERVFAIL' | 'TIMEOUT';

export interface DnsZone {
  [name: string]: { A?: string[]; AAAA?: string[]; SRV?: SrvTarget[] } | DnsBehaviour;
}

export interface DnsServer {
  /** `127.0.0.1:port`, ready for `dns({ servers: [address] })`. */
  address: string;
  port: number;
  /** Replace the whole zone; later queries see it at once. */
  setZone(zone: DnsZone): void;
  /** How many queries arrived, by `TYPE name`. */
  queries: Map<string, number>;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export async function startDnsServer(zone: DnsZone = {}): Promise<DnsServer> {
  let current = normalize(zone);
  const queries = new Map<string, number>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase();
    const key = `${question.type} ${name}`;
    queries.set(key, (queries.get(key) ?? 0) + 1);
    const entry = current.get(name);
    if (entry === 'TIMEOUT') return;
    let rcode: number = RCODE.NOERROR;
    const answers: Answer[] = [];
    if (entry === undefined) rcode = RCODE.NXDOMAIN;
    else if (entry === 'REFUSED' || entry === 'SERVFAIL') rcode = RCODE[entry];
    else if (question.type === 'A')
      for (const ip of entry.A ?? []) answers.push({ type: 'A', name, ttl: 5, data: ip });
    else if (question.type === 'AAAA')
      for (const ip of entry.AAAA ?? []) answers.push({ type: 'AAAA', name, ttl: 5, data: ip });
    else if (question.type === 'SRV')
      for (const srv of entry.SRV ?? [])
        answers.push({
          type: 'SRV',
          name,
          ttl: 5,
          data: {
            target: srv.target,
            port: srv.port,
            priority: srv.priority ?? 10,
            weight: srv.weight ?? 10,
          },
        });
    const response = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode,
      questions: [question],
      answers,
    });
    socket.send(response, remote.port, remote.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    setZone(next) {
      current = normalize(next);
    },
    async close() {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

function normalize(zone: DnsZone) {
  return new Map(Object.entries(zone).map(([name, entry]) => [name.toLowerCase().replace(/\.$/, ''), entry]));
}
