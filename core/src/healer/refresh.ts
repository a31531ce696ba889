// One refresh, as set arithmetic (libcluster's poll loop):
//   added   = discovered − linked         → connect them, in parallel
//   removed = mine − discovered           → disconnect them, even when some connects failed
// where `mine` is what this healer linked itself: a link another node made is never removed.
// Addresses are compared by host:port, since a strategy may give `host:port` without a name.
//
// One dialer per pair: a handshake costs both ends about as much CPU as a second of heartbeats,
// and when both ends of a pair dial each other (both discover the other at about the same time:
// a newcomer finds the others while their watch tells them about the newcomer) one of the two
// links is thrown away. So an automatic refresh dials a node at once only when this node is the
// pair's designated dialer (designatedDialer: a rule both ends agree on); it leaves the other
// nodes to dial it, and dials them itself only once they stayed unlinked for a grace period (the
// other end may not discover this one, may be paused, or its dial may have failed). A refresh
// asked for (healer.refresh(), runOnce) dials everything at once.

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

/**
 * Whether the node at endpoint `self` dials first when it and the node at `other` discover each
 * other. Both ends compute the same answer; a hash, not plain order, so that in a mesh every node
 * dials about half of the others (no node dials all of them while another dials none).
 */
export function designatedDialer(self: string, other: string): boolean {
  const [lo, hi] = self < other ? [self, other] : [other, self];
  let h = 0x811c9dc5; // FNV-1a
  const key = `${lo}\n${hi}`;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) & 1) === 0 ? self === lo : self === hi;
}

/** For automatic refreshes: since when each node left to the other end to dial was unlinked. */
export class DialGrace {
  readonly ms: number;
  readonly #since = new Map<string, number>();
  /**
   * Those whose grace ended and that were dialed: from then on they are dialed on every refresh,
   * like the nodes this one dials first, and no longer call for a refresh of their own (one that
   * stays unreachable would otherwise have the healer refresh back to back, hundreds a second).
   */
  readonly #over = new Set<string>();

  constructor(ms: number) {
    this.ms = ms;
  }

  /** Whether to dial the unlinked node at `endpoint` now. */
  due(self: string, endpoint: string, now: number): boolean {
    if (designatedDialer(self, endpoint)) return true;
    const since = this.#since.get(endpoint);
    if (since === undefined) this.#since.set(endpoint, now);
    const due = since !== undefined && now - since >= this.ms;
    if (due) this.#over.add(endpoint);
    return due;
  }

  /** The nodes left to the other end to dial. */
  waiting(): IterableIterator<string> {
    return this.#since.keys();
  }

  /** Forget the nodes that are no longer unlinked (or no longer discovered). */
  retain(unlinked: Set<string>): void {
    for (const endpoint of this.#since.keys()) {
      if (unlinked.has(endpoint)) continue;
      this.#since.delete(endpoint);
      this.#over.delete(endpoint);
    }
  }

  /** When the next node left to the other end becomes due, if any (not one dialed already). */
  next(): number | undefined {
    let next: number | undefined;
    for (const [endpoint, since] of this.#since)
      if (!this.#over.has(endpoint) && (next === undefined || since < next)) next = since;
    return next === undefined ? undefined : next + this.ms;
  }
}

export async function refreshOnce(
  node: Node,
  strategy: Strategy,
  mine: Set<NodeId>,
  signal: AbortSignal,
  deadline: number,
  grace?: DialGrace,
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

  let added = [...wanted].filter(([endpoint]) => !linked.has(endpoint) && !node.hasLeft(endpoint));
  if (grace) {
    // A node left to dial this one, and linked since: this healer wanted that link, so it is one
    // of its own (unlinked when no longer discovered), as if it had dialed it.
    for (const endpoint of grace.waiting()) {
      const id = node.linkedAt(endpoint);
      if (id !== undefined && wanted.has(endpoint)) mine.add(id);
    }
    grace.retain(new Set(added.map(([endpoint]) => endpoint)));
    const now = Date.now();
    added = added.filter(([endpoint]) => grace.due(node.endpoint, endpoint, now));
  }
  // A dial gets the node's whole handshake timeout, whatever is left of the refresh: cut short,
  // a handshake that was nearly done is wasted on both ends and the acceptor's side of it goes up
  // and down again (under load, most of a 50-peer start's failed handshakes were such dials, which
  // only added to the load). The refresh stops waiting at its deadline; the dial goes on, and
  // the next refresh's connect() joins it.
  // A node that stopped answering (paused: its kernel still accepts the connection) would hold
  // this refresh, and every refresh queued behind it (a heal's), until the handshake times out.
  // It is dialed all the same, without waiting: should it answer, the link is this healer's.
  if (!strategy.connect) {
    const unresponsive = added.filter(([endpoint]) => node.isUnresponsive(endpoint));
    for (const [, address] of unresponsive) {
      node.connect(address).then(
        (id) => mine.add(id),
        () => {},
      );
    }
    if (unresponsive.length > 0) added = added.filter(([endpoint]) => !node.isUnresponsive(endpoint));
  }
  const settled = await Promise.allSettled(
    added.map(([, address]) =>
      strategy.connect
        ? strategy.connect(ctx, address)
        : untilDeadline(node.connect(address), deadline, address),
    ),
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
      await (strategy.disconnect ? strategy.disconnect(ctx, id) : node.unlinkUndiscovered(id, strategy.name));
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

function untilDeadline<T>(promise: Promise<T>, deadline: number, address: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new HandshakeError(
            address,
            'timeout',
            `not linked when the refresh timed out (the dial goes on; a later refresh picks it up)`,
          ),
        ),
      Math.max(0, deadline - Date.now()),
    );
    // The dial holds the process open while it matters; this timer must not.
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
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
