// startNode's options: validated once here, with every default in one place (they are documented
// with @default in types.ts).

import { editDistance } from '../edit-distance.js';
import { InvalidOptionsError } from '../errors.js';
import type { NodeOptions, Strategy } from '../types.js';
import { isValidNodeName } from './address.js';

export const NODE_DEFAULTS = {
  cluster: 'default',
  host: '127.0.0.1',
  port: 0,
  heartbeat: { interval: 1000, timeout: 5000 },
  healer: { pollInterval: 5000 },
  maxPayload: 64 * 1024 * 1024,
  /** A connection that has not authenticated within this time is closed. */
  handshakeTimeout: 5000,
} as const;

export interface ResolvedNodeOptions {
  name: string;
  cookie: string;
  cluster: string;
  host: string;
  port: number;
  strategy: Strategy | undefined;
  heartbeat: { interval: number; timeout: number };
  healer: { pollInterval: number };
  maxPayload: number;
  handshakeTimeout: number;
  log: (line: string) => void;
  /** @internal See InternalNodeOptions. */
  scope: string | undefined;
  /** @internal See InternalNodeOptions. */
  appsStarting: Promise<unknown> | undefined;
  /** @internal See InternalNodeOptions. */
  startTimeout: number | undefined;
}

/**
 * @internal What the peer runtime passes to startNode beyond NodeOptions: `scope`, the random id of
 * the startCluster() the peer belongs to. Strategies that share a directory between clusters of
 * the same name (the local registry) tell them apart with it, instead of dialing nodes whose
 * handshake must fail. A node without one discovers every node of its cluster name.
 */
export interface InternalNodeOptions {
  scope?: string;
  /**
   * Settles once the peer's apps have started (or failed to). The node links before its apps
   * start, so until then each `message` listener added also gets the messages that came before
   * it, and a call to a method no handler is registered for waits for the apps (within the
   * caller's timeout) instead of failing: a node that links with a restarted peer and sends it
   * what it missed must not lose that to the peer's own boot. Never rejects.
   */
  appsStarting?: Promise<unknown>;
  /**
   * How long startNode() waits for its strategy's register() and watch(), in ms (START_TIMEOUT
   * when absent); `Infinity` for no limit of its own: a peer's boot is bounded by its bootTimeout,
   * which may be longer, and whose failure says what the peer was waiting for.
   */
  startTimeout?: number;
}

/** The options only the peer runtime passes: never suggested, nor listed to a user. */
const INTERNAL_KEYS = ['scope', 'appsStarting', 'startTimeout'];

// Checked by hand, not with a schema library: this module is in every peer's import graph, and
// loading and first running a schema costs a peer a few ms of its boot (the test process checks
// the same options with its valibot schemas before any peer starts). The first problem, in the order of the
// fields below, is reported.

type Problem = [path: string, message: string];
type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/** A positive finite number, or the default when absent. */
function positive(o: Obj, key: string, at: string, fallback: number, what: string): number | Problem {
  const v = o[key];
  if (v === undefined) return fallback;
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0))
    return [`${at}${key}`, `expected a positive number of ${what}`];
  // A timer's delay: Node.js fires a longer one at once (every 1 ms for an interval).
  if (what === 'ms' && v > MAX_TIMER)
    return [
      `${at}${key}`,
      `expected at most ${MAX_TIMER} ms (about 24 days), the longest timer Node.js keeps`,
    ];
  return v;
}

function check(o: Obj):
  | (Omit<ResolvedNodeOptions, 'handshakeTimeout' | 'log' | 'scope' | 'appsStarting' | 'startTimeout'> & {
      log?: unknown;
    })
  | Problem {
  const { name, cookie, strategy, log } = o;
  if (!isString(name)) return ['name', 'expected a string'];
  if (!isValidNodeName(name)) return ['name', 'expected a non-empty name without spaces, "@" or "/"'];
  if (!isString(cookie) || cookie.trim().length === 0)
    return [
      'cookie',
      isString(cookie)
        ? 'expected a non-empty string, not only whitespace (was it read from an empty file?)'
        : 'expected a non-empty string',
    ];
  const cluster = o.cluster ?? NODE_DEFAULTS.cluster;
  if (!isString(cluster) || cluster.length < 1 || cluster.length > 200)
    return ['cluster', 'expected a string of 1 to 200 characters'];
  const host = o.host ?? NODE_DEFAULTS.host;
  if (!isString(host) || host.length === 0) return ['host', 'expected a host name or IP address'];
  const port = o.port ?? NODE_DEFAULTS.port;
  if (!Number.isSafeInteger(port) || (port as number) < 0 || (port as number) > 65535)
    return ['port', 'expected a whole number from 0 to 65535'];
  if (
    strategy !== undefined &&
    !(
      typeof strategy === 'object' &&
      strategy !== null &&
      typeof (strategy as Strategy).discover === 'function'
    )
  ) {
    return [
      'strategy',
      notCalled(strategy) ??
        'expected a strategy: an object with a discover(ctx) function (see customStrategy)',
    ];
  }
  const hb = o.heartbeat ?? {};
  if (!isObject(hb)) return ['heartbeat', 'expected { interval, timeout } in ms'];
  const interval = positive(hb, 'interval', 'heartbeat.', NODE_DEFAULTS.heartbeat.interval, 'ms');
  if (Array.isArray(interval)) return interval;
  const timeout = positive(hb, 'timeout', 'heartbeat.', NODE_DEFAULTS.heartbeat.timeout, 'ms');
  if (Array.isArray(timeout)) return timeout;
  if (timeout <= interval)
    return ['heartbeat.timeout', 'heartbeat.timeout must be longer than heartbeat.interval'];
  const healer = o.healer ?? {};
  if (!isObject(healer)) return ['healer', 'expected { pollInterval } in ms'];
  const pollInterval = positive(healer, 'pollInterval', 'healer.', NODE_DEFAULTS.healer.pollInterval, 'ms');
  if (Array.isArray(pollInterval)) return pollInterval;
  const maxPayload = positive(o, 'maxPayload', '', NODE_DEFAULTS.maxPayload, 'bytes');
  if (Array.isArray(maxPayload)) return maxPayload;
  if (log !== undefined && typeof log !== 'function') return ['log', 'expected a function'];
  return {
    name,
    cookie,
    cluster,
    host,
    port: port as number,
    strategy: strategy as Strategy | undefined,
    heartbeat: { interval, timeout },
    healer: { pollInterval },
    maxPayload,
    log,
  };
}

export function resolveNodeOptions(options: NodeOptions): ResolvedNodeOptions {
  if (!isObject(options)) {
    throw new InvalidOptionsError(
      'options',
      options,
      'startNode needs an options object',
      'Pass at least { name, cookie }.',
    );
  }
  const o = check(options);
  const unknown = Array.isArray(o) ? undefined : unknownKey(options as Obj);
  if (unknown) {
    let value: unknown = options;
    for (const key of unknown.path.split('.')) value = (value as Obj | undefined)?.[key];
    // A misspelt cookie is a secret all the same.
    if (/cookie/i.test(unknown.path) && value !== undefined) value = '<hidden>';
    throw new InvalidOptionsError(unknown.path, value, 'is not an option of startNode()', unknown.hint);
  }
  if (Array.isArray(o)) {
    const [path, message] = o;
    let value: unknown = options;
    for (const key of path.split('.')) value = (value as Obj | undefined)?.[key];
    // The cookie is a secret: never echo it (one of only whitespace tells nothing).
    if (path === 'cookie' && typeof value === 'string' && value.trim() !== '') value = '<hidden>';
    throw new InvalidOptionsError(path, value, message);
  }
  const { scope, appsStarting, startTimeout } = options as InternalNodeOptions;
  return {
    ...o,
    handshakeTimeout: NODE_DEFAULTS.handshakeTimeout,
    log: (o.log as ((line: string) => void) | undefined) ?? noop,
    scope: typeof scope === 'string' && scope.length > 0 ? scope : undefined,
    appsStarting: appsStarting instanceof Promise ? appsStarting : undefined,
    startTimeout: typeof startTimeout === 'number' && startTimeout > 0 ? startTimeout : undefined,
  };
}

function noop(): void {}

/**
 * A strategy's factory given instead of the strategy it makes (`strategy: staticHosts`, for
 * `staticHosts([...])`): said as such, not only as "not a strategy".
 */
export function notCalled(value: unknown): string | undefined {
  if (typeof value !== 'function') return undefined;
  const name = value.name || 'the factory';
  return `expected a strategy, not the function that makes one: call it (strategy: ${name}(…))`;
}

/**
 * startNode's options, and those of its nested objects. `handshakeTimeout` is taken (and not used)
 * so that `{ ...NODE_DEFAULTS, name, cookie }`, which holds it, stays valid; INTERNAL_KEYS are
 * internal.
 */
const NODE_KEYS: Record<string, string[]> = {
  '': [
    'name',
    'cookie',
    'cluster',
    'host',
    'port',
    'strategy',
    'heartbeat',
    'healer',
    'maxPayload',
    'log',
    'handshakeTimeout',
    ...INTERNAL_KEYS,
  ],
  heartbeat: ['interval', 'timeout'],
  healer: ['pollInterval'],
};

/**
 * The first key that is no option (a misspelt one would be ignored, its default taken silently),
 * with the known name it likely meant: one within two edits, or one of a nested object given at
 * the top (`pollInterval` for `healer.pollInterval`).
 */
function unknownKey(o: Obj): { path: string; hint: string } | undefined {
  for (const [at, known] of Object.entries(NODE_KEYS)) {
    const target = at === '' ? o : o[at];
    if (!isObject(target)) continue;
    for (const key of Object.keys(target)) {
      if (known.includes(key)) continue;
      const path = at === '' ? key : `${at}.${key}`;
      const candidates = Object.entries(NODE_KEYS).flatMap(([nest, keys]) =>
        keys.filter((k) => !INTERNAL_KEYS.includes(k)).map((k) => (nest === '' ? k : `${nest}.${k}`)),
      );
      const near = candidates
        .map((name) => {
          const last = name.slice(name.lastIndexOf('.') + 1);
          return { name, d: editDistance(key.toLowerCase(), last.toLowerCase()) };
        })
        .filter(({ d }) => d <= Math.min(2, Math.floor(key.length / 3)))
        .sort((a, b) => a.d - b.d)[0];
      const shown = known.filter((k) => !INTERNAL_KEYS.includes(k) && k !== 'handshakeTimeout');
      const hint = `${near ? `Did you mean ${near.name}? ` : ''}Known options${at ? ` of ${at}` : ''}: ${shown.join(', ')}.`;
      return { path, hint };
    }
  }
  return undefined;
}

/** A duration argument (`healer.pause(ms)`): a positive number of ms, `fallback` when absent. */
export function durationArgument(what: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0))
    throw new InvalidOptionsError(what, value, 'must be a positive number of ms');
  if (value > MAX_TIMER)
    throw new InvalidOptionsError(
      what,
      value,
      `must be at most ${MAX_TIMER} ms (about 24 days), the longest timer Node.js keeps: a longer one fires at once`,
    );
  return value;
}

/** The longest delay a Node.js timer keeps (a longer one fires at once, with a warning), in ms. */
export const MAX_TIMER = 2 ** 31 - 1;

/** The `{ timeout }` of a wait or refresh (`waitForNodes`, `waitForMesh`, `heal`, `healer.refresh`), or `fallback`. */
export function timeoutOption(what: string, options: unknown, fallback: number): number {
  if (options === undefined) return fallback;
  if (!isObject(options))
    throw new InvalidOptionsError(`${what} options`, options, 'must be an object like { timeout: 5000 }');
  return durationArgument(`${what} timeout`, options.timeout, fallback);
}
