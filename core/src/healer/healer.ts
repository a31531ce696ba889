// The healer: the loop in every node that asks its strategy which nodes should exist and links
// them (healer/refresh.ts). It refreshes every `pollInterval` (±10 % jitter, so a cluster's
// nodes do not poll in lockstep), at once when the strategy's watch says something changed, and
// when asked. At most one refresh runs and at most one more waits behind it.

import { errorMonitor } from 'node:events';
import { TypedEmitter } from '../emitter.js';
import { HealerShutdownError, PeerClusterError, RefreshTimeoutError } from '../errors.js';
import type { Node } from '../link/node.js';
import { durationArgument, timeoutOption } from '../link/options.js';
import { notify } from '../notify.js';
import type { Healer, HealerEvents, NodeId, RefreshResult, Strategy } from '../types.js';
import { Findings, type HealerReport } from './findings.js';
import { DialGrace, Dials, refreshOnce, strategyContext } from './refresh.js';

/** @default timeout of `healer.refresh()` and of each automatic refresh, in ms. */
export const DEFAULT_REFRESH_TIMEOUT = 5000;
/**
 * How long an automatic refresh leaves a discovered node to dial this one (see refresh.ts): two
 * poll intervals, at most 2 s. The other end hears of this one within its poll interval, or at
 * once when its strategy watches (the local registry pushes a change as soon as it reads it), but
 * its refresh may wait behind a running one whose dials are slow under load: with 1 s, a 50-peer cluster
 * forming on 2 busy cores still saw ~50-200 nodes dial after the grace and ~30-160 duplicate
 * handshakes per start; with 2 s, about none.
 */
const MAX_DIAL_GRACE = 2000;
/**
 * Automatic refreshes take at most a quarter of a node's CPU over time: each one's CPU time (not
 * its wait for dials) is taken from a credit that grows by a quarter of the time that passes, up to
 * REFRESH_BURST ms; once it is overdrawn, the next automatic refresh waits until it is back to
 * nothing owed (four times the overdraft). So the few cheap refreshes of a start or a restart
 * (≈1–2 ms each, cold) never wait: spacing each by three times its cost held a 3-peer mesh up by
 * ≈1 ms. A flood of registration changes (each a push, each a refresh: ≈300–500 refreshes a second
 * per peer at 4000 changes a second) is spaced, however dear each refresh is. A refresh asked for
 * never waits, and costs no credit.
 */
const REFRESH_SPACING = 3;
/** The CPU ms of automatic refreshes a node may run back to back before they are spaced. */
const REFRESH_BURST = 50;

/** How long startNode() waits for its strategy's register() and watch(), in ms. */
export const START_TIMEOUT = 30_000;

export class NodeHealer extends TypedEmitter<HealerEvents> implements Healer {
  readonly strategy: Strategy | undefined;
  #state: 'running' | 'paused' | 'shutdown' = 'running';
  readonly #node: Node;
  readonly #pollInterval: number;
  /** Nodes this healer linked itself: the only ones it may unlink. */
  readonly #mine = new Set<NodeId>();
  readonly #controllers = new Set<AbortController>();
  #poll: NodeJS.Timeout | undefined;
  #pauseTimer: NodeJS.Timeout | undefined;
  readonly #grace: DialGrace;
  #graceTimer: NodeJS.Timeout | undefined;
  #graceDue = Number.POSITIVE_INFINITY;
  readonly #findings: Findings;
  #running: Promise<RefreshResult> | undefined;
  #queued: Promise<RefreshResult> | undefined;
  /** Whether the queued refresh was asked for (it dials everything at once). */
  #queuedAsked = false;
  /** By when the queued refresh must be done (the earliest of its callers' deadlines). */
  #queuedDeadline = Number.POSITIVE_INFINITY;
  /** The timeout its caller gave for that deadline: what a timeout of the queued refresh names. */
  #queuedTimeout: number | undefined;
  /** Settles when the queued refresh starts. */
  #queuedStart: Promise<void> | undefined;
  #unregister: (() => void | Promise<void>) | undefined;
  #unwatch: (() => void) | undefined;

  /**
   * A node started on a given port may be a restart of one that left politely: the others do not
   * redial a node that left (they keep its address until it is no longer discovered), so it dials
   * each node it finds at once, designated or not, until a dial grace after its first refresh
   * that found some node. Not on its first refresh alone: with the registry daemon dying as the
   * node restarts, that one found nobody, or only the first of the others to register with the
   * new daemon; the others, whose strategy kept listing the node (the old daemon's list counts
   * for a while), never forgot that it left, and each of those links waited out the dial grace.
   */
  #rejoining: boolean;
  #rejoinUntil = Number.POSITIVE_INFINITY;
  /** The nodes dialed at once as a restart (each once: later refreshes leave them to the grace). */
  readonly #rejoined = new Set<string>();
  /** A refresh asked to dial every node found at once (redial()). */
  #redial = false;
  readonly #dials: Dials;
  /** CPU ms automatic refreshes may still take at once (see REFRESH_SPACING), as of #creditAt. */
  #credit = REFRESH_BURST;
  #creditAt = Date.now();
  #spacingTimer: NodeJS.Timeout | undefined;
  /** Ends the wait of a queued refresh for its spacing (a refresh was asked for meanwhile). */
  #endSpacing: (() => void) | undefined;

  /** How long start() waits for register() and watch() (see InternalNodeOptions.startTimeout). */
  readonly #startTimeout: number;

  constructor(
    node: Node,
    strategy: Strategy | undefined,
    pollInterval: number,
    rejoining = false,
    startTimeout = START_TIMEOUT,
  ) {
    super();
    this.#startTimeout = startTimeout;
    this.#rejoining = rejoining;
    this.#node = node;
    this.#findings = new Findings(node);
    this.strategy = strategy;
    this.#pollInterval = pollInterval;
    this.#grace = new DialGrace(Math.min(2 * pollInterval, MAX_DIAL_GRACE));
    this.#dials = new Dials(this.#grace.ms, pollInterval);
    // A refresh left addresses for want of a free dial: the next one dials them.
    this.#dials.onFree = () => this.trigger();
    // A dial that outlives its refresh's patience is in no refresh result: its failure is news.
    this.#dials.onFailed = (address, error) => this.#findings.failed(address, error);
    node.on('nodeup', (id) => notify(this, 'nodeup', id));
    node.on('nodedown', (id, down) => notify(this, 'nodedown', id, down));
  }

  /** @internal What this healer found lately, for an error that explains a missing link. */
  findings(): HealerReport {
    return this.#findings.report(this.strategy?.name ?? null, (endpoint) => this.#dials.dialing(endpoint));
  }

  get state(): 'running' | 'paused' | 'shutdown' {
    return this.#state;
  }

  /** Register with the strategy, watch it, and run the first refresh (not awaited). */
  async start(): Promise<void> {
    const strategy = this.strategy;
    if (!strategy) return;
    const controller = this.#controller();
    const ctx = strategyContext(this.#node, strategy, controller.signal);
    // Both at once: the local registry sends them down one connection in this order, so the
    // registration still comes first, without a round trip between them.
    const settled = Promise.allSettled([
      strategy.register?.(ctx),
      strategy.watch?.(ctx, () => this.trigger()),
    ]);
    // A register or watch that never settles would hold startNode() for good, saying nothing.
    let timer: NodeJS.Timeout | undefined;
    const limit = this.#startTimeout;
    const outcome = await Promise.race([
      settled,
      new Promise<undefined>((resolve) => {
        if (Number.isFinite(limit)) timer = setTimeout(() => resolve(undefined), limit);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === undefined) {
      const what = [strategy.register && 'register()', strategy.watch && 'watch()']
        .filter(Boolean)
        .join(' and ');
      const error = new PeerClusterError(
        `startNode(): the strategy "${strategy.name}" of ${this.#node.id} did not settle its ${what} within ${limit} ms, so the node is not started. Make them resolve, or reject with an error saying why, sooner (give what they wait for a timeout of its own).`,
      );
      controller.abort(error);
      // What settles late is undone at once: the node it was for does not run.
      void settled.then(([registered, watched]) => {
        for (const undo of [registered, watched])
          if (undo.status === 'fulfilled' && typeof undo.value === 'function')
            Promise.resolve()
              .then(undo.value)
              .catch(() => {});
      });
      throw error;
    }
    const [registered, watched] = outcome;
    // Kept even when the other failed: the node's stop() undoes them.
    if (registered.status === 'fulfilled' && registered.value) this.#unregister = registered.value;
    if (watched.status === 'fulfilled' && watched.value) this.#unwatch = watched.value;
    if (registered.status === 'rejected') throw registered.reason;
    if (watched.status === 'rejected') throw watched.reason;
    this.trigger();
  }

  /** Refresh soon, unless paused or shut down; errors become `error` events. */
  trigger(): void {
    if (!this.strategy || this.#state !== 'running') return;
    const wait = this.#spacing();
    if (!this.#running && !this.#queued && wait > 0) {
      this.#spacingTimer ??= setTimeout(() => {
        this.#spacingTimer = undefined;
        this.trigger();
      }, wait);
      this.#spacingTimer.unref();
      return;
    }
    // Queued, it gets its whole timeout from when it starts (no caller waits on it).
    void this.#enqueue(DEFAULT_REFRESH_TIMEOUT, false, Number.POSITIVE_INFINITY);
  }

  /** @internal Refresh soon, dialing every node found at once (none waits out its grace). */
  redial(): void {
    this.#redial = true;
    this.trigger();
  }

  refresh(options?: { timeout?: number | undefined }): Promise<RefreshResult> {
    let timeout: number;
    try {
      timeout = timeoutOption('healer.refresh()', options, DEFAULT_REFRESH_TIMEOUT);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state === 'shutdown') {
      return Promise.reject(new HealerShutdownError(this.#node.id));
    }
    if (!this.strategy)
      return Promise.resolve({ discovered: [], connected: [], failed: [], disconnected: [] });
    if (!this.#running && !this.#queued) return this.#start(timeout, true);
    // Queued behind a running refresh, or joining a queued one that waits out its spacing (and then
    // waits no more): the timeout counts from now. The queued refresh gets what is left of it when
    // it starts (and times out on its own from then); if the running one holds it up past the
    // timeout, this caller is answered without it.
    const refreshed = this.#enqueue(timeout, true, Date.now() + timeout);
    const started = this.#queuedStart!;
    const strategy = this.strategy.name;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new RefreshTimeoutError('Refresh', strategy, timeout);
        resolve({ discovered: [], connected: [], failed: [{ node: '*', error }], disconnected: [] });
      }, timeout);
      void started.then(() => clearTimeout(timer));
      refreshed.then(
        (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  pause(ms?: number): void {
    if (ms !== undefined) durationArgument('healer.pause(ms)', ms, 0);
    if (this.#state === 'shutdown') return;
    clearTimeout(this.#poll);
    clearTimeout(this.#pauseTimer);
    this.#clearGrace();
    this.#clearSpacing();
    if (ms !== undefined) {
      this.#pauseTimer = setTimeout(() => this.resume(), ms);
      this.#pauseTimer.unref();
    }
    if (this.#state === 'paused') return;
    this.#state = 'paused';
    notify(this, 'pause');
  }

  resume(): void {
    if (this.#state !== 'paused') return;
    clearTimeout(this.#pauseTimer);
    this.#state = 'running';
    notify(this, 'resume');
    this.trigger();
  }

  async shutdown(): Promise<void> {
    if (this.#state === 'shutdown') return;
    this.#state = 'shutdown';
    clearTimeout(this.#poll);
    clearTimeout(this.#pauseTimer);
    this.#clearGrace();
    this.#clearSpacing();
    for (const controller of this.#controllers) controller.abort(new Error('the healer shut down'));
    try {
      this.#unwatch?.();
      // Bounded: a directory that stopped answering (a paused registry daemon, say) would hold the
      // node's stop() for good, its listener open.
      if (this.#unregister) {
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          Promise.resolve()
            .then(this.#unregister)
            .then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), DEFAULT_REFRESH_TIMEOUT);
          }),
        ]).finally(() => clearTimeout(timer));
        if (late) {
          this.#node.log(
            `peer-cluster: healer of ${this.#node.id}: the strategy "${this.strategy?.name}" did not withdraw the node within ${DEFAULT_REFRESH_TIMEOUT} ms; stopping without waiting for it`,
          );
        }
      }
    } catch (error) {
      this.#report(error);
    }
    notify(this, 'shutdown');
  }

  /**
   * `deadline`: for a refresh queued behind a running one, by when its caller needs it done (the
   * queued refresh gets what is left of the earliest one when it starts, or `timeout` for none).
   */
  #enqueue(timeout: number, asked: boolean, deadline: number): Promise<RefreshResult> {
    if (!this.#running && !this.#queued) return this.#start(timeout, asked);
    this.#queuedAsked ||= asked;
    if (asked) this.#endSpacing?.();
    if (deadline < this.#queuedDeadline) {
      this.#queuedDeadline = deadline;
      this.#queuedTimeout = timeout;
    }
    let started: () => void = () => {};
    this.#queuedStart ??= new Promise<void>((resolve) => {
      started = resolve;
    });
    this.#queued ??= this.#running!.then(this.#spaced).then(() => {
      this.#endSpacing = undefined;
      this.#queued = undefined;
      this.#queuedStart = undefined;
      started();
      const due = this.#queuedDeadline;
      const given = this.#queuedTimeout ?? timeout;
      this.#queuedDeadline = Number.POSITIVE_INFINITY;
      this.#queuedTimeout = undefined;
      const queuedAsked = this.#queuedAsked;
      this.#queuedAsked = false;
      // It times out when what is left of the caller's timeout runs out, and says the caller's:
      // from the caller's side, that is how long the refresh took (not 99 ms for a `timeout: 100`
      // that waited a millisecond behind the running one).
      const left = Number.isFinite(due) ? Math.max(1, due - Date.now()) : timeout;
      return this.#start(left, queuedAsked, given);
    });
    return this.#queued;
  }

  /**
   * Settles once an automatic refresh may start (REFRESH_SPACING), at once for one asked for, or
   * when a refresh is asked for while it waits (#endSpacing).
   */
  readonly #spaced = (): Promise<void> | undefined => {
    const wait = this.#spacing();
    if (wait <= 0 || this.#queuedAsked) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, wait);
      timer.unref();
      this.#endSpacing = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  };

  /** `given`: the timeout a timeout of this refresh names (its caller's, which `timeout` is what is left of). */
  #start(timeout: number, asked: boolean, given = timeout): Promise<RefreshResult> {
    const run: Promise<RefreshResult> = this.#run(timeout, asked, given).finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #run(timeout: number, asked: boolean, given: number): Promise<RefreshResult> {
    const strategy = this.strategy!;
    const controller = this.#controller();
    const timer = setTimeout(
      () => controller.abort(new RefreshTimeoutError('Refresh', strategy.name, given)),
      timeout,
    );
    if (this.#rejoining && Date.now() >= this.#rejoinUntil) {
      this.#rejoining = false;
      this.#rejoined.clear();
    }
    const rejoining = this.#rejoining;
    const dialAll = asked || this.#redial;
    this.#redial = false;
    try {
      const { result, strategyError, busy, found } = await refreshOnce(
        this.#node,
        strategy,
        this.#mine,
        controller.signal,
        Date.now() + timeout,
        {
          grace: dialAll ? undefined : this.#grace,
          rejoined: rejoining ? this.#rejoined : undefined,
          dials: this.#dials,
          backOff: !dialAll,
          asked,
        },
      );
      if (!asked) this.#spend(busy);
      if (rejoining && found > 0 && this.#rejoinUntil === Number.POSITIVE_INFINITY)
        this.#rejoinUntil = Date.now() + this.#grace.ms;
      if (strategyError) this.#report(strategyError);
      this.#findings.note(result);
      notify(this, 'refresh', result);
      return result;
    } finally {
      clearTimeout(timer);
      this.#controllers.delete(controller);
      this.#arm();
    }
  }

  #arm(): void {
    clearTimeout(this.#poll);
    if (this.#state !== 'running' || !this.strategy) return;
    const jittered = this.#pollInterval * (0.9 + Math.random() * 0.2);
    this.#poll = setTimeout(() => this.trigger(), jittered);
    this.#poll.unref();
    // A node left to the other end to dial: refresh again when its grace ends.
    const due = this.#grace.next();
    if (due === undefined || due >= this.#graceDue) return;
    clearTimeout(this.#graceTimer);
    this.#graceDue = due;
    this.#graceTimer = setTimeout(
      () => {
        this.#graceTimer = undefined;
        this.#graceDue = Number.POSITIVE_INFINITY;
        this.trigger();
      },
      Math.max(0, due - Date.now()),
    );
    this.#graceTimer.unref();
  }

  /** Takes an automatic refresh's CPU time from the credit; an overdraft delays the next one. */
  #spend(busy: number): void {
    const now = Date.now();
    const earned = (now - this.#creditAt) / (REFRESH_SPACING + 1);
    this.#credit = Math.min(REFRESH_BURST, this.#credit + earned) - busy;
    this.#creditAt = now;
  }

  /** ms until an automatic refresh may start: until an overdrawn credit is back to nothing owed. */
  #spacing(): number {
    if (this.#credit >= 0) return 0;
    return this.#creditAt - this.#credit * (REFRESH_SPACING + 1) - Date.now();
  }

  #clearSpacing(): void {
    clearTimeout(this.#spacingTimer);
    this.#spacingTimer = undefined;
  }

  #clearGrace(): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#graceDue = Number.POSITIVE_INFINITY;
  }

  #controller(): AbortController {
    const controller = new AbortController();
    this.#controllers.add(controller);
    return controller;
  }

  /**
   * An `error` event when someone listens; otherwise the node's log (an unheard error would throw),
   * and the `errorMonitor` listeners, which see every error as with `emit`.
   */
  #report(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    if (this.listenerCount('error') > 0) notify(this, 'error', e);
    else {
      notify(this, errorMonitor, e);
      this.#node.log(
        `peer-cluster: healer of ${this.#node.id} (strategy "${this.strategy?.name}"): ${e.message}`,
      );
    }
  }
}
