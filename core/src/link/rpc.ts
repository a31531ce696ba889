// Calls between nodes: the handlers a node offers, and the calls it waits on. A call is one frame
// out and one frame back, correlated by id; the pending entry holds the promise's settle
// functions so the reply path allocates nothing but the decoded value.

import { nearest } from '../edit-distance.js';
import {
  InvalidOptionsError,
  NodeDownError,
  PeerClusterError,
  RemoteError,
  RpcTimeoutError,
  type SerializedError,
} from '../errors.js';

/** The default time a call waits for its reply, in ms. */
export const DEFAULT_CALL_TIMEOUT = 5000;

/**
 * A call named a method no handler was registered for. Lists the ones that are, or says that the
 * node is a peer's that runs no app (`appless`), when nothing registered any.
 */
export class UnknownMethodError extends PeerClusterError {
  readonly method: string;
  readonly node: string;
  readonly registered: string[];
  constructor(node: string, method: string, registered: string[], appless = false) {
    super(
      appless && registered.length === 0
        ? `No handler "${method}" on node ${node}: its peer runs no app, so nothing registered any. Give the peer the app that registers it (ctx.cluster.handle("${method}", fn)) with the apps option of usePeers or startCluster: { apps: ['./my-app.mjs'] }.`
        : `No handler "${method}" on node ${node}. ${closest(method, registered)}Registered: ${registered.length ? registered.map((m) => `"${m}"`).join(', ') : 'none'}. Register it with handle("${method}", fn) (ctx.cluster.handle in an app) before calling it.`,
    );
    this.method = method;
    this.node = node;
    this.registered = registered;
  }
}

/** `Did you mean "inc"? ` for a misspelt `incr`: a registered method within two edits, if one. */
function closest(method: string, registered: string[]): string {
  // Long names only: "x" is within two edits of every short one.
  if (method.length < 3 || method.length > 200) return '';
  const best = nearest(
    method,
    registered.filter((m) => m.length <= 200),
    Math.min(2, method.length - 2),
  );
  return best ? `Did you mean "${best}"? ` : '';
}

export type Handler = (...args: any[]) => unknown;

export class Handlers {
  readonly #map = new Map<string, Handler>();
  readonly #node: () => string;
  /** The node is a peer's whose boot config named no app (set by the peer runtime once it knows). */
  appless = false;
  /** Until it settles (the peer's apps have started), a missing handler is waited for. */
  #starting: Promise<unknown> | undefined;

  constructor(node: () => string, appsStarting?: Promise<unknown>) {
    this.#node = node;
    if (appsStarting) {
      this.#starting = appsStarting;
      const done = () => {
        this.#starting = undefined;
      };
      appsStarting.then(done, done);
    }
  }

  /** Registers `fn` for `method`, which must have no handler yet. */
  add(method: string, fn: Handler): void {
    if (this.#map.has(method)) {
      throw new InvalidOptionsError(
        'method',
        method,
        `is already handled on node ${this.#node()}: a method has one handler, and handle() does not replace it`,
        `Remove the first one with unhandle(${JSON.stringify(method)}) before registering another, or register this one under another name.`,
      );
    }
    this.#map.set(method, fn);
  }

  /** Removes the handler of `method`; whether there was one. */
  delete(method: string): boolean {
    return this.#map.delete(method);
  }

  /**
   * The handler for `method`, or throws an UnknownMethodError. While the peer's apps are still
   * starting, a missing one is looked up again once they have: the call waits for them.
   */
  get(method: string): Handler {
    const fn = this.#map.get(method);
    if (fn !== undefined) return fn;
    const starting = this.#starting;
    if (starting) {
      const later = () => this.get(method);
      return (...args) => starting.then(later, later).then((handler) => handler(...args));
    }
    throw new UnknownMethodError(this.#node(), method, [...this.#map.keys()], this.appless);
  }

  async invoke(method: string, args: unknown[]): Promise<unknown> {
    return this.get(method)(...args);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  method: string;
}

let lastId = 0;

/** The calls one link is waiting on. */
export class PendingCalls {
  readonly #map = new Map<number, Pending>();
  readonly #node: string;

  constructor(node: string) {
    this.#node = node;
  }

  get size(): number {
    return this.#map.size;
  }

  /** A fresh call id. */
  nextId(): number {
    lastId = (lastId + 1) >>> 0;
    return lastId;
  }

  /** Wait for the reply to call `id`, already on the wire. */
  wait(id: number, method: string, timeout: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(expire, timeout, this, id, timeout);
      this.#map.set(id, { resolve, reject, timer, method });
    });
  }

  resolve(id: number, value: unknown): void {
    const p = this.#map.get(id);
    if (p === undefined) return; // it timed out already
    this.#map.delete(id);
    clearTimeout(p.timer);
    p.resolve(value);
  }

  reject(id: number, error: SerializedError): void {
    const p = this.#map.get(id);
    if (p === undefined) return;
    this.#map.delete(id);
    clearTimeout(p.timer);
    p.reject(new RemoteError(this.#node, error));
  }

  /** Call `id` fails here, with `error` (its reply came and could not be read). */
  fail(id: number, error: Error): void {
    const p = this.#map.get(id);
    if (p === undefined) return;
    this.#map.delete(id);
    clearTimeout(p.timer);
    p.reject(error);
  }

  expire(id: number, timeout: number): void {
    const p = this.#map.get(id);
    if (p === undefined) return;
    this.#map.delete(id);
    p.reject(new RpcTimeoutError(this.#node, p.method, timeout));
  }

  /** The link went down: every waiting call fails with a NodeDownError. */
  failAll(detail: string): void {
    for (const p of this.#map.values()) {
      clearTimeout(p.timer);
      p.reject(new NodeDownError(this.#node, p.method, detail));
    }
    this.#map.clear();
  }
}

function expire(calls: PendingCalls, id: number, timeout: number): void {
  // What came in is read first (setImmediate runs after the poll phase): a process whose own
  // event loop was blocked past the timeout runs its timers before its I/O, and the answer may
  // be waiting there, come in time.
  setImmediate(expireNow, calls, id, timeout);
}

function expireNow(calls: PendingCalls, id: number, timeout: number): void {
  calls.expire(id, timeout);
}
