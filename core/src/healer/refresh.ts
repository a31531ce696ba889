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
import { printable } from '../printable.js';
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
  /**
   * The CPU time the refresh took, in ms, not counting its wait for the dials. CPU, not wall time:
   * on a machine whose cores are all busy (a 50-peer start on two), a refresh of 1 ms of CPU takes
   * tens of ms of wall time, and spacing refreshes by that held up the mesh (cluster-ready-50
   * ≈2.64 → ≈2.93 of its floor).
   */
  busy: number;
  /** How many other nodes it found (not blocked, not itself). */
  found: number;
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
  /** Whether this node is the designated dialer of each node left unlinked (a hash: kept). */
  readonly #designated = new Map<string, boolean>();
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
    let designated = this.#designated.get(endpoint);
    if (designated === undefined) {
      designated = designatedDialer(self, endpoint);
      this.#designated.set(endpoint, designated);
    }
    if (designated) return true;
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
    for (const endpoint of this.#designated.keys())
      if (!unlinked.has(endpoint)) this.#designated.delete(endpoint);
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

/** How many dials a healer has in flight at most: one refresh starts no more, the rest wait. */
export const MAX_DIALS_IN_FLIGHT = 32;
/**
 * How many more a node likely real may use (Dials.likely). 32 addresses that accept TCP and never
 * answer hold the others for a handshake timeout (5 s); a newcomer must not wait for them.
 */
export const RESERVED_DIALS = 8;
/**
 * How long an automatic refresh waits for its dials, in ms. A dial still going on after that goes
 * on (its link is this healer's when it ends); the refresh ends, so that one queued behind it (a
 * newcomer's push) does not wait for addresses that never answer.
 */
const DIAL_PATIENCE = 250;

/**
 * The dials of one healer: how many are in flight (at most MAX_DIALS_IN_FLIGHT), and when each
 * failing address may be dialed again. A strategy may list addresses nothing answers at (a stale
 * or forged registration: with 2000 of them, each peer dialed them all on every push, ≈11–16 %
 * CPU and +50–100 MiB a peer; 600 that accept TCP and never answer held 630 sockets a peer). So an
 * automatic refresh redials a failing address only after a back-off, from the dial grace doubling
 * up to the poll interval, reset when the address answers or its registration changes (it stops
 * being discovered, or comes back under another name). And it dials the likely real nodes first:
 * those linked before, then the newest (first seen in a later refresh, then in the strategy's
 * order: a strategy lists the likeliest first, the local registry its own startCluster()'s nodes
 * and then the newest registrations), then the failing ones whose back-off ended.
 */
export class Dials {
  /** host:port of the dials in flight (a refresh that dials one again joins it). */
  readonly #dialing = new Set<string>();
  /** Called when a dial ends while a refresh left some addresses for want of a free dial. */
  onFree: (() => void) | undefined;
  /** Called when a dial fails, also one its refresh no longer waited for (DIAL_PATIENCE). */
  onFailed: ((address: string, error: unknown) => void) | undefined;
  /** Whether the latest refresh left addresses for want of a free dial. */
  #waiting = false;
  readonly #min: number;
  readonly #max: number;
  readonly #failing = new Map<string, { address: string; failures: number; retryAt: number }>();
  /** host:port → the number of the refresh that first discovered it. */
  readonly #seen = new Map<string, number>();
  readonly #linkedBefore = new Set<string>();
  /** host:port first discovered by the latest refresh. */
  #fresh = new Set<string>();
  #refreshes = 0;
  /** Redials of failing addresses an automatic refresh may start (mayRedial). */
  #tokens = MAX_DIALS_IN_FLIGHT;
  #filledAt = 0;

  /** `min`, `max`: the first back-off and the longest, in ms. */
  constructor(min: number, max: number) {
    this.#min = min;
    this.#max = Math.max(min, max);
  }

  /** Notes what a refresh found: forgets what is no longer discovered, or no longer failing. */
  note(wanted: Map<string, string>, linked: Set<string>): void {
    const refresh = ++this.#refreshes;
    for (const endpoint of this.#seen.keys()) if (!wanted.has(endpoint)) this.#seen.delete(endpoint);
    for (const endpoint of this.#linkedBefore) if (!wanted.has(endpoint)) this.#linkedBefore.delete(endpoint);
    for (const [endpoint, f] of this.#failing)
      if (wanted.get(endpoint) !== f.address || linked.has(endpoint)) this.#failing.delete(endpoint);
    this.#fresh = new Set();
    for (const endpoint of wanted.keys()) {
      if (!this.#seen.has(endpoint)) {
        this.#seen.set(endpoint, refresh);
        if (refresh > 1) this.#fresh.add(endpoint);
      }
      if (linked.has(endpoint)) this.#linkedBefore.add(endpoint);
    }
  }

  /** `candidates` (in the strategy's order) best first. */
  order<T>(candidates: [endpoint: string, T][]): [string, T][] {
    const keys = new Map<string, [number, number]>();
    candidates.forEach(([endpoint], i) => {
      const failing = this.#failing.get(endpoint);
      if (failing) keys.set(endpoint, [2, failing.retryAt]);
      else if (this.#linkedBefore.has(endpoint)) keys.set(endpoint, [0, i]);
      else keys.set(endpoint, [1, -(this.#seen.get(endpoint) ?? 0) * 1e9 + i]);
    });
    return [...candidates].sort(([x], [y]) => {
      const a = keys.get(x)!;
      const b = keys.get(y)!;
      return a[0] - b[0] || a[1] - b[1];
    });
  }

  dialing(endpoint: string): boolean {
    return this.#dialing.has(endpoint);
  }

  get inFlight(): number {
    return this.#dialing.size;
  }

  /**
   * Whether the node at `endpoint` is likely real: linked before, or a newcomer (one of at most
   * RESERVED_DIALS first discovered by this refresh, not its first: nodes start one by one, a
   * batch of hundreds is a flood).
   */
  likely(endpoint: string): boolean {
    if (this.#failing.has(endpoint)) return false;
    return (
      this.#linkedBefore.has(endpoint) || (this.#fresh.size <= RESERVED_DIALS && this.#fresh.has(endpoint))
    );
  }

  /**
   * Whether an automatic refresh may redial the failing address at `endpoint` now: its back-off
   * is over, and the redials of the last back-off period number fewer than MAX_DIALS_IN_FLIGHT
   * (2000 registrations of closed ports, each redialed every 2 s, still cost each peer 700 failed
   * dials a second and 16 % CPU). A node that never failed, or linked before, is not counted.
   */
  mayRedial(endpoint: string, now: number): boolean {
    const failing = this.#failing.get(endpoint);
    if (failing === undefined) return true;
    if (failing.retryAt > now) return false;
    if (this.#max > 0) {
      this.#tokens = Math.min(
        MAX_DIALS_IN_FLIGHT,
        this.#tokens + ((now - this.#filledAt) * MAX_DIALS_IN_FLIGHT) / this.#max,
      );
    }
    this.#filledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /** How many failing addresses are backed off at `now`. */
  backedOffCount(now: number): number {
    let n = 0;
    for (const f of this.#failing.values()) if (f.retryAt > now) n++;
    return n;
  }

  /** Notes whether this refresh left an address for want of a free dial (onFree then fires). */
  noteWaiting(waiting: boolean): void {
    this.#waiting = waiting;
  }

  /** Counts `dial` in flight until it settles, and notes how it ended. */
  track<T>(endpoint: string, address: string, dial: Promise<T>): Promise<T> {
    if (this.#dialing.has(endpoint)) return dial;
    this.#dialing.add(endpoint);
    const settled = () => {
      this.#dialing.delete(endpoint);
      if (this.#waiting) {
        this.#waiting = false;
        this.onFree?.();
      }
    };
    dial.then(
      () => {
        this.#failing.delete(endpoint);
        settled();
      },
      (error: unknown) => {
        const failures = (this.#failing.get(endpoint)?.failures ?? 0) + 1;
        const backOff = Math.min(this.#min * 2 ** Math.min(failures - 1, 20), this.#max);
        this.#failing.set(endpoint, { address, failures, retryAt: Date.now() + backOff });
        settled();
        this.onFailed?.(address, error);
      },
    );
    return dial;
  }
}

export async function refreshOnce(
  node: Node,
  strategy: Strategy,
  mine: Set<NodeId>,
  signal: AbortSignal,
  deadline: number,
  options: {
    /** Whether the refresh waits for its dials until `deadline` (else DIAL_PATIENCE at most). */
    asked?: boolean | undefined;
    /** For an automatic refresh: the nodes left to the other end to dial first. */
    grace?: DialGrace | undefined;
    /** For a restart: the nodes it dialed at once already; it dials the others at once too. */
    rejoined?: Set<string> | undefined;
    /** The healer's dials; a refresh of its own (runOnce) when not given. */
    dials?: Dials | undefined;
    /** Whether failing addresses wait out their back-off (an automatic refresh). */
    backOff?: boolean | undefined;
  } = {},
): Promise<RefreshOutcome> {
  const started = process.cpuUsage();
  const { grace, rejoined, dials = new Dials(0, 0), backOff = false, asked = true } = options;
  const result: RefreshResult = { discovered: [], connected: [], failed: [], disconnected: [] };
  const ctx = strategyContext(node, strategy, signal);
  let discovered: NodeAddress[];
  let ids: NodeId[];
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
    ids = await abortable(strategy.list ? strategy.list(ctx) : node.nodes(), signal);
  } catch (error) {
    const e = asError(error);
    result.failed.push({ node: '*', error: e });
    return { result, strategyError: e, busy: cpuMs(started), found: 0 };
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
    if (node.isSelf(endpoint)) continue;
    if (name !== undefined && node.isBlocked(name)) continue;
    wanted.set(endpoint, address);
  }
  // A node is linked at the host:port of its id, and at each address it was dialed at (a host
  // name, another form of its IP): a strategy may give either.
  const linked = new Set(ids.map(endpointOfId));
  const linkedIds = new Set(ids);
  for (const endpoint of wanted.keys()) {
    const id = node.linkedAt(endpoint);
    if (id !== undefined && linkedIds.has(id)) linked.add(endpoint);
  }
  node.forgetLeftExcept(wanted);
  dials.note(wanted, linked);

  const now = Date.now();
  let added = [...wanted].filter(([endpoint]) => !linked.has(endpoint) && !node.hasLeft(endpoint));
  if (grace) {
    // A node left to dial this one, and linked since: this healer wanted that link, so it is one
    // of its own (unlinked when no longer discovered), as if it had dialed it.
    for (const endpoint of grace.waiting()) {
      const id = node.linkedAt(endpoint);
      if (id !== undefined && wanted.has(endpoint)) mine.add(id);
    }
    grace.retain(new Set(added.map(([endpoint]) => endpoint)));
  }
  // A failing address was dialed before: its grace is over, or it never had one.
  if (backOff) added = added.filter(([endpoint]) => dials.mayRedial(endpoint, now));
  if (grace) {
    added = added.filter(
      ([endpoint]) =>
        grace.due(node.endpoint, endpoint, now) ||
        (rejoined !== undefined && !rejoined.has(endpoint) && rejoined.add(endpoint) !== undefined),
    );
  }
  // Dialed already: a refresh asked for joins that dial, an automatic one leaves it be.
  if (!asked) added = added.filter(([endpoint]) => !dials.dialing(endpoint));
  added = dials.order(added);
  // The rest wait for a free dial: the healer refreshes again when one ends.
  let inFlight = dials.inFlight;
  const candidates = added.length;
  added = added.filter(([endpoint]) => {
    if (dials.dialing(endpoint)) return true;
    const cap = MAX_DIALS_IN_FLIGHT + (dials.likely(endpoint) ? RESERVED_DIALS : 0);
    if (inFlight >= cap) return false;
    inFlight++;
    return true;
  });
  const deferred = candidates - added.length;
  dials.noteWaiting(deferred > 0);
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
    for (const [endpoint, address] of unresponsive) {
      dials.track(endpoint, address, node.connect(address)).then(
        (id) => mine.add(id),
        () => {},
      );
    }
    if (unresponsive.length > 0) added = added.filter(([endpoint]) => !node.isUnresponsive(endpoint));
  }
  const dialing = cpuMs(started);
  const settled = await Promise.allSettled(
    added.map(([endpoint, address]) => {
      const dial = dials.track(
        endpoint,
        address,
        strategy.connect
          ? Promise.resolve().then(() => strategy.connect!(ctx, address))
          : node.connect(address),
      );
      if (strategy.connect) return dial;
      // Not waited for past the deadline (or DIAL_PATIENCE): should it link later, the link is
      // this healer's.
      dial.then(
        (id) => mine.add(id),
        () => {},
      );
      if (asked) return untilDeadline(dial, deadline, address);
      return untilDeadline(dial, Math.min(deadline, Date.now() + DIAL_PATIENCE), address, true);
    }),
  );
  const dialed = process.cpuUsage();
  const failedDials: RefreshResult['failed'] = [];
  settled.forEach((outcome, i) => {
    const address = added[i]![1];
    if (outcome.status === 'fulfilled') {
      // One node given at two addresses (its id's and a host name) is linked once.
      if (!result.connected.includes(outcome.value)) result.connected.push(outcome.value);
      mine.add(outcome.value);
    } else if (outcome.reason === STILL_DIALING) {
      // Neither linked nor failed yet.
    } else if (!(outcome.reason instanceof HandshakeError && quiet.has(outcome.reason.reason))) {
      failedDials.push({ node: address, error: asError(outcome.reason) });
    }
  });
  result.failed.push(...failedDials);
  if (failedDials.length > 0)
    logFailedDials(node, failedDials, added.length, dials.backedOffCount(Date.now()), deferred);

  // The ids linked at what the strategy gave (after this refresh's dials): those it still discovers.
  const wantedIds = new Set<NodeId>();
  for (const endpoint of wanted.keys()) {
    const id = node.linkedAt(endpoint);
    if (id !== undefined) wantedIds.add(id);
  }
  for (const id of [...mine]) {
    const endpoint = endpointOfId(id);
    if (wanted.has(endpoint) || wantedIds.has(id)) continue;
    mine.delete(id);
    if (node.linkedAt(endpoint) !== id) continue;
    try {
      await (strategy.disconnect ? strategy.disconnect(ctx, id) : node.unlinkUndiscovered(id, strategy.name));
      result.disconnected.push(id);
    } catch (error) {
      result.failed.push({ node: id, error: asError(error) });
    }
  }
  return { result, busy: dialing + cpuMs(dialed), found: wanted.size };
}

/** CPU time of this process since `since` (a process.cpuUsage()), in ms. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
}

/**
 * One line a refresh for the dials that failed, however many (an address nothing answers at is
 * no news the next time: one line each would flood the log).
 */
function logFailedDials(
  node: Node,
  failed: RefreshResult['failed'],
  dialed: number,
  backedOff: number,
  deferred: number,
): void {
  const reasons = new Map<string, number>();
  for (const { error } of failed) {
    const e = error as Error & { code?: string; reason?: string };
    const reason = e.code ?? e.reason ?? e.name;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const counts = [...reasons].map(([reason, n]) => `${n} ${reason}`).join(', ');
  const first = failed[0]!;
  const waiting = [
    backedOff > 0 &&
      `${backedOff} failing ${backedOff === 1 ? 'address waits' : 'addresses wait'} out a back-off`,
    deferred > 0 && `${deferred} wait for a free dial (at most ${MAX_DIALS_IN_FLIGHT} at once)`,
  ].filter(Boolean);
  node.log(
    `peer-cluster: healer of ${node.id}: ${failed.length} of ${dialed} dials failed (${counts}), e.g. ${printable(`${first.node}: ${first.error?.message}`)}${waiting.length > 0 ? `; ${waiting.join(', ')}` : ''}`,
  );
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

/** What a dial not waited for past DIAL_PATIENCE settles with for its refresh. */
const STILL_DIALING = new Error('still dialing');
// Its stack, taken where this module was first loaded (in a test's hook, say), would keep that
// call's frames, and whatever they hold, for the process's life.
STILL_DIALING.stack = 'Error: still dialing';

function untilDeadline<T>(
  promise: Promise<T>,
  deadline: number,
  address: string,
  patience = false,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          patience
            ? STILL_DIALING
            : new HandshakeError(
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
