// Timestamps of peer events as the test process sees them, in the same clock as the action that
// caused them (performance.now()), so a latency is one subtraction.
import { performance } from 'node:perf_hooks';
import type { Peer } from '@peer-cluster/core';

/**
 * Starts listening now for `event` about `node` on each of `peers`; the returned promise resolves
 * with the time each peer first saw it (in `peers` order), or rejects after `timeout` ms naming the
 * peers that never did.
 */
export function whenEach(
  peers: Peer[],
  event: 'nodeup' | 'nodedown',
  node: string,
  timeout = 15_000,
): Promise<number[]> {
  const seen: (number | undefined)[] = peers.map(() => undefined);
  const listeners: ((id: string) => void)[] = [];
  const off = () => {
    for (const [i, peer] of peers.entries()) peer.off(event, listeners[i]!);
  };
  return new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      const missing = peers.filter((_, i) => seen[i] === undefined).map((p) => p.name);
      reject(new Error(`no ${event} of ${node} on ${missing.join(', ')} within ${timeout} ms`));
    }, timeout);
    peers.forEach((peer, i) => {
      const listener = (id: string) => {
        if (id !== node || seen[i] !== undefined) return;
        seen[i] = performance.now();
        if (seen.every((t) => t !== undefined)) {
          clearTimeout(timer);
          off();
          resolve(seen as number[]);
        }
      };
      listeners.push(listener);
      peer.on(event, listener);
    });
  });
}
