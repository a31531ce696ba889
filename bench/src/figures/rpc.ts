// rpc-rtt and rpc-throughput: `ctx.cluster.call` between two peers, measured inside the calling
// peer (peer.evaluate runs the loop there, so the control channel is not in the figure), against
// the same traffic over a raw `ws` echo between two processes.
import { type Cluster, startCluster } from '@peer-cluster/core';
import { pin, twoCpus } from '../affinity.js';
import type { Figure } from '../figure.js';
import { startWsEcho, type WsEcho } from '../floors/ws-echo.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';

interface State {
  cluster: Cluster;
  echo: WsEcho;
}

/** The small payload of every call: a key and a short string, like a cache get. */
const PAYLOAD = { key: 'k', value: 'a small payload' };

const cpus = twoCpus();

async function setup(): Promise<State> {
  const cluster = await startCluster({ count: 2, name: clusterName('rpc'), apps: [fixture('app.js')] });
  let echo: WsEcho | undefined;
  try {
    echo = await startWsEcho();
    if (typeof cpus !== 'string') {
      // The caller on one CPU, the callee on the other, for the value and the floor alike.
      const [caller, callee] = cluster.peers.map((peer) => peer.pid!);
      pin(caller!, cpus[0]);
      pin(echo.pids.client, cpus[0]);
      pin(callee!, cpus[1]);
      pin(echo.pids.server, cpus[1]);
    }
    return { cluster, echo };
  } catch (error) {
    await Promise.all([cluster.stop(), echo?.close()]);
    throw error;
  }
}

async function teardown({ cluster, echo }: State): Promise<void> {
  await Promise.all([cluster.stop(), echo.close()]);
}

export function rpcRtt(options: { calls: number; goal: number; runs: number }): Figure<State> {
  return {
    name: 'rpc-rtt',
    unit: 'µs',
    what: `p50 of ${options.calls} sequential ctx.cluster.call round trips between two peers, small payload`,
    floorWhat: 'p50 of the same count of round trips over a raw ws echo between two processes',
    goal: options.goal,
    runs: options.runs,
    ...(typeof cpus === 'string' && { note: cpus }),
    setup,
    teardown,
    value: ({ cluster }) =>
      cluster.peers[0]!.evaluate(
        async (ctx, { target, calls, payload }) => {
          const times = new Float64Array(calls);
          for (let i = 0; i < calls; i++) {
            const t = performance.now();
            await ctx.cluster.call(target, 'echo', payload);
            times[i] = performance.now() - t;
          }
          times.sort();
          return times[Math.floor(calls / 2)]! * 1000;
        },
        { target: cluster.peers[1]!.node, calls: options.calls, payload: PAYLOAD },
      ),
    floor: ({ echo }) => echo.rtt(options.calls),
  };
}

export function rpcThroughput(options: {
  calls: number;
  window: number;
  goal: number;
  runs: number;
}): Figure<State> {
  return {
    name: 'rpc-throughput',
    unit: 'µs',
    what: `µs per ctx.cluster.call, ${options.calls} calls with ${options.window} in flight`,
    floorWhat: `µs per message, the same pipelined over a raw ws echo`,
    goal: options.goal,
    runs: options.runs,
    ...(typeof cpus === 'string' && { note: cpus }),
    setup,
    teardown,
    value: ({ cluster }) =>
      cluster.peers[0]!.evaluate(
        async (ctx, { target, calls, window, payload }) => {
          let sent = 0;
          const start = performance.now();
          const lane = async () => {
            while (sent < calls) {
              sent++;
              await ctx.cluster.call(target, 'echo', payload);
            }
          };
          await Promise.all(Array.from({ length: window }, lane));
          return ((performance.now() - start) * 1000) / calls;
        },
        { target: cluster.peers[1]!.node, calls: options.calls, window: options.window, payload: PAYLOAD },
      ),
    floor: ({ echo }) => echo.throughput(options.calls, options.window),
  };
}
