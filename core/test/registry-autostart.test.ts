// The registry as the machine sees it: separate processes racing to auto-start it, leasing from it
// at once, and dying while holding registrations and leases.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { RegistryClient } from '@peer-cluster/core/registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freeRegistryPort, killAll, startChild, stopDaemon } from './fixtures/registry/children.js';

let port: number;
let env: Record<string, string>;
const daemons = new Set<number>();

beforeAll(async () => {
  port = await freeRegistryPort();
  env = { PEER_CLUSTER_REGISTRY: `127.0.0.1:${port}` };
});
afterEach(killAll);
afterAll(async () => {
  await Promise.all([...daemons].map(stopDaemon));
});

describe('auto-started registry', () => {
  it('four processes starting at once share one daemon and get unique leases', async () => {
    const children = Array.from({ length: 4 }, () =>
      startChild<{ pid: number; daemonPid: number; ports: number[] }>('lease.mjs', ['6'], env),
    );
    const ready = await Promise.all(children.map((c) => c.ready));
    for (const r of ready) daemons.add(r.daemonPid);

    expect(new Set(ready.map((r) => r.daemonPid)).size).toBe(1);
    const all = ready.flatMap((r) => r.ports);
    expect(all).toHaveLength(24);
    expect(new Set(all).size).toBe(24);

    const observer = await RegistryClient.connect({ port, autoStart: false });
    try {
      expect(observer.daemonPid).toBe(ready[0]!.daemonPid);
      expect((await observer.status()).leases).toEqual(expect.arrayContaining(all));

      // A holder that dies releases its leases with its connection.
      children[0]!.process.kill('SIGKILL');
      await children[0]!.exited;
      await expect
        .poll(async () => (await observer.status()).leases, { timeout: 5000 })
        .not.toEqual(expect.arrayContaining(ready[0]!.ports));
      const leases = (await observer.status()).leases;
      for (const p of ready[0]!.ports) expect(leases).not.toContain(p);
      expect(leases).toEqual(expect.arrayContaining(ready.slice(1).flatMap((r) => r.ports)));
    } finally {
      await observer.close();
    }
  });

  it('a process killed while registered vanishes at once, pushed to watchers', async () => {
    const watcher = await RegistryClient.connect({ port, idleTimeout: 5000 });
    daemons.add(watcher.daemonPid);
    try {
      const changes: string[][] = [];
      let waiting: ((ids: string[]) => void) | undefined;
      await watcher.watch('crashy', (nodes) => {
        const ids = nodes.map((n) => n.id).sort();
        changes.push(ids);
        waiting?.(ids);
      });
      const next = (predicate: (ids: string[]) => boolean) =>
        new Promise<string[]>((resolve) => {
          const last = changes.at(-1);
          if (last && predicate(last)) return resolve(last);
          waiting = (ids) => predicate(ids) && resolve(ids);
        });

      const a = startChild<{ ids: string[] }>('register.mjs', ['crashy', 'a1', 'a2'], env);
      const b = startChild<{ ids: string[] }>('register.mjs', ['crashy', 'b1'], env);
      const [ra, rb] = await Promise.all([a.ready, b.ready]);
      await next((ids) => ids.length === 3);

      a.process.kill('SIGKILL');
      // Event-driven: the watch fires when the connection drops, with no poll to wait for.
      expect(await next((ids) => ids.length === 1)).toEqual(rb.ids);
      expect((await watcher.list('crashy')).map((n) => n.id)).toEqual(rb.ids);
      expect(ra.ids.every((id) => !changes.at(-1)!.includes(id))).toBe(true);
    } finally {
      await watcher.close();
    }
  });

  it("a daemon gets the peers' environment allowlist, not its starter's, and outlives its starter", async () => {
    const ownPort = await freeRegistryPort();
    const starter = startChild<{ pid: number; daemonPid: number }>('lease.mjs', ['1'], {
      PEER_CLUSTER_REGISTRY: `127.0.0.1:${ownPort}`,
      STARTER_ONLY: 'not for the daemon',
      NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem',
      PEER_CLUSTER: 'would-look-like-a-leaked-peer',
    });
    const { daemonPid } = await starter.ready;
    daemons.add(daemonPid);
    const environ = readFileSync(`/proc/${daemonPid}/environ`, 'utf8').split('\0');
    const names = environ.map((entry) => entry.slice(0, entry.indexOf('=')));
    expect(names).toContain('PATH');
    expect(environ).toContain(`PEER_CLUSTER_REGISTRY=127.0.0.1:${ownPort}`);
    expect(environ).toContain('PEER_CLUSTER_REGISTRY_IDLE_TIMEOUT=5000');
    for (const name of ['STARTER_ONLY', 'NODE_EXTRA_CA_CERTS', 'PEER_CLUSTER'])
      expect(names).not.toContain(name);
    // It told its starter that it listens, over a channel it then let go of: the starter dies, the
    // daemon serves on.
    starter.process.kill('SIGKILL');
    await starter.exited;
    const client = await RegistryClient.connect({ port: ownPort, autoStart: false });
    try {
      expect(client.daemonPid).toBe(daemonPid);
    } finally {
      await client.close();
    }
  });

  it('a daemon whose starter dies before it listens serves on', async () => {
    const ownPort = await freeRegistryPort();
    const starter = startChild<{ daemonPid: number }>('abandon.mjs', [], {
      PEER_CLUSTER_REGISTRY: `127.0.0.1:${ownPort}`,
    });
    const { daemonPid } = await starter.ready;
    daemons.add(daemonPid);
    await starter.exited;
    expect(starter.exit).toBe('SIGKILL');
    // Nothing announces that it listens to anyone but its dead starter: ask until it answers.
    const connect = () => RegistryClient.connect({ port: ownPort, autoStart: false });
    await expect
      .poll(
        () =>
          connect().then(
            (c) => c.close().then(() => true),
            () => false,
          ),
        { timeout: 10_000 },
      )
      .toBe(true);
    const client = await connect();
    try {
      expect(client.daemonPid).toBe(daemonPid);
      expect((await client.status()).leases).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("a runner environment's early connection starts the daemon, and a failed one throws nothing", async () => {
    const ownPort = await freeRegistryPort();
    const early = startChild<{ daemonPid: number }>('early.mjs', [], {
      PEER_CLUSTER_REGISTRY: `127.0.0.1:${ownPort}`,
    });
    const { daemonPid } = await early.ready;
    daemons.add(daemonPid);
    expect(daemonPid).toBeGreaterThan(0);

    const squatter = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    try {
      const { port: held } = squatter.address() as net.AddressInfo;
      const failed = startChild<{ survived: boolean }>('early.mjs', ['not-a-registry'], {
        PEER_CLUSTER_REGISTRY: `127.0.0.1:${held}`,
      });
      expect(await failed.ready).toEqual({ survived: true });
      expect(failed.stderr).toBe('');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('is started on a loopback address only: it has no authentication', async () => {
    const free = await freeRegistryPort();
    const error = await RegistryClient.connect({ host: '0.0.0.0', port: free }).catch((e) => e);
    expect(error.name).toBe('RegistryUnavailableError');
    expect(error.message).toContain(
      `The peer-cluster registry at 0.0.0.0:${free} is not running, and peer-cluster starts a registry by itself on a loopback address only`,
    );
    // Nothing was started there.
    const probe = net.createConnection(free, '127.0.0.1');
    const [refused] = await once(probe, 'error');
    expect(refused.code).toBe('ECONNREFUSED');
  });

  it('a port held by something that closes every connection is named as such, at once', async () => {
    const holder = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const held = (holder.address() as net.AddressInfo).port;
    try {
      // Not "did not come up in time" after respawning daemons for the whole connect timeout.
      const error = await RegistryClient.connect({ port: held, connectTimeout: 60_000 }).catch((e) => e);
      expect(error.message).toBe(
        `The peer-cluster registry at 127.0.0.1:${held} is held by something that is not a peer-cluster registry. Free that port, or run the registry on another one and point PEER_CLUSTER_REGISTRY=host:port at it.`,
      );
    } finally {
      holder.close();
    }
  });

  it('a daemon whose port holder goes away as it is probed (a registry killed meanwhile) takes the port', async () => {
    // What a daemon started as another one is killed meets: its bind fails, and the probe of the
    // holder is refused or cut, because the holder is gone. Not "held by something that is not a
    // registry": the port is free. Here the holder cuts the client's connection (so the client
    // starts a daemon), then goes away when that daemon's probe reaches it.
    let connections = 0;
    const holder = net.createServer((socket) => {
      socket.destroy();
      if (++connections === 2) holder.close();
    });
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const held = (holder.address() as net.AddressInfo).port;
    try {
      const client = await RegistryClient.connect({ port: held, idleTimeout: 500 });
      daemons.add(client.daemonPid);
      expect(client.daemonPid).not.toBe(process.pid);
      expect(connections).toBe(2);
      await client.close();
    } finally {
      holder.close();
    }
  });

  it('an idle daemon exits by itself', async () => {
    const idlePort = await freeRegistryPort();
    const client = await RegistryClient.connect({ port: idlePort, idleTimeout: 200 });
    const pid = client.daemonPid;
    daemons.add(pid);
    await client.close();
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await expect.poll(alive, { timeout: 10_000, interval: 50 }).toBe(false);
  });
});
