// The shared types of the public contract (DESIGN.md). Implementation lives next to each concept:
// link/ (ClusterNode, startNode), healer/ (Healer, strategies), peer/ (Peer, spawnPeer),
// cluster/ (Cluster, startCluster), registry/ (local registry daemon), harness/ (usePeers).

import type { EventEmitter } from 'node:events';

/**
 * An EventEmitter whose events are typed by `T` (event name: listener parameters): a misspelt event
 * name or a listener with the wrong parameters is a type error. Not `EventEmitter<T>` itself, since
 * @types/node 25 and later let its methods take any event name (any listener for a name not in `T`).
 * Besides `T`'s events it takes those of every EventEmitter (`newListener`, `removeListener`),
 * `errorMonitor` where `T` has `error`, and any other symbol, untyped (a symbol cannot be misspelt).
 * The methods that return the emitter return it typed, for chains. The emitters are Node's
 * EventEmitters at runtime (`instanceof EventEmitter`).
 */
export interface TypedEventEmitter<T extends Record<keyof T, any[]>>
  extends Omit<EventEmitter, TypedEmitterMethods>,
    TypedListening<T> {
  addListener<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
  removeListener<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
  prependListener<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
  prependOnceListener<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
  emit<K extends string | symbol>(event: EventName<T, K>, ...args: Parameters<Listener<T, K>>): boolean;
  removeAllListeners<K extends string | symbol>(event?: EventName<T, K>): this;
  listeners<K extends string | symbol>(event: EventName<T, K>): Listener<T, K>[];
  rawListeners<K extends string | symbol>(event: EventName<T, K>): Listener<T, K>[];
  listenerCount<K extends string | symbol>(event: EventName<T, K>, listener?: Listener<T, K>): number;
  setMaxListeners(n: number): this;
}

/**
 * `on`, `once` and `off` of a TypedEventEmitter, on their own: an interface that extends them (not
 * a Pick, which would fix `this` to the emitter's whole type) keeps its own type along a chain.
 */
interface TypedListening<T extends Record<keyof T, any[]>> {
  on<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
  once<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
  off<K extends string | symbol>(event: EventName<T, K>, listener: Listener<T, K>): this;
}

/** The methods that TypedEventEmitter types by event, or by `this`. */
type TypedEmitterMethods =
  | 'on'
  | 'once'
  | 'off'
  | 'addListener'
  | 'removeListener'
  | 'prependListener'
  | 'prependOnceListener'
  | 'emit'
  | 'removeAllListeners'
  | 'listeners'
  | 'rawListeners'
  | 'listenerCount'
  | 'setMaxListeners';

type ErrorMonitor = typeof EventEmitter.errorMonitor;

/** The events of every EventEmitter, typed as @types/node types them. */
interface EventEmitterEvents {
  newListener: [eventName: string | symbol, listener: (...args: any[]) => void];
  removeListener: [eventName: string | symbol, listener: (...args: any[]) => void];
}

/** `T`'s events, every EventEmitter's, and `errorMonitor` (called with what `error` gives) where `T` has `error`. */
type AllEvents<T> = T &
  Omit<EventEmitterEvents, keyof T> &
  ('error' extends keyof T ? Record<ErrorMonitor, T['error' & keyof T]> : unknown);

/**
 * The type of an event name `K` (inferred from the argument): `K` for an event of AllEvents or
 * another symbol, the event names for a string that is none (a misspelt event), a message for
 * `errorMonitor` on an emitter without `error`, where its listeners would never be called.
 */
type EventName<T, K> = K extends keyof AllEvents<T>
  ? K
  : K extends ErrorMonitor
    ? 'errorMonitor, on an emitter without an error event'
    : K extends symbol
      ? K
      : keyof T | keyof EventEmitterEvents | symbol;

/** The listener of event `K`: typed for AllEvents, untyped for another symbol. */
type Listener<T, K> = K extends keyof AllEvents<T>
  ? AllEvents<T>[K] extends infer A extends any[]
    ? (...args: A) => void
    : never
  : (...args: any[]) => void;

/** A node address as a strategy gives it: `name@host:port` or `host:port`. */
export type NodeAddress = string;
/** A node id: `name@host:port`, confirmed in the link handshake. */
export type NodeId = string;

export interface NodeInfo {
  id: NodeId;
  name: string;
  host: string;
  port: number;
  /** The cluster name this node belongs to. */
  cluster: string;
}

export interface HeartbeatOptions {
  /** How often a node pings each linked node, in ms. @default 1000 (startNode), 500 (harness) */
  interval?: number | undefined;
  /** A linked node silent for this long is declared down, in ms. @default 5000 (startNode), 2000 (harness) */
  timeout?: number | undefined;
}

export interface HealerOptions {
  /** Time between two refreshes, in ms, jittered by ±10 %. @default 5000 (startNode), 1000 (harness) */
  pollInterval?: number | undefined;
}

export interface NodeOptions {
  /** The node's name, the part before `@` in its id. */
  name: string;
  /** The cluster cookie: links prove it with an HMAC challenge-response. Never logged. */
  cookie: string;
  /** The cluster name; links between different clusters are refused. @default 'default' */
  cluster?: string | undefined;
  /** Address the link listener binds. @default '127.0.0.1' */
  host?: string | undefined;
  /** Port of the link listener; 0 picks a free one. @default 0 */
  port?: number | undefined;
  /** How the healer finds the other nodes. Without one, the node only links when told to. */
  strategy?: Strategy | undefined;
  heartbeat?: HeartbeatOptions | undefined;
  healer?: HealerOptions | undefined;
  /**
   * Largest frame in bytes this node takes (a call with its arguments, a reply, a message, once
   * encoded). Each end of a link says its own in the handshake, and neither sends more than the
   * other takes: a call too large for the other end fails alone with an InvalidOptionsError.
   * @default 64 MiB
   */
  maxPayload?: number | undefined;
  /** Where the node reports refused links and other incidents. @default a no-op */
  log?: ((line: string) => void) | undefined;
}

/** What a strategy's callbacks receive. */
export interface StrategyContext {
  /** The node the healer runs in. */
  self: NodeInfo;
  /** The node itself, for strategies that override connect/disconnect/list. */
  node: ClusterNode;
  /** Aborted when the refresh that asked times out or the healer shuts down. */
  signal: AbortSignal;
  log(line: string): void;
}

/**
 * How a strategy built in the test process is re-created inside a peer: the module that exports
 * the factory (an absolute file URL, set from the factory module's `import.meta.url`), the
 * export's name and its (structured-cloneable) options.
 */
export interface StrategySpec {
  module: string;
  export: string;
  options: unknown;
}

export interface Strategy {
  /** Shown in logs and errors. */
  name: string;
  /** The addresses of the nodes that should exist (`name@host:port` or `host:port`). */
  discover(ctx: StrategyContext): NodeAddress[] | Promise<NodeAddress[]>;
  /** Announce this node; returns how to withdraw it. */
  register?(ctx: StrategyContext): (() => void | Promise<void>) | Promise<() => void | Promise<void>>;
  /** Call `onChange` when the set of nodes may have changed; returns how to stop watching. */
  watch?(ctx: StrategyContext, onChange: () => void): (() => void) | Promise<() => void>;
  /** Link one address; resolves to the node id. Default: the node's own link. */
  connect?(ctx: StrategyContext, address: NodeAddress): Promise<NodeId>;
  /** Unlink one node. Default: the node's own unlink. */
  disconnect?(ctx: StrategyContext, id: NodeId): Promise<void>;
  /** The ids this node is linked to. Default: `node.nodes()`. */
  list?(ctx: StrategyContext): NodeId[] | Promise<NodeId[]>;
  /** Set by factories so the strategy can be re-created in a peer; absent for inline callbacks. */
  spec?: StrategySpec;
}

/**
 * A strategy as data: what a strategy with a spec becomes on its way through a runner's config
 * (Vitest clones the config into its workers, Jest sends it as JSON), and what a CommonJS Jest
 * test that cannot import a strategy package can write. `spec.module` may also be a package name
 * or a path, resolved from `root`. The peers re-create the strategy from it.
 */
export interface StrategyData {
  /** @default spec.export */
  name?: string | undefined;
  spec: StrategySpec;
}

export interface RefreshResult {
  /** Addresses the strategy gave. */
  discovered: NodeAddress[];
  /** Ids newly linked by this refresh. */
  connected: NodeId[];
  /** Addresses that could not be linked, and why (a strategy error has node `'*'`). */
  failed: { node: string; error: Error }[];
  /** Ids unlinked because the strategy no longer gives them. */
  disconnected: NodeId[];
}

/**
 * Why a link went down, in a word to branch on (the `reason` of a `nodedown`):
 * - `heartbeat`: the other node was silent for `heartbeat.timeout` (paused, its loop blocked);
 * - `left`: the other node left the cluster (its `stop()`);
 * - `stopping`: this node is stopping (its `stop()`);
 * - `dropped`: the connection ended without the link being closed (code 1006): the other
 *   process died or was killed, or the connection was cut;
 * - `blocked`: one end blocks the other (`cluster.partition()`, or `node.block()`);
 * - `disconnected`: `disconnect()` on either end;
 * - `undiscovered`: a healer unlinked it, its strategy no longer discovering it;
 * - `restarted`: a new process with the same id took its place;
 * - `handshake`: the other end gave up its handshake after this one had accepted the link;
 * - `error`: the link failed (a malformed frame, calls sent much faster than their replies read);
 * - `exited` (a peer's events and the timeline only): the peer's own process ended, its links with it;
 * - `closed`: the other end closed the link for a reason not listed here (its code in `detail`).
 */
export type NodeDownReason =
  | 'heartbeat'
  | 'left'
  | 'stopping'
  | 'dropped'
  | 'blocked'
  | 'disconnected'
  | 'undiscovered'
  | 'restarted'
  | 'handshake'
  | 'error'
  | 'exited'
  | 'closed';

/** A `nodedown`'s second argument: why the link went down. */
export interface NodeDownInfo {
  reason: NodeDownReason;
  /**
   * What happened, said of the other node as the node's log says it: `was silent for 2000 ms or
   * more (heartbeat timeout 2000 ms)`, `left the cluster`, `blocks this node (…)`…
   */
  detail: string;
}

export interface HealerEvents {
  refresh: [RefreshResult];
  nodeup: [NodeId];
  nodedown: [id: NodeId, info: NodeDownInfo];
  pause: [];
  resume: [];
  shutdown: [];
  error: [Error];
}

export interface Healer extends TypedEventEmitter<HealerEvents> {
  readonly strategy: Strategy | undefined;
  readonly state: 'running' | 'paused' | 'shutdown';
  /**
   * Run one refresh now. `timeout` bounds how long it waits (@default 5000): a dial still in
   * flight then is reported in `failed` and goes on with the node's handshake timeout; a later
   * refresh joins it.
   */
  refresh(options?: { timeout?: number | undefined }): Promise<RefreshResult>;
  /** Stop refreshing, for `ms` or until `resume()`. */
  pause(ms?: number): void;
  resume(): void;
  /** Stop for good: unregister, unwatch, no more refreshes. Links stay. */
  shutdown(): Promise<void>;
}

/**
 * A node's events. A listener that throws is an uncaught exception of its own, raised from a
 * microtask with the listener's stack: the node and the event's other listeners run on.
 */
export interface ClusterNodeEvents {
  nodeup: [NodeId];
  /** A link went down: the node's id, and why (`info.reason`). */
  nodedown: [id: NodeId, info: NodeDownInfo];
  message: [from: NodeId, topic: string, payload: unknown];
}

export interface CallOptions {
  /**
   * How long the call waits for its answer before it rejects with an RpcTimeoutError, in ms: a
   * positive number (at most 2^31 - 1, the longest Node.js timer). @default 5000
   */
  timeout?: number | undefined;
}

/** A node: a process with a link listener, links to other nodes and a healer. Also `ctx.cluster`. */
export interface ClusterNode extends TypedEventEmitter<ClusterNodeEvents> {
  readonly id: NodeId;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly cluster: string;
  readonly healer: Healer;
  /** Ids of linked nodes, itself excluded. */
  nodes(): NodeId[];
  /**
   * Call a handler on another node. Values cross as structured clones. Rejects with an
   * RpcTimeoutError after 5000 ms without an answer (`callWithOptions` takes another timeout), a
   * NodeDownError when the node is not linked or goes down meanwhile, and an InvalidOptionsError
   * when the node id or the method is not valid, or is this node itself (call the handler directly).
   */
  call<T = unknown>(node: NodeId, method: string, ...args: unknown[]): Promise<T>;
  /** Same, with the arguments as one array and a timeout (`{ timeout }` in ms, @default 5000). */
  callWithOptions<T = unknown>(
    node: NodeId,
    method: string,
    args: unknown[],
    options: CallOptions,
  ): Promise<T>;
  /**
   * Fire-and-forget message, delivered as a `message` event on the other node. To a node that is
   * not linked (this one itself included) it is dropped without an error, like Erlang's send.
   * Throws an InvalidOptionsError when the node id or the topic is not valid.
   */
  send(node: NodeId, topic: string, payload: unknown): void;
  /**
   * Register a handler that other nodes and the test (`peer.call`) can call. A method has one
   * handler: one already handled is an InvalidOptionsError (two apps of a peer that both register
   * it, say); `unhandle(method)` first, to replace it.
   */
  handle(method: string, fn: (...args: any[]) => unknown): void;
  /**
   * Remove the handler of `method`, so that it may be registered again; returns whether there was
   * one. Calls to it then fail as calls to a method never registered.
   */
  unhandle(method: string): boolean;
  /** Run a locally registered handler (what `peer.call` does over the control channel). */
  invoke(method: string, args: unknown[]): Promise<unknown>;
  /** Link to an address now; resolves to its id. */
  connect(address: NodeAddress, options?: { timeout?: number | undefined }): Promise<NodeId>;
  /** Unlink a node now. */
  disconnect(id: NodeId): Promise<void>;
  /**
   * Refuse and cut links to nodes with these names, until `unblock()` (used by
   * `cluster.partition`); the healer does not relink them meanwhile.
   */
  block(names: string[]): void;
  unblock(names?: string[]): void;
  /** Leave politely (others do not redial) and close the listener. */
  stop(): Promise<void>;
}

/**
 * `ctx.cluster` inside a peer's app: its node, less what the peer does itself (stop, connect,
 * block…). `on`, `once` and `off` return it as an AppCluster, so a chain stays one.
 */
export interface AppCluster
  extends Pick<
      ClusterNode,
      | 'id'
      | 'name'
      | 'host'
      | 'port'
      | 'cluster'
      | 'healer'
      | 'nodes'
      | 'call'
      | 'callWithOptions'
      | 'send'
      | 'handle'
      | 'unhandle'
    >,
    TypedListening<ClusterNodeEvents> {}

/** What an app's `start(ctx)` receives. */
export interface AppContext {
  name: string;
  index: number;
  /** This peer's node id, `name@host:port`. */
  node: NodeId;
  host: string;
  /** The app port (`PORT`). */
  port: number;
  /** Every named port: `{ default, ...ports }`. */
  ports: Record<string, number>;
  env: Record<string, string>;
  cluster: AppCluster;
  log(...args: unknown[]): void;
}

/** What an app's `start` may return: the function that stops it, bare or as `{ stop }`. */
// biome-ignore lint/suspicious/noConfusingVoidType: a `start` that returns nothing is typed `void`.
export type AppStop = (() => unknown) | { stop(): unknown } | undefined | void;

/**
 * The exports of an app module, all optional (a module without `start` is a side-effect app):
 * `export const start: App['start'] = (ctx) => …`, or `export default { start } satisfies App`.
 */
export interface App {
  /** Awaited at boot, before the peer is ready. */
  start?(ctx: AppContext): AppStop | Promise<AppStop>;
  /** Runs on a graceful stop, when `start` returned no stop of its own. */
  stop?(ctx: AppContext): unknown;
}

export type ClusterEventType =
  | 'spawn'
  | 'ready'
  | 'boot-failed'
  | 'exit'
  | 'crash'
  | 'stop'
  | 'kill'
  | 'restart'
  | 'pause'
  | 'resume'
  | 'nodeup'
  | 'nodedown'
  | 'partition'
  | 'heal'
  | 'mesh';

/** One entry of `cluster.timeline`. */
export interface ClusterEvent {
  /** Epoch ms. */
  at: number;
  type: ClusterEventType;
  /** The peer the event is about (or that observed it, for nodeup/nodedown). */
  peer?: string;
  /** The other node, for nodeup/nodedown. */
  node?: string;
  /** Why the link went down, for nodedown (its `detail` says how). */
  reason?: NodeDownReason;
  /**
   * What else there is to say: the signal of a kill, the code or signal of an exit or crash (an
   * exit of a stop that went wrong adds how: `; killed after stopTimeout (5000 ms)`, `; app x failed
   * to stop (Error: …)`), the pid of a spawn, the sides of a partition, how a link went down…
   */
  detail?: string;
}
