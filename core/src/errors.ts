// The named errors of the public contract. Each has `name` equal to its class name, says what
// happened, to which peer, node or app, and what to do next.

import { tagOf } from './peer/realm.js';

/** Marks the classes of this module, in whichever copy of it they were made (see hasInstance). */
const BRAND = Symbol.for('peer-cluster.error');

/**
 * An Error's options, written out: TypeScript's `ErrorOptions` is in its lib from es2022 on, and a
 * project with a lower `lib` compiles these declarations too.
 */
export interface ErrorCause {
  cause?: unknown;
}

export class PeerClusterError extends Error {
  static readonly [BRAND] = true;

  constructor(message: string, options?: ErrorCause) {
    super(message, options);
    this.name = new.target.name;
  }

  /**
   * `instanceof` holds for an error made by another copy of the same class too: inside a peer the
   * node runs from the runtime bundle, so `ctx.cluster.call` rejects with the bundle's
   * NodeDownError, not with the one an app imports (and two installed versions of core are two
   * copies as well). A copy is a class of this module with the same name, in the error's
   * prototype chain.
   */
  static override [Symbol.hasInstance]<T>(
    this: abstract new (
      ...args: never[]
    ) => T,
    value: unknown,
  ): value is T {
    // `this` is the class instanceof asks about (a subclass, say), not PeerClusterError.
    // biome-ignore lint/complexity/noThisInStatic: see above
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== 'object' || value === null) return false;
    for (let proto = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
      const made = Object.hasOwn(proto, 'constructor')
        ? (proto.constructor as { [BRAND]?: boolean; name?: string })
        : undefined;
      // biome-ignore lint/complexity/noThisInStatic: as above
      if (made?.[BRAND] === true && made.name === this.name) return true;
    }
    return false;
  }
}

/** An option or argument was invalid. Names the option and the value it got. */
export class InvalidOptionsError extends PeerClusterError {
  readonly option: string;
  readonly value: unknown;
  /** What is wrong with the value, without the option's name (to restate it elsewhere). */
  readonly problem: string;
  constructor(option: string, value: unknown, problem: string, hint?: string, options?: ErrorCause) {
    super(
      `Invalid option \`${option}\`: ${problem} (got ${describeValue(value)}).${hint ? ` ${hint}` : ''}`,
      options,
    );
    this.option = option;
    this.value = value;
    this.problem = problem;
  }
}

export type BootPhase = 'spawn' | 'config' | 'node' | 'app' | 'ready';

export interface PeerBootErrorDetails {
  peer: string;
  phase: BootPhase;
  app?: string;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  timeout?: number;
  stderr?: string;
  cause?: unknown;
  reason: string;
}

/** A peer failed to boot: which peer, in which phase, which app, and the tail of its stderr. */
export class PeerBootError extends PeerClusterError {
  readonly peer: string;
  readonly phase: BootPhase;
  readonly app: string | undefined;
  readonly exitCode: number | null | undefined;
  readonly signal: NodeJS.Signals | null | undefined;
  readonly timeout: number | undefined;
  readonly stderr: string;
  constructor(d: PeerBootErrorDetails) {
    const where = d.app ? `app ${d.app}` : `phase "${d.phase}"`;
    const tail = d.stderr?.trim() ? `\n--- stderr of ${d.peer} (last lines) ---\n${d.stderr.trimEnd()}` : '';
    super(`Peer ${d.peer} failed to boot in ${where}: ${d.reason}${tail}`, { cause: d.cause });
    this.peer = d.peer;
    this.phase = d.phase;
    this.app = d.app;
    this.exitCode = d.exitCode;
    this.signal = d.signal;
    this.timeout = d.timeout;
    this.stderr = d.stderr ?? '';
  }
}

/** A call to a peer whose process is gone. Rejects at once, never hangs. */
export class PeerExitedError extends PeerClusterError {
  readonly peer: string;
  readonly state: string;
  /**
   * For a request the process was answering when it ended: `exit`, how it ended; `fatal`, what it
   * printed of the fatal error it died of, if it did (describeFatal); `stopped`, whether the test
   * stopped it (stop(), restart(), the cluster's stop()) rather than it dying. For a wait the
   * process ended (waitForLog), `missed` says what it did not get: `saw no matching line`.
   */
  constructor(
    peer: string,
    what: string,
    state: string,
    answering?: {
      exit: string;
      fatal?: string | undefined;
      stopped?: boolean;
      /** The process died of a signal the test sent it with peer.kill(). */
      killed?: boolean;
      missed?: string;
    },
    /** A peer that cannot be restarted (removed, or its cluster stopped): why, and what to do instead. */
    detached?: { reason: string; hint: string },
    /** A restart() of the peer is under way, not finished yet (one the test did not await). */
    restarting?: boolean,
  ) {
    const missed = answering?.missed ?? 'got no answer';
    const during = answering?.missed ? 'while it waited' : 'before answering';
    super(
      detached && !answering
        ? `Cannot ${what} on peer ${peer}: ${detached.reason}, so it cannot be restarted. ${detached.hint}`
        : restarting && !answering
          ? `Cannot ${what} on peer ${peer}: it is being restarted, and its restart() has not finished (it ${state === 'stopped' ? 'was stopped' : state === 'crashed' ? 'crashed' : `is ${state}`} until then). Await peer.restart() before using the peer.`
          : answering?.stopped
            ? `${what} on peer ${peer} ${missed}: the peer was stopped (stop(), restart() or its cluster's stop()) ${during}.`
            : answering?.killed
              ? `${what} on peer ${peer} ${missed}: its process ${answering.exit} (sent by peer.kill()) ${during}. peer.restart() boots it again.`
              : answering
                ? `${what} on peer ${peer} ${missed}: its process ${answering.exit} ${during}${answering.fatal ? `, ${answering.fatal}` : ''}. Check the peer's logs() (and the failure report) for why; peer.restart() boots it again.`
                : state === 'stopped'
                  ? `Cannot ${what} on peer ${peer}: it was stopped. Call peer.restart() to boot it again.`
                  : `Cannot ${what} on peer ${peer}: its process ${state === 'crashed' ? 'exited (crashed)' : `is ${state}`}. Call peer.restart() first, or check the peer's logs() for why it exited.`,
    );
    this.peer = peer;
    this.state = state;
  }
}

/** A node-to-node call whose target went down (or was never linked). */
export class NodeDownError extends PeerClusterError {
  readonly node: string;
  constructor(node: string, method: string, detail = 'went down before it answered') {
    super(`Call ${method} to node ${node} failed: the node ${detail}.`);
    this.node = node;
  }
}

/** `healer.refresh()` after the healer was shut down (by `healer.shutdown()` or the node's `stop()`). */
export class HealerShutdownError extends PeerClusterError {
  readonly node: string;
  constructor(node: string) {
    super(
      `The healer of ${node} is shut down (healer.shutdown(), or the node stopped): it refreshes no more. Start a new node to heal again, or call healer.pause() instead of shutdown() to stop healing for a while.`,
    );
    this.node = node;
  }
}

/**
 * A healer's refresh (or `runOnce`) that did not finish within its timeout: its strategy's
 * `discover()` or `list()` did not answer in time, or it waited behind a refresh that did not.
 * It is the `error` of the refresh's `failed` entry for `'*'`.
 */
export class RefreshTimeoutError extends PeerClusterError {
  readonly strategy: string;
  readonly timeout: number;
  constructor(what: string, strategy: string, timeout: number) {
    super(
      `${what} with strategy "${strategy}" timed out after ${timeout} ms: the strategy did not answer in time (or a refresh before it did not). Pass a longer timeout, or make the strategy answer sooner (its own timeouts below the refresh's).`,
    );
    this.strategy = strategy;
    this.timeout = timeout;
  }
}

/** A call that got no answer within its timeout. */
export class RpcTimeoutError extends PeerClusterError {
  readonly node: string;
  readonly method: string;
  readonly timeout: number;
  constructor(node: string, method: string, timeout: number) {
    super(
      `Call ${method} to ${node} got no answer within ${timeout} ms. The handler may be stuck, or the node paused; pass a longer timeout if it is just slow.`,
    );
    this.node = node;
    this.method = method;
    this.timeout = timeout;
  }
}

/** Thrown by a handler or by evaluated code on the other side; keeps the remote name, message and stack. */
/** What crosses for a thrown error: a link's SerializedError, or the control channel's WireError. */
export interface RemoteErrorData {
  name?: string;
  message?: string;
  stack?: string;
  code?: string;
  cause?: RemoteErrorData;
}

export class RemoteError extends PeerClusterError {
  readonly remoteName: string;
  /** The remote error's stack as the peer had it (the error's own `stack` shows it, trimmed). */
  declare readonly remoteStack: string | undefined;
  readonly node: string;
  /** The remote error's `code` (`ENOENT`, `ERR_…`, or one the app set), when it had one. */
  readonly code: string | undefined;
  constructor(node: string, remote: RemoteErrorData) {
    super(
      `${remote.name ?? 'Error'} on ${node}: ${remote.message ?? ''}`,
      // Not `new RemoteError`: a class naming itself inside its body is renamed `_RemoteError` by
      // esbuild (the peers' bundle), and its errors' `name` and cross-copy `instanceof` with it.
      remote.cause === undefined ? undefined : { cause: new new.target(node, remote.cause) },
    );
    this.node = node;
    this.remoteName = remote.name ?? 'Error';
    this.code = remote.code;
    // Not enumerable: runners print an error's enumerable fields, and the stack is shown already.
    Object.defineProperty(this, 'remoteStack', { value: remote.stack, enumerable: false });
    if (remote.stack) {
      // The app's frames; the peer runtime's own (the handler's caller) say nothing to the test.
      const frames = remote.stack.split('\n').filter((line) => !/\.cache\/peer-cluster\/runtime-/.test(line));
      this.stack = `${this.name}: ${this.message}\n--- remote stack (${node}) ---\n${frames.join('\n')}`;
    } else {
      // What was thrown had no stack (it was not an Error); the frames here would be the harness's.
      this.stack = `${this.name}: ${this.message}\n--- no remote stack (${node}): what was thrown had none ---`;
    }
  }
}

/** A node could not be reached at all (nothing listens there, the connection was reset...). */
export class LinkError extends PeerClusterError {
  readonly address: string;
  readonly code: string | undefined;
  constructor(address: string, detail: string, code?: string, options?: ErrorCause) {
    super(`Cannot link to ${address}: ${detail}`, options);
    this.address = address;
    this.code = code;
  }
}

/**
 * A link handshake was refused: wrong cookie, another cluster, or a protocol mismatch. Also
 * 'blocked' (one end blocks the other's name, see `node.block`), 'self' (the address is the node
 * itself), 'duplicate' (the two nodes dialed each other at once and kept the other link) and
 * 'relayed' (the connection does not go straight from one node to the other: a relay, a proxy, a
 * port forward or NAT, which a link does not cross; see link/handshake.ts).
 */
export class HandshakeError extends PeerClusterError {
  readonly reason:
    | 'cookie'
    | 'cluster'
    | 'protocol'
    | 'name'
    | 'timeout'
    | 'closed'
    | 'blocked'
    | 'self'
    | 'duplicate'
    | 'relayed';
  readonly address: string;
  constructor(address: string, reason: HandshakeError['reason'], detail: string) {
    super(`Link to ${address} refused (${reason}): ${detail}`);
    this.address = address;
    this.reason = reason;
  }
}

/** Serializable shape of an error, for sending across the control channel or a link. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** A Node-style error code (`ENOENT`, `ERR_…`), or one the app set. */
  code?: string;
  /** What the error's `cause` was, a few levels deep. */
  cause?: SerializedError;
}

/** How many `cause`s deep a thrown error crosses (a cycle of causes ends here too). */
export const MAX_CAUSES = 4;

/**
 * What a handler threw, as it crosses a link. Whatever it threw: an object without a prototype, an
 * Error whose `name` is a number or whose `message` getter throws — the reply still goes out, as
 * text (the other end takes strings only, and a throw here would take the node down).
 */
/** What a stack goes through as it is serialized (a peer maps compiled TypeScript frames). */
let stackOut: ((stack: string) => string) | undefined;

/** Sets what serializeError does to each stack: set by the peer runtime (compiled-stacks.ts). */
export function serializeStacksWith(map: (stack: string) => string): void {
  stackOut = map;
}

export function serializeError(error: unknown, depth = 0): SerializedError {
  try {
    if (error instanceof Error) {
      const { name, message, stack } = error;
      const serialized: SerializedError = { name: textOf(name, 'Error'), message: textOf(message, '') };
      if (stack !== undefined) {
        const text = textOf(stack, '');
        serialized.stack = stackOut ? stackOut(text) : text;
      }
      const { code } = error as { code?: unknown };
      if (typeof code === 'string' || typeof code === 'number') serialized.code = String(code);
      if (error.cause !== undefined && depth < MAX_CAUSES)
        serialized.cause = serializeError(error.cause, depth + 1);
      return serialized;
    }
    return { name: 'Error', message: thrownText(error) };
  } catch {
    return { name: 'Error', message: 'a thrown value that could not be read' };
  }
}

/**
 * A thrown value that is not an Error, as the message of the error the caller gets: a string as
 * it is, an object as describeValue shows it (`{"status":404}`, not `[object Object]`).
 */
export function thrownText(value: unknown): string {
  if (typeof value === 'object' && value !== null) return describeValue(value);
  return textOf(value, 'undefined');
}

/** `value` as text, never throwing: a string as it is, else String(value), else its tag. */
export function textOf(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return fallback;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** How much of a value an error shows. */
const PREVIEW = 80;

/**
 * A value as an error names it: JSON-like, cut at 80 characters, and built only that far (a value
 * named in an error may be megabytes: a 65 MiB typed array once took minutes to describe).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string' && value.length > PREVIEW)
    return `${JSON.stringify(value.slice(0, PREVIEW - 3)).slice(0, -1)}..." (${value.length} characters)`;
  if (typeof value !== 'object' || value === null)
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  const s = preview(value, { left: PREVIEW, seen: new Set() });
  return s.length > PREVIEW ? `${s.slice(0, PREVIEW - 3)}...` : s;
}

function preview(value: unknown, budget: { left: number; seen: Set<object> }): string {
  let s: string;
  if (typeof value === 'string')
    s = JSON.stringify(value.length > PREVIEW ? `${value.slice(0, PREVIEW - 3)}...` : value);
  else if (typeof value === 'function') s = `"[function ${value.name || 'anonymous'}]"`;
  else if (typeof value === 'symbol' || typeof value === 'bigint') s = `"[${typeof value} ${String(value)}]"`;
  else if (typeof value !== 'object' || value === null) s = String(value);
  else if (budget.seen.has(value)) s = '"[circular]"';
  else if (ArrayBuffer.isView(value)) s = `"[${value.constructor.name} of ${value.byteLength} bytes]"`;
  // By tag, not instanceof: a Jest test's values are of its sandbox's realm, not the harness's.
  else if (tagOf(value) === 'ArrayBuffer')
    s = `"[ArrayBuffer of ${(value as ArrayBuffer).byteLength} bytes]"`;
  else if (tagOf(value) === 'Map' || tagOf(value) === 'Set')
    s = `"[${tagOf(value)}(${(value as Map<unknown, unknown>).size})]"`;
  else if (tagOf(value) === 'Date') s = JSON.stringify(value);
  else if (tagOf(value) === 'Error')
    s = JSON.stringify(`[${(value as Error).name}: ${(value as Error).message}]`);
  else {
    budget.seen.add(value);
    const parts: string[] = [];
    const entries = Array.isArray(value) ? value.length : Object.keys(value).length;
    const keys = Array.isArray(value) ? undefined : Object.keys(value);
    for (let i = 0; i < entries; i++) {
      if (budget.left <= 0) {
        parts.push('...');
        break;
      }
      const item = keys
        ? `${JSON.stringify(keys[i])}:${preview((value as Record<string, unknown>)[keys[i]!], budget)}`
        : preview((value as unknown[])[i], budget);
      parts.push(item);
    }
    budget.seen.delete(value);
    s = keys ? `{${parts.join(',')}}` : `[${parts.join(',')}]`;
  }
  budget.left -= s.length;
  return s;
}

/** The local registry daemon speaks another protocol version than this client (an older install). */
export class RegistryVersionError extends PeerClusterError {
  readonly address: string;
  readonly daemonVersion: number;
  readonly clientVersion: number;
  readonly pid: number;
  constructor(address: string, daemonVersion: number, clientVersion: number, pid: number) {
    super(
      `The registry at ${address} speaks protocol ${daemonVersion}, this client needs ${clientVersion}: stop the old daemon with \`peer-cluster reap\` or kill pid ${pid}.`,
    );
    this.address = address;
    this.daemonVersion = daemonVersion;
    this.clientVersion = clientVersion;
    this.pid = pid;
  }
}

/** The local registry could not be reached (or auto-started), or its connection was lost. */
export class RegistryUnavailableError extends PeerClusterError {
  readonly address: string;
  /** `hint`: what to do, when the usual advice (run it in the foreground to see why) does not fit. */
  constructor(address: string, detail: string, options?: ErrorCause & { hint?: string }) {
    const { hint, ...errorOptions } = options ?? {};
    super(
      `The peer-cluster registry at ${address} ${detail}. ${hint ?? 'Run `peer-cluster registry` to see why it does not start, or point PEER_CLUSTER_REGISTRY=host:port at another one.'}`,
      errorOptions,
    );
    this.address = address;
  }
}

/** A wait (`waitForMesh`, `waitForNodes`, a partition taking effect) did not come true in time. */
export class WaitTimeoutError extends PeerClusterError {
  readonly timeout: number;
  /** `lines`: what each peer involved had to say about it, one line each. */
  constructor(what: string, timeout: number, detail: string, lines: string[] = []) {
    const said = lines.map((line) => `\n  ${line}`).join('');
    super(
      `${what} did not happen within ${timeout} ms: ${detail}.${said}${said ? '\n' : ' '}Check the peers' logs(), or pass a longer timeout.`,
    );
    this.timeout = timeout;
  }
}

export interface LogTimeoutDetails {
  peer: string;
  /** The wait as a failure report names it: `waitForLog(/ready/)`. */
  what: string;
  timeout: number;
  /** The streams it read: `stdout`, `stderr`, or `stdout and stderr`. */
  streams: string;
  /** Whether it read only the lines printed after it began (`since: 'now'`). */
  sinceCall: boolean;
  /** How many lines of the peer's current process it read, and the last few of them. */
  seen: number;
  last: readonly { stream: string; line: string }[];
  /** Lines of the current process on the stream it did not read. */
  other?: { stream: string; count: number } | undefined;
}

/** `peer.waitForLog()` saw no matching line within its timeout: what it read, and its last lines. */
export class LogTimeoutError extends PeerClusterError {
  readonly peer: string;
  readonly timeout: number;
  /** How many lines it read (and tested) before it gave up. */
  readonly seen: number;
  constructor(d: LogTimeoutDetails) {
    const since = d.sinceCall ? ' since the wait began' : '';
    const read =
      d.seen === 0
        ? `its current process printed nothing on ${d.streams}${since}`
        : d.seen === 1
          ? `the one line its current process printed on ${d.streams}${since} did not match:`
          : `none of the ${d.seen} lines its current process printed on ${d.streams}${since} matched; the last ${d.last.length}:`;
    const shown = d.last.map(({ stream, line }) => `\n  ${stream === 'stderr' ? '!' : '|'} ${line}`).join('');
    const other = d.other?.count
      ? ` It printed ${d.other.count} ${d.other.count === 1 ? 'line' : 'lines'} on ${d.other.stream}, which this wait does not read.`
      : '';
    super(
      `${d.what} on peer ${d.peer} saw no matching line within ${d.timeout} ms: ${read}${shown}${shown ? '\n' : '. '}${other.trimStart()}${other ? ' ' : ''}Check the pattern${d.other ? ' and the stream' : ''} against what the app prints, or pass a longer timeout.`,
    );
    this.peer = d.peer;
    this.timeout = d.timeout;
    this.seen = d.seen;
  }
}

/**
 * A value the control channel or a link could not serialize (a function, a symbol, a socket...)
 * as an InvalidOptionsError naming the argument: V8 says only "… could not be cloned." Any other
 * error (a remote one, a peer that is gone) is returned as it is.
 */
export function unsendable(error: unknown, option: string, value: unknown, to: string): unknown {
  if (error instanceof RangeError && error.message.includes('Maximum call stack size exceeded'))
    return new InvalidOptionsError(
      option,
      value,
      `cannot be sent to ${to}: it is nested too deeply (${error.message})`,
      'Flatten it (a list as an array, not as nested objects).',
    );
  if (
    error instanceof RemoteError ||
    !(error instanceof Error) ||
    !(error.name === 'DataCloneError' || error.message.endsWith(' could not be cloned.'))
  )
    return error;
  return new InvalidOptionsError(
    option,
    value,
    `cannot be sent to ${to} (${error.message}) Values cross as structured clones: pass plain data, Map, Set, Date, typed arrays or Errors`,
  );
}
