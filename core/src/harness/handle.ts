// The value usePeers returns at collection time, before any peer exists: a stand-in typed as the
// Cluster it will become. Spawning waits for the scope's beforeAll (worker start-up is capped, and
// a filtered-out suite must not spawn anything), so touching the handle earlier, or after its
// afterAll stopped the cluster, throws an error that says where it can be used.
import { inspect } from 'node:util';
import { type ErrorCause, PeerClusterError } from '../errors.js';
import type { Cluster } from '../index.js';

/** The handle from usePeers was used while it had no cluster behind it. */
export class ClusterUnavailableError extends PeerClusterError {
  readonly reason: 'not-provisioned' | 'stopped' | 'failed' | 'not-started';
  constructor(reason: ClusterUnavailableError['reason'], message: string, options?: ErrorCause) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * usePeers was called where it cannot register its hooks: inside a test, or a hook (`test`
 * undefined; `hook` its kind, `'afterEach'`, when the runner tells).
 */
export class MisplacedUsePeersError extends PeerClusterError {
  readonly test: string | undefined;
  readonly hook: string | undefined;
  constructor(label: string, test?: string, hook?: string) {
    const where = hook === undefined ? 'a hook' : `${/^[aeiou]/i.test(hook) ? 'an' : 'a'} ${hook} hook`;
    const why =
      test === undefined
        ? `was called inside ${where}. It starts its cluster in a beforeAll and stops it in an afterAll, which cannot be added once the file is collected, as it is when hooks run.`
        : `was called inside the test "${test}". It starts its cluster in a beforeAll and stops it in an afterAll, which a running test cannot add.`;
    super(
      `${label} ${why} Call it at the top of the file or of a describe block, and use the handle it returns inside the tests.`,
    );
    this.test = test;
    this.hook = test === undefined ? hook : undefined;
  }
}

// What a Cluster offers: reading any of these without a cluster is a mistake worth an error.
// Other keys read as undefined, so that runners and inspectors probing the value (`then`,
// `toJSON`, `asymmetricMatch`, `$$typeof`…) are not tripped up.
const MEMBERS = new Set<PropertyKey>([
  'name',
  'peers',
  'peer',
  'add',
  'remove',
  'waitForMesh',
  'partition',
  'heal',
  'timeline',
  'stop',
  Symbol.asyncDispose,
]);

export interface ClusterHandle {
  /** The stand-in given to the test. */
  readonly handle: Cluster;
  provision(cluster: Cluster): void;
  /** The scope ended: the handle refuses further use. */
  retire(): void;
  /** The cluster could not be started: using the handle rethrows why. */
  fail(error: unknown): void;
  /** No cluster was started, on purpose (`why`): using the handle says so. */
  skip(why: string): void;
}

/**
 * `stoppedHint` is added to the error for a handle used after its scope ended (runner specific).
 * `collecting` says whether the runner is still collecting the file, when it can tell: a handle
 * used before its beforeAll ran, but after collection, was used by a hook that runs earlier.
 */
export function createClusterHandle(
  label: string,
  stoppedHint = '',
  collecting?: () => boolean | undefined,
): ClusterHandle {
  let cluster: Cluster | undefined;
  let state: ClusterUnavailableError['reason'] = 'not-provisioned';
  let failure: unknown;
  let skipped = '';
  const bound = new Map<PropertyKey, unknown>();

  const unavailable = (key: PropertyKey): never => {
    const what = `\`cluster.${String(key)}\``;
    if (state === 'stopped') {
      throw new ClusterUnavailableError(
        'stopped',
        `${label} was already stopped by the afterAll of the describe block (or file) it was called in, so ${what} cannot be used any more. Use the handle inside that scope's tests and hooks.${stoppedHint ? ` ${stoppedHint}` : ''}`,
      );
    }
    if (state === 'failed') {
      const reason = failure instanceof Error ? failure.message : String(failure);
      throw new ClusterUnavailableError(
        'failed',
        `${label} has no cluster: starting it in beforeAll failed, so ${what} cannot be used. Why it failed: ${reason}`,
        { cause: failure },
      );
    }
    if (state === 'not-started') {
      throw new ClusterUnavailableError(
        'not-started',
        `${label} started no cluster: ${skipped}, so ${what} cannot be used.`,
      );
    }
    if (collecting?.() === false) {
      throw new ClusterUnavailableError(
        'not-provisioned',
        `${label} returns a handle that is provisioned in its scope's beforeAll, which has not run yet: ${what} was read by a hook that runs before it (a beforeAll declared before usePeers, or one of an enclosing describe block or of the file). Declare that hook after usePeers, in the same scope or an inner one.`,
      );
    }
    throw new ClusterUnavailableError(
      'not-provisioned',
      `${label} returns a handle that is provisioned in beforeAll; use it inside a test or a hook, not at collection time (${what} was read while the test file was being collected).`,
    );
  };

  const describeHandle = () =>
    cluster ? cluster : `[${label}: ${state === 'not-provisioned' ? 'not provisioned yet' : state}]`;

  // util.inspect (console.log) reads the target of a Proxy, not through its traps: the target
  // says what the handle is.
  const target = Object.defineProperty(Object.create(null), inspect.custom, {
    value: () => describeHandle(),
    configurable: true,
  }) as Cluster;
  const handle = new Proxy(target, {
    get(_target, key) {
      if (key === inspect.custom) return () => describeHandle();
      if (key === 'then') return undefined;
      if (!cluster) {
        if (MEMBERS.has(key)) return unavailable(key);
        if (key === Symbol.toStringTag) return 'ClusterHandle';
        return undefined;
      }
      const value = Reflect.get(cluster, key, cluster);
      if (typeof value !== 'function') return value;
      // Methods run on the cluster itself (private fields), and stay the same function.
      let fn = bound.get(key);
      if (!fn) {
        fn = value.bind(cluster);
        bound.set(key, fn);
      }
      return fn;
    },
    set(_target, key, value) {
      if (!cluster) return unavailable(key);
      return Reflect.set(cluster, key, value, cluster);
    },
    has(_target, key) {
      return cluster ? Reflect.has(cluster, key) : MEMBERS.has(key);
    },
    ownKeys() {
      return cluster ? Reflect.ownKeys(cluster) : [];
    },
    getOwnPropertyDescriptor(_target, key) {
      if (!cluster) return undefined;
      const descriptor = Reflect.getOwnPropertyDescriptor(cluster, key);
      // The proxy's target does not have it, so it must not be reported as non-configurable.
      return descriptor ? { ...descriptor, configurable: true } : undefined;
    },
    getPrototypeOf() {
      return cluster ? Reflect.getPrototypeOf(cluster) : null;
    },
  });

  return {
    handle,
    provision(value) {
      cluster = value;
      state = 'not-provisioned';
      bound.clear();
    },
    retire() {
      cluster = undefined;
      if (state !== 'failed' && state !== 'not-started') state = 'stopped';
      bound.clear();
    },
    fail(error) {
      cluster = undefined;
      state = 'failed';
      failure = error;
    },
    skip(why) {
      state = 'not-started';
      skipped = why;
    },
  };
}
