import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import {
  type Cluster,
  type ClusterNode,
  type ClusterOptions,
  customStrategy,
  InvalidOptionsError,
  type Peer,
  PeerBootError,
  PeerExitedError,
  RemoteError,
  startCluster,
  startNode,
} from '@peer-cluster/core';
import { formatFailureReport } from '@peer-cluster/core/harness';
import { localRegistryStrategy, runRegistry } from '@peer-cluster/core/registry';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';
import { designatedDialer } from '../dist/healer/refresh.js';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));
const clusters: Cluster[] = [];

async function cluster(options: ClusterOptions = {}): Promise<Cluster> {
  const c = await startCluster({ root, ...options });
  clusters.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

/**
 * A 2-peer cluster with quick heartbeats and a 5 s poll, as [cluster, dialer, other]: `dialer`
 * dials the pair's link first, `other` leaves that to it (designatedDialer).
 */
async function dialerPair(name: string): Promise<[Cluster, Peer, Peer]> {
  const c = await cluster({
    count: 2,
    name,
    heartbeat: { interval: 100, timeout: 400 },
    healer: { pollInterval: 5000 },
  });
  const [p1, p2] = c.peers as [Peer, Peer];
  const endpoint = (p: Peer) => p.node.slice(p.node.indexOf('@') + 1);
  return designatedDialer(endpoint(p1), endpoint(p2)) ? [c, p1, p2] : [c, p2, p1];
}

function meshed(c: Cluster): void {
  const running = c.peers.filter((p) => p.state === 'running');
  for (const p of running) {
    expect(p.linked().sort()).toEqual(
      running
        .filter((o) => o !== p)
        .map((o) => o.node)
        .sort(),
    );
  }
}

describe('startCluster', () => {
  it.each([2, 3, 10])('starts %i peers in parallel and resolves once they are meshed', async (count) => {
    const c = await cluster({ count, apps: ['counter.mjs'] });
    expect(c.peers.map((p) => p.name)).toEqual(Array.from({ length: count }, (_, i) => `peer-${i + 1}`));
    expect(c.peers.map((p) => p.index)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(c.peers.every((p) => p.state === 'running')).toBe(true);
    meshed(c);
    for (const p of c.peers) expect((await p.nodes()).length).toBe(count - 1);
    expect(new Set(c.peers.map((p) => p.port)).size).toBe(count);
    expect(peerProcesses(c.name)).toHaveLength(count);
    expect(c.name).toMatch(/^pc-[0-9a-f]+$/);
  });

  it('a peer and a cluster print as who and how they are (console.log, JSON, runner messages)', async () => {
    const c = await cluster({ count: 2 });
    const [a, b] = c.peers as [Peer, Peer];
    // Not the emitter's insides (_events, kCapture): its name, state, node, pid and ports.
    expect(inspect(a, { colors: false, breakLength: Number.POSITIVE_INFINITY })).toBe(
      `Peer { name: 'peer-1', state: 'running', node: '${a.node}', pid: ${a.pid}, ports: { default: ${a.port} } }`,
    );
    expect(JSON.parse(JSON.stringify(b))).toEqual({
      name: 'peer-2',
      state: 'running',
      node: b.node,
      pid: b.pid,
      ports: { default: b.port },
    });
    const shown = inspect(c, { colors: false, depth: 3, breakLength: Number.POSITIVE_INFINITY });
    expect(shown).toMatch(new RegExp(`^Cluster \\{ name: '${c.name}', peers: \\[ Peer \\{ name: 'peer-1'`));
    expect(shown).toMatch(/, timeline: '\d+ events' \}$/);
    await b.kill();
    expect(b.toJSON()).toMatchObject({ name: 'peer-2', state: 'crashed' });
  });

  it('ctx.cluster is live in start(ctx): an app can call another node', async () => {
    const c = await cluster({ count: 2, apps: ['counter.mjs'] });
    const [a, b] = c.peers as [any, any];
    const answer = await a.evaluate((ctx: any, target: string) => ctx.cluster.call(target, 'whoami'), b.node);
    expect(answer).toEqual({ name: b.name, index: b.index, node: b.node });
  });

  it('names peers with a counter that is never reused; add and remove', async () => {
    const c = await cluster({ count: 2, env: ({ name }) => ({ WHO: name }) });
    const removed = c.peer('peer-2');
    await c.remove(removed);
    expect(c.peers.map((p) => p.name)).toEqual(['peer-1']);
    await expect(c.remove(removed)).rejects.toThrow(
      /`remove\(peer\)`: was removed from cluster pc-\w+ already \(got "peer-2"\)\. Remove a peer once/,
    );
    const added = await c.add(2);
    expect(added.map((p) => p.name)).toEqual(['peer-3', 'peer-4']);
    expect(c.peer(3).name).toBe('peer-4');
    expect(await c.peer('peer-4').evaluate(() => process.env.WHO)).toBe('peer-4');
    meshed(c);
    expect(peerProcesses(c.name)).toHaveLength(3);
    expect(() => c.peer('peer-2')).toThrow(InvalidOptionsError);
    expect(() => c.peer(9)).toThrow(/no such peer/);
  });

  it('add() takes per-peer overrides; an env record adds to the cluster’s', async () => {
    const c = await cluster({ count: 1, env: { ROLE: 'base', DB: 'shared' } });
    const [extra] = await c.add(1, { env: { ROLE: 'extra' }, apps: ['counter.mjs'] });
    expect(await extra!.evaluate(() => [process.env.ROLE, process.env.DB])).toEqual(['extra', 'shared']);
    expect(await extra!.call('inc', 2)).toBe(2);
    expect(await c.peers[0]!.evaluate(() => process.env.ROLE)).toBe('base');
    await expect(c.add(0)).rejects.toThrow(InvalidOptionsError);
    await expect(c.add(1, { count: 3 } as never)).rejects.toThrow(/not an option/);
  });

  it("stop() runs every peer's app stops in reverse order before ending it; a peer without any ends at once", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-cluster-stop-'));
    try {
      const c = await cluster({
        count: 2,
        apps: ['stop-order.mjs', 'stop-order-second.mjs'],
        env: ({ index }) => ({ STOP_LOG: join(dir, `peer-${index}.log`) }),
      });
      const plain = await c.add(1, { apps: [] });
      await c.stop();
      expect(c.peers.every((p) => p.state === 'stopped')).toBe(true);
      for (const index of [0, 1]) {
        expect((await readFile(join(dir, `peer-${index}.log`), 'utf8')).trim().split('\n')).toEqual([
          'start first',
          'start second',
          'stop second',
          'stop first',
        ]);
      }
      expect(plain[0]!.state).toBe('stopped');
      await waitForNoPeers({ cluster: c.name });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a peer still stopping while the rest of its cluster goes logs no link losses (they are expected)', async () => {
    const c = await cluster({ count: 3, apps: ['stop-after-nodedown.mjs'] });
    await c.stop();
    const lines = c.peers[0]!.logs().map((l) => l.line);
    expect(lines.some((line) => line.startsWith('saw nodedown'))).toBe(true);
    expect(lines.filter((line) => line.includes('lost its link'))).toEqual([]);
  });

  it('stop() ends every peer, is idempotent, and [Symbol.asyncDispose] stops too', async () => {
    const c = await cluster({ count: 3 });
    await Promise.all([c.stop(), c.stop()]);
    expect(c.peers.every((p) => p.state === 'stopped')).toBe(true);
    await waitForNoPeers({ cluster: c.name });
    let name = '';
    {
      await using d = await startCluster({ count: 1 });
      name = d.name;
      expect(peerProcesses(name)).toHaveLength(1);
    }
    await waitForNoPeers({ cluster: name });
  });

  it('with waitForMesh: false, resolves once every peer runs', async () => {
    const c = await cluster({ count: 3, waitForMesh: false });
    expect(c.peers.every((p) => p.state === 'running')).toBe(true);
    await c.waitForMesh();
    meshed(c);
  });

  it('an inline customStrategy runs in the test process and answers the peers', async () => {
    const asked = new Set<string>();
    let known: string[] = [];
    const strategy = customStrategy({
      discover: (ctx) => {
        asked.add(ctx.self.name);
        return known;
      },
    });
    const c = await cluster({ count: 3, strategy, waitForMesh: false });
    known = c.peers.map((p) => p.node);
    await Promise.all(c.peers.map((p) => p.control('refresh')));
    await c.waitForMesh();
    expect([...asked].sort()).toEqual(['peer-1', 'peer-2', 'peer-3']);
  });
});

describe('thrown errors', () => {
  it('keep their code and cause, from a peer to the test and between nodes', async () => {
    const c = await cluster({ count: 2 });
    const [a, b] = c.peers as [Peer, Peer];
    await b.evaluate((ctx) =>
      ctx.cluster.handle('save', () => {
        const disk = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        throw Object.assign(new Error('save failed', { cause: disk }), { code: 'E_SAVE' });
      }),
    );
    // Over the control channel, to the test.
    const error = (await b.call('save').catch((e) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ message: `Error on ${b.node}: save failed`, code: 'E_SAVE' });
    expect(error.cause).toBeInstanceOf(RemoteError);
    expect(error.cause).toMatchObject({ message: `Error on ${b.node}: disk full`, code: 'ENOSPC' });
    // Over a link, to another node.
    const between = await a.evaluate(async (ctx, target) => {
      try {
        await ctx.cluster.call(target, 'save');
        return undefined;
      } catch (e) {
        const { code, cause } = e as Error & { code?: string; cause?: Error & { code?: string } };
        return { code, cause: cause?.message, causeCode: cause?.code };
      }
    }, b.node);
    expect(between).toEqual({ code: 'E_SAVE', cause: `Error on ${b.node}: disk full`, causeCode: 'ENOSPC' });
  });

  it('a call to a peer that runs no app says so, to the test and between nodes', async () => {
    const c = await cluster({ count: 2 });
    const [a, b] = c.peers as [Peer, Peer];
    const noApp = `No handler "x" on node ${b.node}: its peer runs no app, so nothing registered any. Give the peer the app that registers it (ctx.cluster.handle("x", fn)) with the apps option of usePeers or startCluster`;
    const error = (await b.call('x').catch((e) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.remoteName).toBe('UnknownMethodError');
    expect(error.message).toContain(noApp);
    const between = await a.evaluate(
      (ctx, target) => ctx.cluster.call(target, 'x').then(String, (e: Error) => e.message),
      b.node,
    );
    expect(between).toContain(noApp);
    // A handler registered some other way is listed, as on a peer with apps.
    await b.evaluate((ctx) => ctx.cluster.handle('y', () => 1));
    expect(((await b.call('x').catch((e) => e)) as Error).message).toContain('Registered: "y"');
  });

  it('peer.call with a method that is not a non-empty string is an InvalidOptionsError, sent nowhere', async () => {
    const c = await cluster({ count: 1, apps: ['counter.mjs'] });
    const peer = c.peers[0]!;
    for (const method of [5, '', undefined]) {
      const error = (await peer.call(method as never).catch((e) => e)) as InvalidOptionsError;
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe('call(method, ...args)');
      expect(error.message).toContain('must be the name of a handler, a non-empty string');
    }
    expect(await peer.call('inc', 2)).toBe(2);
  });

  it('a call to a method the apps did not register lists the ones they did', async () => {
    const c = await cluster({ count: 1, apps: ['counter.mjs'] });
    const error = (await c.peers[0]!.call('x').catch((e) => e)) as Error;
    expect(error.message).toContain('Registered: "inc", "whoami". Register it with handle("x", fn)');
    expect(error.message).not.toContain('runs no app');
    // A misspelt one is told the registered method it may mean.
    const typo = (await c.peers[0]!.call('whoamI').catch((e) => e)) as Error;
    expect(typo.message).toContain('No handler "whoamI" on node');
    expect(typo.message).toContain('. Did you mean "whoami"? Registered: "inc", "whoami".');
    const incr = (await c.peers[0]!.call('incr', 1).catch((e) => e)) as Error;
    expect(incr.message).toContain('Did you mean "inc"?');
  });
});

describe('a peer whose apps are still loading', () => {
  it('keeps the messages and calls its node gets meanwhile for its apps, each of them', async () => {
    // The node of a peer links before its apps start (they may take long to load): what a node
    // sends it on nodeup, to catch it up after a restart, must not be lost to that.
    const gate = createServer();
    gate.listen(0, '127.0.0.1');
    await once(gate, 'listening');
    onTestFinished(() => void gate.close());
    const c = await cluster({ count: 1, apps: ['loads-late.mjs'] });
    const a = c.peers[0]!;
    const linked = once(a, 'nodeup') as Promise<[string]>;
    const loading = once(gate, 'connection') as Promise<[Socket]>;
    const adding = c.add(1, {
      apps: ['loads-late.mjs', 'hears-too.mjs'],
      env: { GATE: (gate.address() as { port: number }).port },
    });
    const [[b], [socket]] = await Promise.all([linked, loading]);
    // Linked, and its app not loaded: a sends it a message and calls it, and only then is the
    // app let go (the frames are in its socket before the release is sent).
    await a.evaluate((ctx, to) => {
      ctx.cluster.send(to, 'missed', 1);
      const g = globalThis as { early?: Promise<string> };
      g.early = ctx.cluster.call(to, 'echo', 'early').then(String, (e: Error) => e.message);
    }, b);
    socket.write('go\n');
    await adding;
    expect(await a.evaluate(() => (globalThis as { early?: Promise<string> }).early)).toBe('early');
    expect(await c.peers[1]!.call('heard')).toEqual([[a.node, 'missed', 1]]);
    // The second app listens once the first has started: it hears what came before, too.
    expect(await c.peers[1]!.call('heard-too')).toEqual([[a.node, 'missed', 1]]);
    // Once the apps run, a method nobody registered fails at once, as before.
    const error = (await a.evaluate(
      (ctx, to) => ctx.cluster.call(to, 'nope').catch((e: Error) => e.message),
      b,
    )) as string;
    expect(error).toContain('No handler "nope"');
  });
});

describe('inline strategies', () => {
  it('register, watch, connect and list run in the test process for every peer', async () => {
    const registered = new Set<string>();
    const watchers = new Set<() => void>();
    const connects: string[] = [];
    const lists = new Set<string>();
    const strategy = customStrategy({
      name: 'in-test',
      register: (ctx) => {
        registered.add(ctx.self.id);
        for (const w of watchers) w();
        return () => {
          registered.delete(ctx.self.id);
          for (const w of watchers) w();
        };
      },
      watch: (_ctx, onChange) => {
        watchers.add(onChange);
        return () => watchers.delete(onChange);
      },
      discover: (ctx) => [...registered].filter((id) => id !== ctx.self.id),
      connect: async (ctx, address) => {
        connects.push(`${ctx.self.name}->${address}`);
        return ctx.node.connect(address);
      },
      list: (ctx) => {
        lists.add(ctx.self.name);
        return ctx.node.nodes();
      },
    });
    const c = await cluster({ count: 3, strategy });
    meshed(c);
    expect([...registered].sort()).toEqual(c.peers.map((p) => p.node).sort());
    expect(connects.length).toBeGreaterThanOrEqual(3);
    expect(connects.every((line) => /^peer-\d->peer-\d@127\.0\.0\.1:\d+$/.test(line))).toBe(true);
    expect(lists.size).toBeGreaterThan(0);
    // A peer that dies is withdrawn: its registration ends with its process.
    const [gone] = c.peers as [any];
    await gone.kill();
    await expect.poll(() => registered.has(gone.node)).toBe(false);
    await c.stop();
    await expect.poll(() => registered.size).toBe(0);
    expect(watchers.size).toBe(0);
  });
});

describe('faults', () => {
  it('a killed peer is seen down by the others at once; restart relinks it with the same id', async () => {
    const c = await cluster({ count: 3, apps: ['counter.mjs'] });
    const [victim, a, b] = c.peers as [any, any, any];
    const before = { node: victim.node, ports: victim.ports, pid: victim.pid };
    const downA = once(a, 'nodedown');
    const downB = once(b, 'nodedown');
    await victim.kill();
    const dropped = {
      reason: 'dropped',
      detail:
        'dropped the connection without closing the link (code 1006): its process died or was killed, or the connection was cut',
    };
    expect(await downA).toEqual([before.node, dropped]);
    expect(await downB).toEqual([before.node, dropped]);
    expect(victim.state).toBe('crashed');
    await expect(victim.call('inc')).rejects.toThrow(/crashed/);
    await victim.restart();
    expect(victim.node).toBe(before.node);
    expect(victim.ports).toEqual(before.ports);
    expect(victim.pid).not.toBe(before.pid);
    await c.waitForMesh();
    meshed(c);
    const types = c.timeline.filter((e) => e.peer === 'peer-1').map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['spawn', 'ready', 'kill', 'crash', 'restart']));
    // The test's own kill, said as such: not a crash of the peer's own doing.
    expect(c.timeline.find((e) => e.type === 'crash')?.detail).toBe('signal SIGKILL (sent by peer.kill())');
    expect(
      c.timeline.some((e) => e.type === 'nodedown' && e.peer === 'peer-2' && e.node === before.node),
    ).toBe(true);
  });

  it('nodedown says why a link went down: to apps (ctx.cluster), on peers, in the timeline and the failure report', async () => {
    const c = await cluster({ count: 3, heartbeat: { interval: 100, timeout: 600 } });
    const [a, b, s] = c.peers as [Peer, Peer, Peer];
    await a.evaluate((ctx) => {
      const heard: string[] = [];
      (globalThis as { heard?: string[] }).heard = heard;
      ctx.cluster.on('nodedown', (id, info) => heard.push(`${id} ${info.reason}`));
    });
    const seen: string[] = [];
    a.on('nodedown', (id, info) => seen.push(`${id} ${info.reason}`));
    await c.partition([a], [b, s]);
    await a.waitForNodes(0);
    await c.heal();
    await s.pause();
    await a.waitForNodes((ids) => !ids.includes(s.node), { timeout: 10_000 });
    await s.resume();
    await c.waitForMesh();
    await b.stop();
    // Both of b's links went down, each said by its own process: a's report of it says nothing of
    // when s's comes in, and s's next nodedown must be the one of its kill, not b's leaving.
    await Promise.all([a, s].map((peer) => peer.waitForNodes((ids) => !ids.includes(b.node))));
    const since = Date.now();
    const own = new Promise((resolve) => s.once('nodedown', (...args) => resolve(args)));
    await s.kill();
    await a.waitForNodes(0);
    // The partition cuts both links at once, in either order.
    expect(seen.slice(0, 2).sort()).toEqual([`${b.node} blocked`, `${s.node} blocked`].sort());
    expect(seen.slice(2)).toEqual([`${s.node} heartbeat`, `${b.node} left`, `${s.node} dropped`]);
    expect(await a.evaluate(() => (globalThis as { heard?: string[] }).heard)).toEqual(seen);
    // The killed peer's own links went with its process.
    expect(await own).toEqual([
      a.node,
      { reason: 'exited', detail: "went down with this peer's process, which was killed by SIGKILL" },
    ]);
    const downs = c.timeline.filter((e) => e.type === 'nodedown' && e.peer === a.name);
    expect(downs.map((e) => `${e.node} ${e.reason}`)).toEqual(seen);
    expect(downs.at(-1)?.detail).toMatch(/^dropped the connection without closing the link \(code 1006\)/);
    const report = formatFailureReport(c, { since });
    expect(report).toMatch(
      new RegExp(
        `nodedown +peer-1 +${s.node} dropped: dropped the connection without closing the link \\(code 1006\\)`,
      ),
    );
    expect(report).toMatch(
      new RegExp(
        `nodedown +peer-3 +${a.node} exited: went down with this peer's process, which was killed by SIGKILL`,
      ),
    );
  }, 30_000);

  it("a killed peer's own links go down with it: its nodeup and nodedown events alternate across a restart", async () => {
    const c = await cluster({ count: 3 });
    const [victim, ...others] = c.peers as [Peer, Peer, Peer];
    const events: string[] = [];
    victim.on('nodeup', (id) => events.push(`up ${id}`));
    victim.on('nodedown', (id) => events.push(`down ${id}`));
    await victim.kill();
    expect(victim.linked()).toEqual([]);
    await victim.restart();
    await c.waitForMesh();
    for (const other of others) {
      expect(events.filter((e) => e.endsWith(` ${other.node}`))).toEqual([
        `down ${other.node}`,
        `up ${other.node}`,
      ]);
      // The timeline tells the same story.
      expect(
        c.timeline
          .filter((e) => e.peer === victim.name && e.node === other.node)
          .map((e) => e.type)
          .slice(-2),
      ).toEqual(['nodedown', 'nodeup']);
    }
  });

  it('a call answered in time while its caller was blocked past the timeout resolves, not RpcTimeoutError', async () => {
    const c = await cluster({ count: 2 });
    const [caller, callee] = c.peers as [Peer, Peer];
    await callee.evaluate((ctx) => ctx.cluster.handle('quick', () => 'answered'));
    // The answer comes back within a few ms, and waits in the caller's socket while its event
    // loop is blocked; when it unblocks, its timers run before its I/O is read.
    const outcome = await caller.evaluate(async (ctx, to: string) => {
      const call = ctx.cluster.callWithOptions(to, 'quick', [], { timeout: 300 }).then(
        (value) => value,
        (error: Error) => `${error.name}: ${error.message}`,
      );
      const end = Date.now() + 1000;
      while (Date.now() < end);
      return call;
    }, callee.node);
    expect(outcome).toBe('answered');
  });

  it('a peer restarted after leaving politely relinks to all at once, not after the dial grace', async () => {
    // The others do not redial a node that left politely, so the restarted one (same id, new
    // incarnation) must dial every one of them itself, not only the pairs it is the designated
    // dialer of: the others would leave it the grace (2 s) first.
    const c = await cluster({ count: 5, healer: { pollInterval: 60_000 } });
    for (const peer of c.peers) {
      await peer.restart();
      await c.waitForMesh({ timeout: 1500 });
    }
    meshed(c);
  });

  it('a paused peer is declared down through heartbeats, and relinked after resume', async () => {
    const c = await cluster({ count: 3, heartbeat: { interval: 100, timeout: 600 } });
    const [sleeper, a] = c.peers as [any, any];
    await sleeper.pause();
    expect(sleeper.state).toBe('paused');
    await a.waitForNodes((nodes: string[]) => !nodes.includes(sleeper.node), { timeout: 10_000 });
    await sleeper.resume();
    await c.waitForMesh({ timeout: 15_000 });
    meshed(c);
    expect(c.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['pause', 'resume', 'nodedown']));
  });

  it('partition() cuts links across groups and keeps them cut until heal()', async () => {
    const c = await cluster({ count: 4, healer: { pollInterval: 200 } });
    const [p1, p2, p3, p4] = c.peers as [any, any, any, any];
    await c.partition([p1, p2], [p3]);
    // The timeline names every side, the peers in no group too.
    expect(c.timeline.find((e) => e.type === 'partition')?.detail).toBe(
      '[peer-1, peer-2] [peer-3] [peer-4] (in no group)',
    );
    expect(p1.linked()).toEqual([p2.node]);
    expect(p3.linked()).toEqual([]);
    expect(p4.linked()).toEqual([]);
    // Several healer rounds later, still cut.
    await new Promise((r) => setTimeout(r, 800));
    expect(p1.linked()).toEqual([p2.node]);
    expect((await p3.nodes()).length).toBe(0);
    expect(await p4.nodes()).toEqual([]);
    await c.heal();
    meshed(c);
    expect(c.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['partition', 'heal', 'mesh']));
    // A heal() with no partition in force lifts nothing, and says nothing in the timeline.
    await c.heal();
    expect(c.timeline.filter((e) => e.type === 'heal')).toHaveLength(1);
  });

  it('a partition holds for peers restarted or added while it is in force', async () => {
    const c = await cluster({ count: 3, healer: { pollInterval: 200 } });
    const [p1, p2, p3] = c.peers as [any, any, any];
    // Peers by name or index, as peer() and remove() take them.
    await c.partition(['peer-1'], [1, p3]);
    await p1.restart();
    const [p4] = (await c.add(1, {})) as [any];
    // p4 is in no group, with nobody else: every link it has must be none.
    await new Promise((r) => setTimeout(r, 800));
    expect(p1.linked()).toEqual([]);
    expect(p2.linked()).toEqual([p3.node]);
    expect(p4.linked()).toEqual([]);
    await c.heal();
    meshed(c);
    await expect(c.partition(['peer-9'])).rejects.toThrow(
      /`partition\(groups\[0\]\)`.*is not a peer of cluster .*Give peers, or their names or indexes: peer-1 \(index 0\)/,
    );
  });

  it('partition() refuses a peer given twice, on one side or both, before anything is cut', async () => {
    const c = await cluster({ count: 4 });
    const [a, b, , d] = c.peers as [Peer, Peer, Peer, Peer];
    await c.remove(d);
    const refusals: [string, () => Promise<void>, string][] = [
      [
        'twice in one group',
        () => c.partition([a, a], [b]),
        'Invalid option `partition(groups[0])`: lists peer-1 twice (as a peer, its name or its index) (got "peer-1"). ' +
          'List each peer once; if another peer was meant, name it instead: peer-1 (index 0), peer-2 (index 1), peer-3 (index 2).',
      ],
      [
        'as a peer and by its name and index',
        () => c.partition([b], [a, 'peer-1']),
        'Invalid option `partition(groups[1])`: lists peer-1 twice',
      ],
      [
        'by its index twice',
        () => c.partition([0, 0]),
        'Invalid option `partition(groups[0])`: lists peer-1 twice',
      ],
      [
        'on both sides',
        () => c.partition([a, b], [b]),
        'Invalid option `partition(groups[1])`: is in groups[0] too; a peer is on one side of a partition (got "peer-2"). ' +
          'Keep peer-2 in one group only: the peers of a group stay linked to each other, and cut off from every other group.',
      ],
      [
        'a removed peer',
        () => c.partition([a], [d]),
        `Invalid option \`partition(groups[1])\`: is not a peer of cluster ${c.name} (got "peer-4"). It was removed from it.`,
      ],
      [
        'an unknown name',
        () => c.partition(['peer-9']),
        `Invalid option \`partition(groups[0])\`: is not a peer of cluster ${c.name} (got "peer-9").`,
      ],
      [
        // The ids that nodes(), waitForNodes() and nodeup give: the peer they name is said.
        'a node id',
        () => c.partition([a.node]),
        `Invalid option \`partition(groups[0])\`: is not a peer of cluster ${c.name} (got "${a.node}"). That is the node id of peer-1: give the peer, or its name "peer-1".`,
      ],
      [
        'a node id, to peer()',
        async () => void c.peer(b.node),
        `Invalid option \`peer(nameOrIndex)\`: no such peer in cluster ${c.name} (got "${b.node}"). That is the node id of peer-2: give the peer, or its name "peer-2".`,
      ],
    ];
    for (const [what, act, message] of refusals) {
      const error = await act().catch((e: unknown) => e);
      expect(error, what).toBeInstanceOf(InvalidOptionsError);
      expect((error as Error).message, what).toContain(message);
    }
    // Nothing was cut: no partition in the timeline, every peer still linked to the others.
    expect(c.timeline.some((e) => e.type === 'partition')).toBe(false);
    for (const p of c.peers)
      expect(p.linked()).toEqual(expect.arrayContaining(c.peers.filter((o) => o !== p).map((o) => o.node)));
  });

  it('partition(a, b) for partition([a], [b]) names the peer and says each group is an array', async () => {
    const c = await cluster({ count: 2 });
    const [a, b] = c.peers as [Peer, Peer];
    const error = (await c.partition(a as never, b as never).catch((e) => e)) as InvalidOptionsError;
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toBe(
      'Invalid option `partition(groups[0])`: must be an array of peers, and is a single peer (got "peer-1"). ' +
        'Each group is an array: partition([a], [b, c]) cuts a off from b and c, partition([a]) from all the others.',
    );
    expect(c.timeline.some((e) => e.type === 'partition')).toBe(false);
  });

  it('waitForMesh and waitForNodes time out with a named error', async () => {
    const c = await cluster({ count: 2 });
    // Cut behind the cluster's back (a partition would change what the mesh means).
    await c.peers[0]!.evaluate((ctx) => (ctx.cluster as any).block(['peer-2']));
    await c.peers[0]!.waitForNodes(0);
    await expect(c.waitForMesh({ timeout: 300 })).rejects.toThrow(/missing links peer-1 → peer-2/);
    const error = await c.peers[0]!.waitForNodes(1, { timeout: 300 }).catch((e) => e);
    expect(error).toMatchObject({ name: 'WaitTimeoutError', timeout: 300 });
    // The peer's healer says what it found: its strategy lists peer-2, which it blocks.
    expect(error.message).toMatch(
      /^peer-1\.waitForNodes\(1\) did not happen within 300 ms: it is linked to \[\]\.\n {2}peer-1 \(strategy "local-registry"\): its latest refresh \(\d+ ms ago\) discovered peer-2@[^;]+; blocks peer-2@[^ ]+ \(a partition, or node\.block\(\)\)\n/,
    );
  });

  it('waitForNodes(n) with n the size of the cluster says a peer does not count itself', async () => {
    const c = await cluster({ count: 2 });
    const error = await c.peers[0]!.waitForNodes(2, { timeout: 300 }).catch((e) => e);
    expect(error).toMatchObject({ name: 'WaitTimeoutError', timeout: 300 });
    expect(error.message).toContain(
      '\n  peer-1 can link to at most 1 node: its cluster has 2 peers, and waitForNodes(n) counts the nodes other than the peer itself\n',
    );
    // A count it can reach says nothing of the kind.
    await c.peers[0]!.evaluate((ctx) => (ctx.cluster as any).block(['peer-2']));
    const reachable = await c.peers[0]!.waitForNodes(1, { timeout: 300 }).catch((e) => e);
    expect(reachable.message).not.toContain('can link to at most');
  });

  it("a wait's error says a node that dials first will dial at its next refresh, not that it waits", async () => {
    // The one that dials first loses its link after its latest refresh (at boot; the next is 5 s
    // away): it is not waiting for the other to dial.
    const [, first, second] = await dialerPair('explain-next');
    await second.pause();
    await first.waitForNodes(0);
    const error = await first.waitForNodes(1, { timeout: 300 }).catch((e: Error) => e);
    expect(String(error)).toContain(`dials ${second.node} at its next refresh (unlinked since the latest)`);
    expect(String(error)).not.toContain('to dial it first');
    await second.resume();
  });

  it('a mesh that does not form says what each healer found: what it discovered, what failed and why', async () => {
    // A strategy that lists a port where nothing listens, and nobody else.
    const dead = customStrategy({ discover: () => ['127.0.0.1:1'] });
    const error = await startCluster({ root, count: 2, strategy: dead, bootTimeout: 3000 }).catch((e) => e);
    expect(error).toMatchObject({ name: 'WaitTimeoutError', timeout: 3000 });
    for (const [self, other] of [
      ['peer-1', 'peer-2'],
      ['peer-2', 'peer-1'],
    ]) {
      expect(error.message).toMatch(
        new RegExp(
          `\\n  ${self} \\(strategy "custom"\\): its latest refresh \\(\\d+ ms ago\\) discovered 127\\.0\\.0\\.1:1; ` +
            // Either end of a pair dials first; the other waits a grace before it dials too.
            `(failed to link 127\\.0\\.0\\.1:1 \\(\\d+ ms ago: [^\\n]*ECONNREFUSED[^\\n]*\\)|left 127\\.0\\.0\\.1:1 to dial it first \\(it dials them too after a grace\\)); ` +
            `it did not discover ${other} \\(${other}@127\\.0\\.0\\.1:\\d+\\)\\n`,
        ),
      );
    }
    // A strategy that throws says so, in each peer's line (its message's final period left out,
    // before the `;` that follows it).
    const down = customStrategy({
      discover: () => {
        throw new Error('the directory is down.');
      },
    });
    const failed = await startCluster({ root, count: 2, strategy: down, bootTimeout: 2500 }).catch((e) => e);
    expect(failed.message).toMatch(/missing links peer-1 → peer-2, peer-2 → peer-1\./);
    expect(
      failed.message.match(
        /discovered no node; the strategy failed: the directory is down; it did not discover/g,
      ),
    ).toHaveLength(2);
  });

  it('a strategy whose register() never settles fails the boot at bootTimeout, naming the phase and the strategy', async () => {
    const stuck = customStrategy({
      name: 'stuck-directory',
      discover: () => [],
      register: () => new Promise(() => {}),
    });
    const error = await startCluster({ root, count: 1, strategy: stuck, bootTimeout: 1500 }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    // Before, the parent heard of the phase only once the node had started: "still in phase "spawn"".
    const said =
      'Peer peer-1 failed to boot in phase "node": it did not become ready within bootTimeout (1500 ms) ' +
      '(still in phase "node": its node starts once its strategy "stuck-directory" has settled its register() and watch())';
    expect(error.message.slice(0, said.length)).toBe(said);
    // Followed by nothing, or, when the peer waited a tenth of its bootTimeout for a CPU (0.2 s of
    // 1.5 s was seen at a load average of 13 on 2 CPUs), by the busy machine's hint: that is the
    // machine's say, not this boot's, and peer.test.ts tests it.
    expect(error.message.slice(said.length)).toMatch(/^(\. This machine is busy: .*)?$/);
  });

  it('a stop() while add() starts peers stops them too: add() rejects, no process is left', async () => {
    const c = await cluster({ count: 2, name: 'add-during-stop' });
    const added = c.add(2).catch((e) => e);
    await c.stop();
    const error = await added;
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.message).toContain('it was stopped while booting');
    expect(c.peers.map((p) => p.state)).toEqual(['stopped', 'stopped']);
    await waitForNoPeers({ cluster: 'add-during-stop', timeout: 3000 });
  });

  it('clusters of the same name do not discover each other (parallel test files naming theirs alike)', async () => {
    // A registry of this build (a daemon of an older one drops the cluster's scope, and with it the
    // difference; the clusters would then only be refused on the cookie, as before).
    const registry = await runRegistry({ port: 0, idleTimeout: 0, log: () => {} });
    onTestFinished(() => registry.close());
    const strategy = localRegistryStrategy({ port: Number(registry.address.split(':')[1]) });
    const one = await cluster({ count: 2, name: 'same-name', cookie: 'cookie-one', strategy });
    const two = await cluster({ count: 2, name: 'same-name', cookie: 'cookie-two', strategy });
    for (const [c, other] of [
      [one, two],
      [two, one],
    ] as const) {
      meshed(c);
      const result = await c.peers[0]!.evaluate((ctx) => (ctx.cluster as ClusterNode).healer.refresh());
      expect(result.discovered).toEqual([c.peers[1]!.node]);
      expect(result.failed).toEqual([]);
      for (const p of other.peers)
        expect(
          c.peers[0]!.logs()
            .map((l) => l.line)
            .join('\n'),
        ).not.toContain(p.node);
    }
  });

  it('the timeline records every lifecycle event with a timestamp', async () => {
    const t0 = Date.now();
    const c = await cluster({ count: 2 });
    await c.peers[0]!.restart();
    await c.waitForMesh();
    await c.stop();
    for (const e of c.timeline) expect(e.at).toBeGreaterThanOrEqual(t0);
    const types = new Set(c.timeline.map((e) => e.type));
    for (const t of ['spawn', 'ready', 'nodeup', 'nodedown', 'restart', 'stop', 'exit', 'mesh'] as const) {
      expect(types, t).toContain(t);
    }
  });

  it('a stop that went wrong says how in the timeline: the kill after stopTimeout, the app that threw', async () => {
    const c = await cluster({
      count: 3,
      apps: ['stop-trouble.mjs'],
      env: ({ index }) => ({ STOP: index === 0 ? 'hangs' : 'throws' }),
      stopTimeout: 300,
    });
    const [hangs, throws] = c.peers as [Peer, Peer];
    await hangs.stop();
    await throws.stop();
    // The third stops with its cluster (no polite leave, killed once its apps stopped).
    await c.stop();
    const events = (peer: string) =>
      c.timeline.filter((e) => e.peer === peer && ['stop', 'kill', 'exit'].includes(e.type));
    const said = (peer: string) => events(peer).map((e) => `${e.type} ${e.detail ?? ''}`.trim());
    expect(said('peer-1')).toEqual([
      'stop',
      'kill SIGKILL after stopTimeout (300 ms): the stop of app stop-trouble.mjs did not end',
      'exit signal SIGKILL; killed after stopTimeout (300 ms)',
    ]);
    // The kill is recorded when stopTimeout ran out, not when the stop began.
    const [stop, kill] = events('peer-1');
    expect(kill!.at - stop!.at).toBeGreaterThanOrEqual(250);
    expect(said('peer-2')).toEqual([
      'stop',
      'exit code 0; app stop-trouble.mjs failed to stop (Error: stop-marker: the database is gone)',
    ]);
    // Its SIGKILL is the cluster's stop's own, not a crash: the exit says so.
    expect(said('peer-3')).toEqual([
      'stop',
      "exit signal SIGKILL (its cluster's stop, once its apps had stopped); app stop-trouble.mjs failed to stop (Error: stop-marker: the database is gone)",
    ]);
    // Peers whose apps have no stop to run are killed at once by their cluster's stop.
    const plain = await cluster({ count: 1 });
    await plain.stop();
    expect(plain.timeline.find((e) => e.type === 'exit')?.detail).toBe(
      "signal SIGKILL (its cluster's stop: no app had a stop to run)",
    );
  });

  it("the mesh event counts its peers in words that fit: '1 peer', '2 peers'", async () => {
    const one = await cluster({ count: 1 });
    const two = await cluster({ count: 2 });
    const mesh = (c: Cluster) => c.timeline.find((e) => e.type === 'mesh')?.detail;
    expect(mesh(one)).toBe('1 peer');
    expect(mesh(two)).toBe('2 peers');
  });
});

describe('faults racing each other', () => {
  const slow = (ms: number) => ({ apps: ['slow-start.mjs'], env: { START_MS: String(ms) } });
  const lifecycle = (c: Cluster, peer: string) =>
    c.timeline
      .filter(
        (e) => e.peer === peer && ['spawn', 'ready', 'restart', 'stop', 'exit', 'crash'].includes(e.type),
      )
      .map((e) => e.type);

  it('remove() of a peer still booting takes out only that peer; add() goes on without it', async () => {
    const c = await cluster({ count: 2, name: 'remove-booting' });
    const adding = c.add(2, slow(400));
    const [, , p3, p4] = c.peers as [Peer, Peer, Peer, Peer];
    await c.remove(p3);
    expect(await adding).toEqual([p4]);
    expect(c.peers.map((p) => p.name)).toEqual(['peer-1', 'peer-2', 'peer-4']);
    meshed(c);
    // Let go of for good: it cannot come back behind the cluster's back.
    await expect(p3.restart()).rejects.toThrow(
      /`restart\(\)`: it was removed from cluster remove-booting \(got "peer-3"\)\. Call cluster\.add\(\) for a new peer\./,
    );
    // A call to it does not advise the restart() it refuses.
    await expect(p3.call('anything')).rejects.toThrow(
      /Cannot call\("anything"\) on peer peer-3: it was removed from cluster remove-booting, so it cannot be restarted\. Call cluster\.add\(\) for a new peer\./,
    );
    await c.stop();
    await expect(c.peers[0]!.restart()).rejects.toThrow(/its cluster remove-booting was stopped/);
    await expect(c.peers[0]!.nodes()).rejects.toThrow(
      /on peer peer-1: its cluster remove-booting was stopped, so it cannot be restarted\. Start a new cluster\./,
    );
    await waitForNoPeers({ cluster: 'remove-booting', timeout: 3000 });
  });

  it('restart() of a peer in its first boot lets that boot end first: one process per peer', async () => {
    const c = await cluster({ count: 1, name: 'restart-booting' });
    const adding = c.add(1, slow(300));
    const p2 = c.peers[1]!;
    const restarting = p2.restart();
    await adding;
    await restarting;
    expect(p2.state).toBe('running');
    expect(lifecycle(c, 'peer-2')).toEqual(['spawn', 'ready', 'restart', 'exit', 'spawn', 'ready']);
    expect(peerProcesses('restart-booting')).toHaveLength(2);
    await c.waitForMesh();
    meshed(c);
  });

  it('a paused peer is declared down at the first heartbeat tick past the timeout, not one later', async () => {
    const c = await cluster({ count: 2, name: 'pause-detect', heartbeat: { interval: 800, timeout: 1600 } });
    const [p1, p2] = c.peers as [Peer, Peer];
    // Its last frame is heard at a tick up to one interval after the pause, and it is declared
    // down two ticks (1.6 s) later: at most 2.4 s after the pause. Timed against the timeout
    // itself, a tick that ran a few ms later than the one it was timed from waited one tick more
    // (3.2 s) about half the time: of 6 pauses, some were. 400 ms of room for a loaded machine.
    const took: number[] = [];
    for (let round = 0; round < 6; round++) {
      const t0 = Date.now();
      await p2.pause();
      await p1.waitForNodes(0);
      took.push(Date.now() - t0);
      await p2.resume();
      await c.waitForMesh();
    }
    expect(took.filter((ms) => ms > 2800)).toEqual([]);
  }, 40_000);

  it('a peer resumed after the others declared it down relinks at once, not at their next poll', async () => {
    // Pause the one that leaves the other to dial first: the other backs off from a node that fell
    // silent (until its next poll, 5 s), and this one, resumed, would wait out its dial grace (2 s).
    const [c, other, paused] = await dialerPair('resume-relink');
    await paused.pause();
    await other.waitForNodes(0);
    await paused.resume();
    await c.waitForMesh({ timeout: 1500 });
    meshed(c);
  });

  it('a peer paused in its boot: the time paused does not count in its bootTimeout', async () => {
    const c = await cluster({ count: 1, name: 'pause-booting' });
    // Its boot, unpaused, took 0.38-0.45 s beside four spinning processes on 2 CPUs (its 0.2 s slow
    // start included): a bootTimeout of 800 ms was less than twice that.
    const adding = c.add(1, { ...slow(200), bootTimeout: 1500 });
    const p2 = c.peers[1]!;
    await new Promise<void>((resolve) =>
      p2.on('log', ({ line }) => line === 'slow start begins' && resolve()),
    );
    await p2.pause();
    // Paused past its whole bootTimeout: nothing to await but time itself.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await p2.resume();
    expect(await adding).toEqual([p2]);
    expect(p2.state).toBe('running');
    meshed(c);
  });

  it('two kill()s at once: one kill in the timeline, both resolve once the process is reaped', async () => {
    const c = await cluster({ count: 1, name: 'kill-twice' });
    const p = c.peers[0]!;
    const pid = p.pid;
    await Promise.all([p.kill(), p.kill(), p.kill('SIGTERM')]);
    expect(p.state).toBe('crashed');
    expect(peerProcesses('kill-twice').map((proc) => proc.pid)).not.toContain(pid);
    expect(c.timeline.filter((e) => e.peer === p.name && e.type === 'kill').map((e) => e.detail)).toEqual([
      'SIGKILL',
    ]);
    // A new process is a new target.
    await p.restart();
    await p.kill();
    expect(c.timeline.filter((e) => e.type === 'kill')).toHaveLength(2);
  });

  it('heal() reaches a peer still booting: it links to every peer once ready', async () => {
    const c = await cluster({ count: 2, bootTimeout: 4000 });
    await c.partition([c.peers[0]!], [c.peers[1]!]);
    // A newcomer during a partition is in no group: its boot config blocks every other peer.
    const adding = c.add(1, slow(600));
    const newcomer = c.peers[2]!;
    await new Promise<void>((resolve) =>
      newcomer.on('log', ({ line }) => line === 'slow start begins' && resolve()),
    );
    await c.heal();
    await adding;
    meshed(c);
  });

  it('a partition while a peer dies takes effect, and is recorded before the links it cuts', async () => {
    const c = await cluster({ count: 3 });
    const [p1, p2, p3] = c.peers as [Peer, Peer, Peer];
    const killing = p1.kill();
    await c.partition([p1], [p2], [p3]);
    await killing;
    expect(p2.linked()).toEqual([]);
    const types = c.timeline.map((e) => `${e.type} ${e.peer ?? ''} ${e.node?.split('@')[0] ?? ''}`);
    expect(types.indexOf('partition  ')).toBeGreaterThan(-1);
    expect(types.indexOf('partition  ')).toBeLessThan(types.indexOf('nodedown peer-2 peer-3'));
  });

  it('pause() of a peer that dies meanwhile rejects, and leaves it crashed', async () => {
    const c = await cluster({ count: 1 });
    const p = c.peers[0]!;
    const killing = p.kill();
    await expect(p.pause()).rejects.toThrow(PeerExitedError);
    await killing;
    expect(p.state).toBe('crashed');
    expect(c.timeline.map((e) => e.type)).not.toContain('pause');
  });

  it('a paused peer does not hold up healing: heal() is as quick as without it', async () => {
    const c = await cluster({
      count: 4,
      heartbeat: { interval: 100, timeout: 500 },
      healer: { pollInterval: 100 },
    });
    const [sleeper, p2, p3, p4] = c.peers as [Peer, Peer, Peer, Peer];
    await sleeper.pause();
    await Promise.all([p2, p3, p4].map((p) => p.waitForNodes(2, { timeout: 5000 })));
    // A refresh in each, not awaited, dials the paused peer, whose kernel accepts the connection
    // and never answers: before, it held each healer (and the refresh a heal queues) for 5 s.
    for (const p of [p2, p3, p4])
      await p.evaluate((ctx) => {
        void ctx.cluster.healer.refresh();
      });
    await c.partition([p2], [p3, p4]);
    // Without waiting for those dials, the refresh a heal triggers links at once.
    await c.heal({ timeout: 1500 });
    meshed(c);
  });

  it('kill() refuses the signals of pause() and resume(); SIGTERM ends a paused peer', async () => {
    const c = await cluster({ count: 1 });
    const p = c.peers[0]!;
    await expect(p.kill('SIGSTOP')).rejects.toThrow(
      /`kill\(signal\)`: stops or continues the peer instead of ending it \(got "SIGSTOP"\)\. Use peer\.pause\(\) and peer\.resume\(\)/,
    );
    await expect(p.kill('SIGCONT')).rejects.toThrow(InvalidOptionsError);
    await p.pause();
    const exited = once(p, 'exit');
    await p.kill('SIGTERM');
    expect(await exited).toEqual([null, 'SIGTERM']);
  });

  it('a call cut off by restart() says the peer was stopped, not that it died', async () => {
    const c = await cluster({ count: 1, apps: ['counter.mjs'] });
    const p = c.peers[0]!;
    const pending = p.evaluate(() => new Promise(() => {})).catch((e: Error) => e);
    await p.restart();
    const error = (await pending) as Error;
    expect(error).toBeInstanceOf(PeerExitedError);
    expect(error.message).toMatch(
      /got no answer: the peer was stopped \(stop\(\), restart\(\) or its cluster's stop\(\)\) before answering\.$/,
    );
  });

  it("a wait's error names the partition and the peers that are not running", async () => {
    const c = await cluster({ count: 3, heartbeat: { interval: 100, timeout: 500 } });
    const [p1, p2, p3] = c.peers as [Peer, Peer, Peer];
    await c.partition([p1], [p2, p3]);
    await p3.pause();
    const error = await p2.waitForNodes(2, { timeout: 800 }).catch((e) => e);
    expect(error.message).toContain(
      '\n  peer-2 is cut off from peer-1 by cluster.partition(), until cluster.heal()\n',
    );
    expect(error.message).toContain('\n  not running: peer-3 is paused (resume() it)\n');
  });
});

describe('boot failures', () => {
  it('a failed boot stops the peers already started and throws PeerBootError', async () => {
    const failure = await startCluster({
      root,
      count: 3,
      name: 'half-broken',
      apps: ['counter.mjs', 'throws-if-broken.mjs'],
      env: ({ index }) => ({ BROKEN: index === 1 }),
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(PeerBootError);
    expect(failure.peer).toBe('peer-2');
    expect(failure.app).toBe('throws-if-broken.mjs');
    expect(failure.message).toContain('peer-2 is configured broken');
    await waitForNoPeers({ cluster: 'half-broken' });
  });

  it('a failed boot on every peer throws one PeerBootError and leaves no process', async () => {
    const failure = await startCluster({ root, count: 3, name: 'broken', apps: ['throws.mjs'] }).catch(
      (e) => e,
    );
    expect(failure).toBeInstanceOf(PeerBootError);
    expect(failure.app).toBe('throws.mjs');
    await waitForNoPeers({ cluster: 'broken' });
  });

  it('a hanging app fails the cluster after bootTimeout and leaves no process', async () => {
    const failure = await startCluster({
      root,
      count: 2,
      name: 'hanging',
      apps: ['hangs.mjs'],
      // Time for both peers to reach their app on a loaded machine (≈0.1–0.45 s beside 4 spinning
      // processes on 2 CPUs): a shorter one may fail a peer in an earlier phase.
      bootTimeout: 2000,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(PeerBootError);
    expect(failure.timeout).toBe(2000);
    expect(failure.app).toBe('hangs.mjs');
    await waitForNoPeers({ cluster: 'hanging' });
  });

  it('rejects bad counts and options with InvalidOptionsError naming the option and value', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ count: 0 }, 'count', /at least 1/],
      [{ count: -2 }, 'count', /at least 1/],
      [{ count: 1.5 }, 'count', /whole number/],
      [{ count: Number.NaN }, 'count', /number of peers/],
      [{ count: '3' }, 'count', /number of peers/],
      [{ env: { A: { b: 1 } } }, 'env.A', /string, a number or a boolean/],
      [{ env: 'A=1' }, 'env', /object/],
      [{ logs: 'verbose' }, 'logs', /'buffer', 'inherit' or 'silent'/],
      [{ waitForMesh: 'yes' }, 'waitForMesh', /true or false/],
      [{ stopTimeout: 0 }, 'stopTimeout', /positive/],
      [{ healer: { pollInterval: -1 } }, 'healer.pollInterval', /positive/],
      [{ healer: { poll: 1 } }, 'healer.poll', /not an option/],
      [{ nodeArgs: '--inspect' }, 'nodeArgs', /array/],
      [{ name: 'has space' }, 'name', /letters/],
      [{ ports: ['a', 'a'] }, 'ports', /unique/],
    ];
    for (const [options, option, problem] of cases) {
      const error = await startCluster(options as never).catch((e) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(InvalidOptionsError);
      expect(error.option, JSON.stringify(options)).toBe(option);
      expect(error.value, JSON.stringify(options)).toEqual(
        option.split('.').reduce((v: any, k) => v?.[k], options),
      );
      expect(error.message, JSON.stringify(options)).toMatch(problem);
    }
    await expect(startCluster('3' as never)).rejects.toThrow(InvalidOptionsError);
  });

  it('refuses a duration past the longest Node.js timer (bootTimeout: Infinity) up front, naming it', async () => {
    const cases: [unknown, string][] = [
      [{ bootTimeout: Number.POSITIVE_INFINITY }, 'bootTimeout'],
      [{ bootTimeout: 3e9 }, 'bootTimeout'],
      [{ stopTimeout: Number.POSITIVE_INFINITY }, 'stopTimeout'],
      [{ heartbeat: { interval: 3e9, timeout: 4e9 } }, 'heartbeat.interval'],
      [{ healer: { pollInterval: 3e9 } }, 'healer.pollInterval'],
    ];
    for (const [options, option] of cases) {
      // Accepted, bootTimeout went on to boot the peers and then failed as a waitForMesh() timeout.
      const error = await startCluster({
        name: 'long-timers',
        apps: ['counter.mjs'],
        ...(options as object),
      }).catch((e) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(InvalidOptionsError);
      expect(error.option, JSON.stringify(options)).toBe(option);
      expect(error.message).toMatch(
        /must be at most 2147483647 ms \(about 24 days\), the longest timer Node\.js keeps/,
      );
    }
    expect(peerProcesses('long-timers')).toEqual([]);
    // startNode's own durations too: an interval past it would tick every millisecond.
    const node = await startNode({
      name: 'n',
      cookie: 'c',
      heartbeat: { interval: 3e9, timeout: 4e9 },
    }).catch((e) => e);
    expect(node).toBeInstanceOf(InvalidOptionsError);
    expect(node.option).toBe('heartbeat.interval');
  });
});
