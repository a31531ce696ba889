// Nodes meshing through the local registry: many at once through one auto-started daemon, event
// driven (poll intervals of a minute, so only the registry's watch can link them in time).
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { type ClusterNode, startNode } from '@peer-cluster/core';
import {
  localRegistryStrategy,
  REGISTRY_PROTOCOL_VERSION,
  type RegisteredNode,
  RegistryClient,
} from '@peer-cluster/core/registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Child,
  freeRegistryPort,
  killAll,
  startChild,
  stopDaemon,
} from './fixtures/registry/children.js';

const cookie = 'registry-nodes-cookie';
const POLL = 60_000;
let port: number;
let env: Record<string, string>;
const daemons = new Set<number>();
const nodes: ClusterNode[] = [];

beforeAll(async () => {
  port = await freeRegistryPort();
  env = { PEER_CLUSTER_REGISTRY: `127.0.0.1:${port}` };
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  await killAll();
});
afterAll(async () => {
  await Promise.all([...daemons].map(stopDaemon));
});

/** Daemon processes serving `port` (auto-started ones carry it in their argv). */
function daemonProcesses(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      if (argv.some((a) => a.endsWith('registry/main.js')) && argv.includes(String(port)))
        found.push(Number(entry));
    } catch {}
  }
  return found;
}

/** How long a test waits for its children before failing with `explain` (its timeout is 30 s). */
const EXPLAIN_AFTER = 20_000;

/**
 * `work`, or EXPLAIN_AFTER ms after `started` an error that says where the children got to: each node's links and the
 * ones it lacks, what the registry lists, and the children's log lines (nodes.mjs prints their
 * logs, links and refreshes) and stderr. A mesh that forms in about a second nearly always must
 * not time out saying nothing the one time it does not.
 */
async function explained<T>(
  children: Child<unknown>[],
  cluster: string,
  started: number,
  work: Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), started + EXPLAIN_AFTER - Date.now());
  });
  const outcome = await Promise.race([work, late]).finally(() => clearTimeout(timer));
  if (outcome !== 'late') return outcome as T;
  throw new Error(`Still waiting after ${EXPLAIN_AFTER} ms.\n${await explain(children, cluster, started)}`);
}

async function explain(children: Child<unknown>[], cluster: string, since: number): Promise<string> {
  const out: string[] = [];
  const statuses = await Promise.all(
    children.map((c) => {
      if (c.exit !== undefined) return undefined;
      c.process.stdin!.write('status\n');
      const answer = c.line<{ nodes: Record<string, string[]> }>((m) => m.event === 'status');
      const silent = new Promise<undefined>((resolve) => {
        setTimeout(() => resolve(undefined), 2000).unref();
      });
      return Promise.race([answer.catch(() => undefined), silent]);
    }),
  );
  const registered = await RegistryClient.connect({ port, autoStart: false })
    .then(async (c) => {
      try {
        return { pid: c.daemonPid, ids: (await c.list(cluster)).map((n) => n.id).sort() };
      } finally {
        await c.close();
      }
    })
    .catch((error: Error) => error.message);
  const all =
    typeof registered === 'string'
      ? Object.keys(Object.assign({}, ...statuses.map((s) => s?.nodes))).sort()
      : registered.ids;
  out.push(
    typeof registered === 'string'
      ? `registry: ${registered}`
      : `registry (pid ${registered.pid}) lists ${all.length} in cluster ${cluster}: ${all.join(' ')}`,
  );
  children.forEach((c, i) => {
    const status = statuses[i];
    const state = c.exit === undefined ? 'running' : `exited ${c.exit}`;
    out.push(`child ${i} (pid ${c.process.pid}, ${state})${status ? '' : ': no status'}`);
    for (const [id, linked] of Object.entries(status?.nodes ?? {})) {
      const missing = all.filter((other) => other !== id && !linked.includes(other));
      out.push(`  ${id}: ${linked.length} linked${missing.length ? `, missing ${missing.join(' ')}` : ''}`);
    }
  });
  const logs = children
    .flatMap((c, i) => c.messages.filter((m) => m.event === 'log').map((m) => ({ ...m, child: i })))
    .sort((a, b) => a.t - b.t);
  out.push(`log (ms since the children started, [child]):`);
  for (const m of logs) out.push(`  +${m.t - since} [${m.child}] ${m.line}`);
  children.forEach((c, i) => {
    if (c.stderr) out.push(`stderr of child ${i}:\n${c.stderr}`);
  });
  return out.join('\n');
}

function node(name: string, cluster: string) {
  return startNode({
    name,
    cookie,
    cluster,
    strategy: localRegistryStrategy({ port }),
    healer: { pollInterval: POLL },
  }).then((n) => {
    nodes.push(n);
    return n;
  });
}

describe('nodes through the local registry', () => {
  it('8 nodes in 4 processes starting at once mesh through one auto-started daemon', async () => {
    const children = Array.from({ length: 4 }, () =>
      startChild<{ daemonPid: number; ids: string[] }>('nodes.mjs', [], env),
    );
    children.forEach((child, i) => {
      const config = { cluster: 'eight', cookie, names: [`n${i}a`, `n${i}b`], expect: 7, pollInterval: POLL };
      child.process.stdin!.write(`${JSON.stringify(config)}\n`);
    });
    // Both waits under one deadline: either may be the one that hangs.
    const started = Date.now();
    const { ready, meshed } = await explained(
      children,
      'eight',
      started,
      (async () => {
        const ready = await Promise.all(children.map((c) => c.ready));
        const meshed = await Promise.all(
          children.map((c) => c.line<{ nodes: Record<string, string[]> }>((m) => m.event === 'meshed')),
        );
        return { ready, meshed };
      })(),
    );
    for (const r of ready) daemons.add(r.daemonPid);
    expect(new Set(ready.map((r) => r.daemonPid)).size).toBe(1);

    const ids = ready.flatMap((r) => r.ids).sort();
    for (const { nodes: seen } of meshed)
      for (const [id, linked] of Object.entries(seen))
        expect(linked).toEqual(ids.filter((other) => other !== id));

    // The losers of the bind race have exited; one daemon serves the port.
    await expect.poll(daemonProcesses, { timeout: 5000 }).toEqual([ready[0]!.daemonPid]);
  }, 30_000);

  it('a node that registers is linked by the others at once, not at the next poll', async () => {
    const a = await node('first', 'push');
    const b = await node('second', 'push');
    const linked = new Promise<string>((resolve) => a.once('nodeup', resolve));
    const c = await node('third', 'push');
    expect([b.id, c.id]).toContain(await linked);
    await Promise.all(
      [a, b, c].map(
        (n) =>
          n.nodes().length === 2 ||
          new Promise<void>((resolve) => n.on('nodeup', () => n.nodes().length === 2 && resolve())),
      ),
    );
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());
  }, 15_000);

  it('keeps two clusters apart on one registry', async () => {
    const red = [await node('r1', 'red'), await node('r2', 'red')];
    const blue = [await node('b1', 'blue'), await node('b2', 'blue')];
    for (const [x, y] of [red, blue] as [ClusterNode, ClusterNode][]) {
      if (x.nodes().length === 0) await new Promise((resolve) => x.once('nodeup', resolve));
      expect(x.nodes()).toEqual([y.id]);
    }
    const result = await red[0]!.healer.refresh();
    expect(result.discovered).toEqual([red[1]!.id]);
    expect(red[0]!.nodes()).toEqual([red[1]!.id]);
    expect(blue[0]!.nodes()).toEqual([blue[1]!.id]);
  }, 15_000);

  it('a killed process’s nodes leave the registry at once', async () => {
    const watcher = await RegistryClient.connect({ port });
    try {
      const local = await node('observer', 'crash');
      const child = startChild<{ ids: string[] }>('nodes.mjs', [], env);
      child.process.stdin!.write(
        `${JSON.stringify({ cluster: 'crash', cookie, names: ['victim'], expect: 1 })}\n`,
      );
      const { ids } = await child.ready;
      await child.line((m) => m.event === 'meshed');
      expect(local.nodes()).toEqual(ids);

      let onChange!: (ids: string[]) => void;
      const left = new Promise<string[]>((resolve) => {
        onChange = resolve;
      });
      await watcher.watch('crash', (registered) => onChange(registered.map((n) => n.id)));
      const down = new Promise<string>((resolve) => local.once('nodedown', resolve));
      child.process.kill('SIGKILL');
      expect(await left).toEqual([local.id]);
      expect(await down).toBe(ids[0]);
      const result = await local.healer.refresh();
      expect(result.discovered).toEqual([]);
      expect(result.failed).toEqual([]);
    } finally {
      await watcher.close();
    }
  }, 15_000);

  it('nodes register again with a new daemon when theirs dies, and keep being pushed changes', async () => {
    const a = await node('phoenix-a', 'phoenix');
    const b = await node('phoenix-b', 'phoenix');
    if (a.nodes().length === 0) await new Promise((resolve) => a.once('nodeup', resolve));
    const first = await RegistryClient.connect({ port, autoStart: false });
    const oldPid = first.daemonPid;
    daemons.add(oldPid);
    await first.close();
    process.kill(oldPid, 'SIGKILL');

    // The strategy reconnects (starting a daemon) and registers both nodes again.
    await expect
      .poll(
        async () => {
          const c = await RegistryClient.connect({ port, autoStart: false }).catch(() => undefined);
          if (!c) return [];
          daemons.add(c.daemonPid);
          const ids = (await c.list('phoenix')).map((n) => n.id).sort();
          await c.close();
          return ids;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toEqual([a.id, b.id].sort());

    const up = new Promise<string>((resolve) => a.on('nodeup', resolve));
    const c = await node('phoenix-c', 'phoenix');
    expect(await up).toBe(c.id);
  }, 15_000);
});

describe('what a node discovers through a busy registry connection', () => {
  // A loaded process reads the daemon's lines in big chunks: the answers to its watch and list
  // come in one read with the push of a node that registered right after. The client answers
  // discover() from what it read last; it once took the answers' nodes where their requests were
  // awaited, after that push, and a node that registered then stayed unseen until the next change
  // (8 nodes in 4 processes: two nodes unseen by each other never linked, a 60 s poll away).
  it('an answer does not hide a push read right behind it', async () => {
    const member = (name: string, port: number): RegisteredNode => ({
      id: `${name}@127.0.0.1:${port}`,
      name,
      host: '127.0.0.1',
      port,
    });
    const before = [member('early', 1001)];
    const after = [...before, member('late', 1002)];
    const fake = net.createServer((socket) => {
      socket.write(`${JSON.stringify({ type: 'hello', version: REGISTRY_PROTOCOL_VERSION, pid: 4242 })}\n`);
      let buffered = '';
      const requests: { type: string; id: number }[] = [];
      socket.on('data', (chunk) => {
        buffered += chunk;
        for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
          requests.push(JSON.parse(buffered.slice(0, nl)));
          buffered = buffered.slice(nl + 1);
        }
        if (requests.length < 2) return;
        // Both answered as of before `late` registered, then its push: all in one write.
        const lines: object[] = requests.map((r) => ({ type: 'nodes', id: r.id, nodes: before }));
        lines.push({ type: 'change', cluster: 'busy', nodes: after });
        socket.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const client = await RegistryClient.connect({
      port: (fake.address() as net.AddressInfo).port,
      autoStart: false,
    });
    try {
      const pushed: string[][] = [];
      // Both requests go out before either is answered.
      const [, listed] = await Promise.all([
        client.watch('busy', (nodes) => pushed.push(nodes.map((n) => n.name))),
        client.list('busy'),
      ]);
      expect(listed.map((n) => n.name)).toEqual(['early']);
      expect(pushed).toEqual([['early', 'late']]);
      expect((await client.list('busy')).map((n) => n.name)).toEqual(['early', 'late']);
    } finally {
      await client.close();
      fake.close();
    }
  });
});
