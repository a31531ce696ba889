// One refresh, as set arithmetic (libcluster's poll loop):
//   added   = discovered − linked         → connect them, in parallel
//   removed = mine − discovered           → disconnect them, even when some connects failed
// where `mine` is what this healer linked itself: a link another node made is never removed.
// Addresses are compared by host:port, since a strategy may give `host:port` without a name.

import { HandshakeError, InvalidOptionsError } from '../errors.js';
import { endpointKey, parseAddress } from '../link/address.js';
import type { Node } from '../link/node.js';
import type { NodeAddress, NodeId, RefreshResult, Strategy, StrategyContext } from '../types.js';

export function strategyContext(node: Node, strategy: Strategy, signal: AbortSignal): StrategyContext {
  return {
    self: node.info,
    node,
    signal,
    log: (line) => node.log(`peer-cluster: [${strategy.name}] ${line}`),
  };
}

export interface RefreshOutcome {
  result: RefreshResult;
  /** Set when the strategy itself failed (discover or list threw, or timed out). */
  strategyError?: Error;
}

export async function refreshOnce(
  node: Node,
  strategy: Strategy,
  mine: Set<NodeId>,
  signal: AbortSignal,
  deadline: number,
): Promise<RefreshOutcome> {
  const result: RefreshResult = { discovered: [], connected: [], failed: [], disconnected: [] };
  const ctx = strategyContext(node, strategy, signal);
  let discovered: NodeAddress[];
  let linked: Set<string>;
  try {
    discovered = await abortable(strategy.discover(ctx), signal);
    if (!Array.isArray(discovered) || discovered.some((a) => typeof a !== 'string')) {
      throw new InvalidOptionsError(
        `${strategy.name}.discover()`,
        discovered,
        'a strategy must return an array of "name@host:port" or "host:port" strings',
      );
    }
    result.discovered = [...discovered];
    const ids = await abortable(strategy.list ? strategy.list(ctx) : node.nodes(), signal);
    linked = new Set(ids.map(endpointOfId));
  } catch (error) {
    const e = asError(error);
    result.failed.push({ node: '*', error: e });
    return { result, strategyError: e };
  }

  const wanted = new Map<string, NodeAddress>();
  for (const address of discovered) {
    let host: string;
    let port: number;
    let name: string | undefined;
    try {
      ({ host, port, name } = parseAddress(address, `${strategy.name} address`));
    } catch (error) {
      result.failed.push({ node: address, error: asError(error) });
      continue;
    }
    const endpoint = endpointKey(host, port);
    if (endpoint === node.endpoint) continue;
    if (name !== undefined && node.isBlocked(name)) continue;
    wanted.set(endpoint, address);
  }
  node.forgetLeftExcept(wanted);

  const added = [...wanted].filter(([endpoint]) => !linked.has(endpoint) && !node.hasLeft(endpoint));
  const settled = await Promise.allSettled(
    added.map(([, address]) => {
      const timeout = Math.max(1, deadline - Date.now());
      return strategy.connect ? strategy.connect(ctx, address) : node.connect(address, { timeout });
    }),
  );
  settled.forEach((outcome, i) => {
    const address = added[i]![1];
    if (outcome.status === 'fulfilled') {
      result.connected.push(outcome.value);
      mine.add(outcome.value);
    } else if (!(outcome.reason instanceof HandshakeError && quiet.has(outcome.reason.reason))) {
      result.failed.push({ node: address, error: asError(outcome.reason) });
    }
  });

  for (const id of [...mine]) {
    const endpoint = endpointOfId(id);
    if (wanted.has(endpoint)) continue;
    mine.delete(id);
    if (node.linkedAt(endpoint) !== id) continue;
    try {
      await (strategy.disconnect ? strategy.disconnect(ctx, id) : node.disconnect(id));
      result.disconnected.push(id);
    } catch (error) {
      result.failed.push({ node: id, error: asError(error) });
    }
  }
  return { result };
}

/**
 * Blocked nodes (a partition) and the node itself under another host name are skipped, not
 * reported: neither is a failure the healer could do anything about.
 */
const quiet = new Set<HandshakeError['reason']>(['blocked', 'self']);

export function endpointOfId(id: NodeId): string {
  return id.slice(id.indexOf('@') + 1);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function abortable<T>(value: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (typeof (value as Promise<T> | undefined)?.then !== 'function') return Promise.resolve(value);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    (value as Promise<T>).then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
