// Kill storm: a 5-peer cluster through a seeded random run of kills, restarts, pauses, resumes,
// partitions and heals, with calls in flight the whole time (test → peer over the control
// channel, peer → peer over links, evaluated code calling across). After each step the mesh of
// the running peers re-forms within its bound; every call settles, with a value or a named error,
// within its bound; at the end nothing leaks: processes, sockets, pipes, port leases.
//
// Short version in `npm test`; `npm run stress` runs STORM_STEPS (default 200 there). A failure
// prints the seed: replay it with STORM_SEED=<seed>.
import { type Cluster, type Peer, startCluster } from '@peer-cluster/core';
import { afterAll, describe, expect, it } from 'vitest';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';
import {
  childProcesses,
  describeSockets,
  eventually,
  openHandles,
  prng,
  registryStatus,
  reliabilityDir,
  seedFromEnv,
  sized,
  stopRegistry,
  usePrivateRegistry,
} from './fixtures/reliability/support.js';

const registry = await usePrivateRegistry();
afterAll(() => stopRegistry(registry.port));

const STEPS = sized('STORM_STEPS', 25);
const SEED = seedFromEnv();
const PEERS = 5;
/** How long the mesh of the running peers may take to re-form after a step. */
const MESH_BOUND = 30_000;
/** How long a call may take to settle, counted from when it started or its peers last resumed. */
const CALL_BOUND = 20_000;
/** The timeout the peers' own node-to-node calls use. */
const LINK_CALL_TIMEOUT = 3000;
/** Errors a call may settle with: each says what happened (a RemoteError carries one of these). */
const NAMED = new Set([
  'NodeDownError',
  'RpcTimeoutError',
  'PeerExitedError',
  'RemoteError',
  'UnknownMethodError',
]);

type Kind = 'kill' | 'restart' | 'pause' | 'resume' | 'partition' | 'heal';

interface InFlight {
  what: string;
  started: number;
  peers: Peer[];
}

describe('kill storm', () => {
  it(
    `a ${PEERS}-peer cluster survives ${STEPS} random faults with calls in flight (seed ${SEED}, replay with STORM_SEED=${SEED})`,
    async () => {
      // The steps have a generator of their own, so the calls' timing never changes the replay.
      const random = prng(SEED);
      const callRandom = prng(SEED ^ 0x5bd1e995);
      const history: string[] = [];
      const failures: string[] = [];
      const fail = (what: string) => {
        failures.push(`${what} [seed ${SEED}, after: ${history.slice(-5).join(' | ')}]`);
      };

      // A one-peer cluster first, so what a process keeps for its lifetime (the shared registry
      // connection, esbuild's service when it had to bundle the runtime) is in the baseline.
      await (await startCluster({ count: 1, root: reliabilityDir, apps: ['storm-app.mjs'] })).stop();
      const before = openHandles();
      const beforeList = describeSockets();

      const cluster: Cluster = await startCluster({
        count: PEERS,
        root: reliabilityDir,
        apps: ['storm-app.mjs'],
        heartbeat: { interval: 200, timeout: 2000 },
        healer: { pollInterval: 500 },
        stopTimeout: 3000,
      });
      const peers = [...cluster.peers];
      const resumedAt = new Map<Peer, number>();
      let partitioned = false;

      // ---- calls in flight throughout ----
      const inFlight = new Set<InFlight>();
      const outcomes = new Map<string, number>();
      let calling = true;
      const track = async (
        what: string,
        involved: Peer[],
        call: () => Promise<unknown>,
        expected: unknown,
      ) => {
        const entry: InFlight = { what, started: Date.now(), peers: involved };
        inFlight.add(entry);
        try {
          const value = await call();
          if (value !== expected) fail(`${what} resolved to ${JSON.stringify(value)}, not ${expected}`);
          outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
        } catch (error) {
          const e = error as Error & { remoteName?: string };
          // A RemoteError of a RemoteError (evaluated code whose own call failed) names the
          // innermost error in its message: `RemoteError on a: NodeDownError on b: …`.
          const chain = [e.name];
          if (e.name === 'RemoteError') chain.push(e.remoteName ?? '?');
          if (e.remoteName === 'RemoteError')
            chain.push(/^\S+ on \S+: (\w+) on /.exec(e.message)?.[1] ?? '?');
          const name = chain.join(' > ');
          outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
          if (!chain.every((n) => NAMED.has(n)))
            fail(`${what} rejected with an unnamed error: ${e.name}: ${e.message}`);
        } finally {
          inFlight.delete(entry);
        }
      };
      let n = 0;
      const worker = async () => {
        while (calling) {
          const alive = peers.filter((p) => p.state === 'running');
          if (alive.length === 0) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          const from = callRandom.pick(alive);
          const to = callRandom.pick(peers.filter((p) => p !== from));
          const value = n++;
          const kind = callRandom.int(3);
          if (kind === 0) {
            await track(`${from.name}.call(echo)`, [from], () => from.call('echo', value), value);
          } else if (kind === 1) {
            await track(
              `${from.name} relays to ${to.name}`,
              [from, to],
              () => from.call('relay', to.node, value, LINK_CALL_TIMEOUT),
              value,
            );
          } else {
            await track(
              `${from.name}.evaluate(call ${to.name})`,
              [from, to],
              () =>
                from.evaluate(
                  (ctx, [target, v, timeout]: [string, number, number]) =>
                    (ctx.cluster as any).callWithOptions(target, 'echo', [v], { timeout }),
                  [to.node, value, LINK_CALL_TIMEOUT],
                ),
              value,
            );
          }
          // Pace the callers so the storm, not the calls, is what loads the machine.
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      // A call must settle within CALL_BOUND of when it started or its peers last came back.
      const watchdog = setInterval(() => {
        const now = Date.now();
        for (const call of inFlight) {
          if (call.peers.some((p) => p.state === 'paused')) continue;
          const since = Math.max(call.started, ...call.peers.map((p) => resumedAt.get(p) ?? 0));
          if (now - since > CALL_BOUND) {
            fail(`${call.what} did not settle within ${CALL_BOUND} ms`);
            inFlight.delete(call);
          }
        }
      }, 250);
      const workers = Array.from({ length: 3 }, worker);

      // ---- the storm ----
      const choose = (): { kind: Kind; run: () => Promise<unknown>; label: string } => {
        const live = peers.filter((p) => p.state === 'running' || p.state === 'paused');
        const running = peers.filter((p) => p.state === 'running');
        const paused = peers.filter((p) => p.state === 'paused');
        const down = peers.filter((p) => p.state === 'crashed' || p.state === 'stopped');
        const options: { kind: Kind; weight: number }[] = [
          { kind: 'kill', weight: live.length > 2 ? 3 : 0 },
          { kind: 'restart', weight: down.length > 0 ? 4 : 1 },
          { kind: 'pause', weight: running.length > 2 && paused.length < 2 ? 2 : 0 },
          { kind: 'resume', weight: paused.length > 0 ? 3 : 0 },
          { kind: 'partition', weight: 1 },
          { kind: 'heal', weight: partitioned ? 2 : 0 },
        ];
        const { kind } = random.weighted(options);
        switch (kind) {
          case 'kill': {
            const p = random.pick(live);
            return {
              kind,
              label: `kill ${p.name}`,
              run: async () => {
                const wasPaused = p.state === 'paused';
                await p.kill();
                if (wasPaused) resumedAt.set(p, Date.now());
              },
            };
          }
          case 'restart': {
            const p = down.length > 0 && random.next() < 0.8 ? random.pick(down) : random.pick(peers);
            return {
              kind,
              label: `restart ${p.name} (${p.state})`,
              run: async () => {
                await p.restart();
                resumedAt.set(p, Date.now());
              },
            };
          }
          case 'pause': {
            const p = random.pick(running);
            return { kind, label: `pause ${p.name}`, run: () => p.pause() };
          }
          case 'resume': {
            const p = random.pick(paused);
            return {
              kind,
              label: `resume ${p.name}`,
              run: async () => {
                await p.resume();
                resumedAt.set(p, Date.now());
              },
            };
          }
          case 'partition': {
            const shuffled = random.shuffle(peers);
            const cut = 1 + random.int(PEERS - 1);
            const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
            return {
              kind,
              label: `partition ${groups.map((g) => `[${g.map((p) => p.name).join(',')}]`).join(' ')}`,
              run: async () => {
                await cluster.partition(...groups);
                partitioned = true;
              },
            };
          }
          case 'heal':
            return {
              kind,
              label: 'heal',
              run: async () => {
                await cluster.heal({ timeout: MESH_BOUND });
                partitioned = false;
              },
            };
        }
      };

      const kinds = new Map<Kind, number>();
      try {
        for (let i = 0; i < STEPS; i++) {
          const step = choose();
          history.push(`${i + 1}: ${step.label}`);
          kinds.set(step.kind, (kinds.get(step.kind) ?? 0) + 1);
          try {
            await step.run();
            await cluster.waitForMesh({ timeout: MESH_BOUND });
          } catch (error) {
            throw new Error(
              `step ${history.at(-1)} failed (seed ${SEED}): ${(error as Error).stack}\nhistory:\n${history.join('\n')}`,
            );
          }
          expect(failures, `seed ${SEED}`).toEqual([]);
        }

        // ---- back to a whole cluster ----
        for (const p of peers.filter((p) => p.state === 'paused')) {
          await p.resume();
          resumedAt.set(p, Date.now());
        }
        if (partitioned) await cluster.heal({ timeout: MESH_BOUND });
        for (const p of peers.filter((p) => p.state !== 'running')) await p.restart();
        await cluster.waitForMesh({ timeout: MESH_BOUND });
        calling = false;
        await Promise.all(workers);
        expect(failures, `seed ${SEED}`).toEqual([]);
        expect(outcomes.get('ok') ?? 0, `seed ${SEED}`).toBeGreaterThan(0);

        // Every peer, asked itself, is linked to every other, and every pair answers a call.
        const ids = () => peers.map((p) => p.node).sort();
        for (const p of peers) {
          await eventually(
            async () => JSON.stringify([...(await p.nodes()), p.node].sort()) === JSON.stringify(ids()),
            MESH_BOUND,
            async () => `${p.name} is linked to [${(await p.nodes()).join(', ')}] (seed ${SEED})`,
          );
        }
        for (const p of peers) {
          for (const q of peers) {
            if (p !== q)
              expect(await p.call('relay', q.node, `${p.name}→${q.name}`, 10_000)).toBe(
                `${p.name}→${q.name}`,
              );
          }
        }
        console.log(
          `kill storm (seed ${SEED}): ${STEPS} steps ${JSON.stringify(Object.fromEntries(kinds))}, calls ${JSON.stringify(Object.fromEntries(outcomes))}`,
        );
      } catch (error) {
        // What the peers said and what happened to them, for the replay.
        const said = peers.map(
          (p) =>
            `--- ${p.name} (${p.state}) ---\n${p
              .logs()
              .slice(-15)
              .map((l) => l.line)
              .join('\n')}`,
        );
        const timeline = cluster.timeline
          .filter((e) => e.type !== 'nodeup' && e.type !== 'nodedown')
          .slice(-30)
          .map((e) => `${e.at} ${e.type} ${e.peer ?? ''} ${e.detail ?? ''}`);
        (error as Error).message += `\nseed ${SEED}\n${said.join('\n')}\ntimeline:\n${timeline.join('\n')}`;
        throw error;
      } finally {
        calling = false;
        clearInterval(watchdog);
        await cluster.stop();
      }

      // ---- nothing leaks ----
      await waitForNoPeers({ cluster: cluster.name, timeout: 5000 });
      expect(peerProcesses(cluster.name)).toEqual([]);
      await eventually(
        () => {
          const now = openHandles();
          return now.sockets <= before.sockets && now.pipes <= before.pipes;
        },
        10_000,
        () =>
          `sockets or pipes leaked: before ${JSON.stringify(before)}:\n${beforeList.join('\n')}\nafter ${JSON.stringify(openHandles())}:\n${describeSockets().join('\n')}\nchildren: ${childProcesses().join(', ')}`,
      );
      await eventually(
        async () => {
          const status = await registryStatus(registry.port);
          return status.leases.length === 0 && status.clusters[cluster.name] === undefined;
        },
        10_000,
        async () => `the registry still holds ${JSON.stringify(await registryStatus(registry.port))}`,
      );
    },
    120_000 + STEPS * 15_000,
  );
});

describe('partitions and pauses', () => {
  // partition() and heal() reach only the running peers; resume() brings a paused one up to date.
  it('a peer paused across heal() relinks after resume()', async () => {
    const c = await startCluster({
      count: 3,
      root: reliabilityDir,
      apps: ['storm-app.mjs'],
      heartbeat: { interval: 200, timeout: 2000 },
      healer: { pollInterval: 300 },
    });
    try {
      const [p1, p2, p3] = c.peers as [Peer, Peer, Peer];
      await c.partition([p1], [p2, p3]);
      await p1.pause();
      await c.heal();
      await p1.resume();
      await c.waitForMesh({ timeout: 5000 });
    } finally {
      await c.stop();
    }
  }, 30_000);
});
