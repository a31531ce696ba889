// A real dnsmasq (Debian's dnsmasq-base) on a free loopback port, unprivileged-friendly: no
// daemonizing, no config file, no /etc/hosts, no upstream, answers only for the zone it is given.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { killWhenTestEnds } from '../../../test-support/children.js';

export function dnsmasqPath(): string | undefined {
  for (const candidate of ['dnsmasq', '/usr/sbin/dnsmasq', '/sbin/dnsmasq']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {}
  }
  return undefined;
}

export interface Dnsmasq {
  address: string;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on 127.0.0.1 (dnsmasq binds both). */
export async function freeDnsPort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (ok) {
      await new Promise<void>((r) => tcp.close(() => r()));
      return port;
    }
  }
}

/**
 * Starts dnsmasq with `--host-record`/`--srv-host` arguments for `zone`, resolving once it answers.
 * `port` picks the port of each attempt (a free one; its test gives it a taken one first).
 */
export async function startDnsmasq(
  binary: string,
  zone: string,
  records: string[],
  port: () => Promise<number> = freeDnsPort,
): Promise<Dnsmasq> {
  // The free port found may be taken by another process before dnsmasq binds it: another port then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await port(), binary, zone, records);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 5) throw error;
    }
  }
}

class PortTaken extends Error {}

async function startOn(port: number, binary: string, zone: string, records: string[]): Promise<Dnsmasq> {
  const child: ChildProcess = spawn(
    binary,
    [
      '--no-daemon',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--conf-file=/dev/null',
      '--pid-file=',
      // Its log on stderr, where it says when it has bound its port and loaded its records.
      '--log-facility=-',
      `--local=/${zone}/`,
      // A record only this server has: the readiness probe's answer proves it is this dnsmasq
      // that answers on the port (not something that took the port as dnsmasq failed to bind).
      `--host-record=${READINESS_NAME}.${zone},${READINESS_ADDRESS}`,
      ...records,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  killWhenTestEnds(child);
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = once(child, 'exit');
  // Not one query before dnsmasq holds the port: while the port is free, the probe's own socket can
  // be given it as its source port, connect to itself, and read its own query back as an answer
  // without records (ENODATA; measured: 4 in 120,000 probes of a free port, 1 in 28,232 ports). The
  // cache is loaded, and "cleared cache" logged, after the bind, on the first turn of its loop.
  const deadline = Date.now() + 10_000;
  const settled = Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
  while (!/cleared cache/.test(stderr) && child.exitCode === null && Date.now() < deadline) {
    await Promise.race([once(child.stderr!, 'data'), settled]);
  }
  for (;;) {
    if (child.exitCode !== null) {
      const message = `dnsmasq exited (${child.exitCode}): ${stderr}`;
      throw /in use/i.test(stderr) ? new PortTaken(message) : new Error(message);
    }
    let ready: boolean;
    try {
      ready = await answers(port, zone);
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      throw new PortTaken((error as Error).message);
    }
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dnsmasq did not answer on port ${port}: ${stderr}`);
    }
  }
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

const READINESS_NAME = 'pc-readiness-probe';
const READINESS_ADDRESS = '127.0.0.254';

/** Whether this dnsmasq answers on `port`: it knows the record only it has. */
async function answers(port: number, zone: string): Promise<boolean> {
  const { Resolver } = await import('node:dns/promises');
  const resolver = new Resolver({ timeout: 100, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  try {
    const addresses = await resolver.resolve4(`${READINESS_NAME}.${zone}`);
    if (addresses.includes(READINESS_ADDRESS)) return true;
    throw new Error(
      `port ${port} answers for another DNS server (${READINESS_NAME}.${zone} is ${addresses.join(', ')})`,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEOUT' || code === 'ECONNREFUSED') return false;
    throw error;
  }
}
