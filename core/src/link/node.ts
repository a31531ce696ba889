// A node: the link listener, the table of links (one per other node), calls and messages over
// them, and the healer. Which of two simultaneous links survives is decided here, the same way
// on both ends: the one dialed by the node with the smaller id.

import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { TypedEmitter } from '../emitter.js';
import { HandshakeError, InvalidOptionsError, NodeDownError } from '../errors.js';
import { NodeHealer } from '../healer/healer.js';
import { notify } from '../notify.js';
import type {
  CallOptions,
  ClusterNode,
  ClusterNodeEvents,
  NodeAddress,
  NodeDownInfo,
  NodeId,
  NodeInfo,
  NodeOptions,
} from '../types.js';
import { endpointKey, formatId, nameOf, parseAddress } from './address.js';
import { openSocket } from './dial.js';
import {
  AcceptorHandshake,
  connectionPath,
  DialerHandshake,
  type HandshakeParams,
  newIncarnation,
  type PeerIdentity,
  type Refusal,
} from './handshake.js';
import { CLOSE_BLOCKED, CLOSE_DOWN, Heartbeats, Link, type LinkOwner } from './link.js';
import { type Listener, listen, MAX_UNPROVEN } from './listener.js';
import { type ResolvedNodeOptions, resolveNodeOptions, timeoutOption } from './options.js';
import { DEFAULT_CALL_TIMEOUT, type Handler, Handlers } from './rpc.js';
import { allowPayload } from './socket.js';

/** Start a node: its link listener, and its healer if a strategy is given. */
export async function startNode(options: NodeOptions): Promise<ClusterNode> {
  const o = resolveNodeOptions(options);
  const node = new Node(o);
  try {
    await node.listen();
  } catch (error) {
    throw explainListenError(error, o);
  }
  try {
    await node.healer.start();
  } catch (error) {
    await node.stop();
    throw error;
  }
  return node;
}

export class Node extends TypedEmitter<ClusterNodeEvents> implements ClusterNode, LinkOwner {
  id = '';
  readonly name: string;
  readonly host: string;
  port = 0;
  readonly cluster: string;
  readonly healer: NodeHealer;
  readonly handlers: Handlers;
  readonly incarnation = newIncarnation();
  readonly #o: ResolvedNodeOptions;
  readonly #heartbeats: Heartbeats;
  readonly #links = new Map<NodeId, Link>();
  /**
   * host:port → id of the linked node there: the host:port of its id, and each other address this
   * node dialed it at (a host name, `localhost`, another form of its IP, its address when it
   * listens on 0.0.0.0). A strategy may give any of these; the healer must see them linked.
   */
  readonly #byEndpoint = new Map<string, NodeId>();
  /** id → the other addresses in #byEndpoint that lead to it (see #alias). */
  readonly #aliases = new Map<NodeId, Set<string>>();
  /**
   * host:port that turned out to be this node itself under another host form (`localhost:4000`
   * for 127.0.0.1:4000): neither dialed again nor refreshed for. See #dial.
   */
  readonly #selfAliases = new Set<string>();
  /** Local ends (address:port) of this node's own dials that its listener refused as itself. */
  readonly #selfDials = new Set<string>();
  /** host:port → the dial in progress there. */
  readonly #dialing = new Map<string, Promise<NodeId>>();
  /**
   * Dials waiting for a link the other end dialed (it kept its own: 'duplicate'), by node id. Not
   * `nodeup` listeners: under load dozens wait at once, and a user's listeners are theirs.
   */
  readonly #linkWaiters = new Map<NodeId, Set<() => void>>();
  /** host:port → settles when the handshake of a link dialed from there (by its claim) ends. */
  readonly #inbound = new Map<string, Promise<void>>();
  readonly #handshaking = new Set<WebSocket>();
  /** Handshakes of connections this node accepted (not its own dials), bounded by MAX_UNPROVEN. */
  #accepting = 0;
  readonly #blocked = new Set<string>();
  /** Blocked names whose dials this node refused: unblocked, they are owed a dial (see unblock). */
  readonly #refusedBlocked = new Set<string>();
  /** host:port → incarnation of a node that left politely; the healer does not redial it. */
  readonly #left = new Map<string, string>();
  /**
   * host:port of nodes that stopped answering: their link fell silent, or a dial's handshake
   * timed out. A paused node still accepts connections (its kernel does) but never answers a hello.
   */
  readonly #unresponsive = new Set<string>();
  #listener: Listener | undefined;
  /** When this process last came out of a stall long enough to be declared down (Heartbeats). */
  #stalledAt = Number.NEGATIVE_INFINITY;
  #stopping: Promise<void> | undefined;
  #stopped = false;
  /**
   * Messages that came while the peer's apps were starting (see InternalNodeOptions.appsStarting):
   * each `message` listener added meanwhile gets those that came before it, so that every app
   * hears what it would have heard had all of them been listening from the node's start. Undefined
   * once the apps have started, when an unheard message is dropped again, as `send` says.
   */
  #held: [from: NodeId, topic: string, payload: unknown][] | undefined;
  #heldOverflow = false;

  constructor(o: ResolvedNodeOptions) {
    super();
    this.#o = o;
    // Resumed after a stall the others may have taken for its death (a pause, a blocked loop):
    // they back off from a node that fell silent, until their next poll, so this one dials them
    // all at once; and again as each link they closed meanwhile is read (see linkDown).
    this.#heartbeats = new Heartbeats(o.heartbeat, () => {
      this.#stalledAt = Date.now();
      this.healer.redial();
    });
    this.name = o.name;
    this.host = o.host;
    this.cluster = o.cluster;
    this.handlers = new Handlers(() => this.id, o.appsStarting);
    if (o.appsStarting) this.#holdUntil(o.appsStarting);
    this.healer = new NodeHealer(this, o.strategy, o.healer.pollInterval, o.port !== 0, o.startTimeout);
  }

  async listen(): Promise<void> {
    this.#listener = await listen({
      host: this.#o.host,
      port: this.#o.port,
      timeout: this.#o.handshakeTimeout,
      accept: (ws, socket) => this.#accept(ws, socket),
    });
    this.port = this.#listener.port;
    this.id = formatId(this.name, this.host, this.port);
  }

  get endpoint(): string {
    return endpointKey(this.host, this.port);
  }

  /** @internal The startCluster() this node's peer belongs to, if any (see InternalNodeOptions). */
  get scope(): string | undefined {
    return this.#o.scope;
  }

  get info(): NodeInfo {
    return { id: this.id, name: this.name, host: this.host, port: this.port, cluster: this.cluster };
  }

  log(line: string): void {
    this.#o.log(line);
  }

  nodes(): NodeId[] {
    return [...this.#links.keys()];
  }

  call<T = unknown>(node: NodeId, method: string, ...args: unknown[]): Promise<T> {
    return this.#call<T>(node, method, args, DEFAULT_CALL_TIMEOUT);
  }

  callWithOptions<T = unknown>(
    node: NodeId,
    method: string,
    args: unknown[],
    options: CallOptions,
  ): Promise<T> {
    let timeout: number;
    try {
      if (!Array.isArray(args)) {
        throw new InvalidOptionsError(
          'args',
          args,
          'expected an array of arguments',
          'callWithOptions(node, method, args, options) takes the arguments as one array.',
        );
      }
      timeout = timeoutOption('callWithOptions()', options, DEFAULT_CALL_TIMEOUT);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#call<T>(node, method, args, timeout);
  }

  #call<T>(node: NodeId, method: string, args: unknown[], timeout: number): Promise<T> {
    // Checked here, before anything is written: a frame the other end cannot read would make it
    // drop the whole link, failing every call in flight on it.
    if (typeof method !== 'string' || method.length === 0) {
      return Promise.reject(new InvalidOptionsError('method', method, 'expected a non-empty string'));
    }
    const link = this.#links.get(node) ?? this.#linkAt(node);
    if (link !== undefined) return link.call(method, args, timeout) as Promise<T>;
    try {
      this.#checkTarget(node, 'call');
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.reject(new NodeDownError(node, method, this.#notLinked(node)));
  }

  /**
   * Fire-and-forget: to a node that is not linked (this one itself included), the message is
   * dropped (like Erlang's send).
   */
  send(node: NodeId, topic: string, payload: unknown): void {
    if (typeof topic !== 'string') throw new InvalidOptionsError('topic', topic, 'expected a string');
    const link = this.#links.get(node) ?? this.#linkAt(node);
    if (link !== undefined) link.send(topic, payload);
    else this.#checkTarget(node, 'send');
  }

  /**
   * A target that no link matched: throws when it is no node id at all, or (for a call) this
   * node itself.
   */
  #checkTarget(node: unknown, what: 'call' | 'send'): void {
    if (typeof node !== 'string') {
      throw new InvalidOptionsError('node', node, 'expected a node id ("name@host:port", or "host:port")');
    }
    let parsed: ReturnType<typeof parseAddress>;
    try {
      parsed = parseAddress(node);
    } catch (error) {
      throw new InvalidOptionsError(
        'node',
        node,
        'expected a node id ("name@host:port", or "host:port")',
        undefined,
        { cause: error },
      );
    }
    if (
      what === 'call' &&
      this.id !== '' &&
      endpointKey(parsed.host, parsed.port) === this.endpoint &&
      (parsed.name === undefined || parsed.name === this.name)
    ) {
      throw new InvalidOptionsError(
        'node',
        node,
        `is this node itself (${this.id}), which has no link to itself`,
        'Call the handler directly instead.',
      );
    }
  }

  handle(method: string, fn: Handler): void {
    if (typeof method !== 'string' || method.length === 0) {
      throw new InvalidOptionsError('method', method, 'expected a non-empty string');
    }
    if (typeof fn !== 'function')
      throw new InvalidOptionsError('fn', fn, `the handler for "${method}" must be a function`);
    this.handlers.add(method, fn);
  }

  unhandle(method: string): boolean {
    if (typeof method !== 'string' || method.length === 0) {
      throw new InvalidOptionsError('method', method, 'expected a non-empty string');
    }
    return this.handlers.delete(method);
  }

  invoke(method: string, args: unknown[]): Promise<unknown> {
    return this.handlers.invoke(method, args);
  }

  connect(address: NodeAddress, options: { timeout?: number | undefined } = {}): Promise<NodeId> {
    let parsed: ReturnType<typeof parseAddress>;
    try {
      parsed = parseAddress(address);
    } catch (error) {
      return Promise.reject(error);
    }
    let timeout: number;
    try {
      timeout = timeoutOption('connect()', options, this.#o.handshakeTimeout);
    } catch (error) {
      return Promise.reject(error);
    }
    const endpoint = endpointKey(parsed.host, parsed.port);
    const named = (id: NodeId) => {
      if (parsed.name !== undefined && nameOf(id) !== parsed.name) {
        throw new HandshakeError(
          address,
          'name',
          `the address names "${parsed.name}" but the node there is ${id}`,
        );
      }
      return id;
    };
    if (this.#stopping) {
      const state = this.#stopped ? 'is stopped' : 'is stopping';
      return Promise.reject(new HandshakeError(address, 'closed', `node ${this.id} ${state}`));
    }
    if (endpoint === this.endpoint || this.#selfAliases.has(endpoint)) {
      return Promise.reject(new HandshakeError(address, 'self', `${address} is node ${this.id} itself`));
    }
    if (parsed.name !== undefined && this.#blocked.has(parsed.name)) {
      return Promise.reject(
        new HandshakeError(address, 'blocked', `this node blocks "${parsed.name}" (unblock it first)`),
      );
    }
    const linked = this.#byEndpoint.get(endpoint);
    if (linked !== undefined) {
      try {
        return Promise.resolve(named(linked));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    let dial = this.#dialing.get(endpoint);
    if (dial === undefined) {
      const dialNow = (left = timeout) => {
        const id = this.#byEndpoint.get(endpoint);
        if (id !== undefined) return Promise.resolve(id);
        let d = this.#dialing.get(endpoint);
        if (d === undefined) {
          d = this.#dial(address, parsed.host, parsed.port, parsed.name, left)
            .then((linkedId) => {
              this.#alias(endpoint, linkedId);
              return linkedId;
            })
            .finally(() => {
              this.#dialing.delete(endpoint);
            });
          this.#dialing.set(endpoint, d);
        }
        return d;
      };
      // The node there is dialing this one right now: its link is as good as a new one, and a
      // second handshake would only be thrown away. Dial only if that one fails, or takes long
      // (the claim in a hello is not proven yet: an impostor must not hold the dial up for long).
      const inbound = this.#inbound.get(endpoint);
      if (inbound === undefined) dial = dialNow();
      else {
        const started = Date.now();
        const wait = Math.min(INBOUND_WAIT, timeout / 2);
        dial = waitAtMost(inbound, wait).then(() => dialNow(Math.max(1, timeout - (Date.now() - started))));
      }
    }
    return dial.then(named);
  }

  async disconnect(id: NodeId): Promise<void> {
    const link = this.#links.get(id) ?? this.#linkAt(id);
    await link?.close(1000, 'disconnect', { reason: 'disconnected', detail: `was unlinked by ${this.id}` });
  }

  /** @internal The healer unlinks a node its strategy no longer discovers. */
  async unlinkUndiscovered(id: NodeId, strategy: string): Promise<void> {
    const link = this.#links.get(id) ?? this.#linkAt(id);
    await link?.close(1000, 'undiscovered', {
      reason: 'undiscovered',
      detail: `was no longer discovered by the strategy "${strategy}" of ${this.id}, whose healer unlinked it`,
    });
  }

  block(names: string[]): void {
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
      throw new InvalidOptionsError('names', names, 'expected an array of node names');
    }
    for (const name of names) this.#blocked.add(name);
    for (const link of [...this.#links.values()]) {
      if (this.#blocked.has(link.peer.name))
        void link.close(CLOSE_BLOCKED, 'blocked', {
          reason: 'blocked',
          detail: 'is blocked by this node (a partition, or node.block())',
        });
    }
  }

  unblock(names?: string[]): void {
    if (names === undefined) this.#blocked.clear();
    else for (const name of names) this.#blocked.delete(name);
    // A node whose dial was refused while blocked (it unblocked first: a heal reaches the nodes
    // one by one) does not dial again before its next poll, and this one, not the designated
    // dialer, would wait out its grace: dial such nodes at once instead.
    let owed = false;
    for (const name of this.#refusedBlocked) {
      if (this.#blocked.has(name)) continue;
      this.#refusedBlocked.delete(name);
      owed = true;
    }
    if (owed) this.healer.redial();
    else this.healer.trigger();
  }

  isBlocked(name: string): boolean {
    return this.#blocked.has(name);
  }

  /**
   * Whether the node at host:port stopped answering (its link fell silent, or a handshake with it
   * timed out) and has not linked since: a healer's refresh does not wait for a dial to it.
   */
  isUnresponsive(endpoint: string): boolean {
    return this.#unresponsive.has(endpoint);
  }

  /** Whether the node at host:port left politely and has not come back since. */
  hasLeft(endpoint: string): boolean {
    return this.#left.has(endpoint);
  }

  /**
   * A node that left and is no longer discovered has unregistered: when a strategy gives it
   * again, it registered anew, so the healer may dial it.
   */
  forgetLeftExcept(discovered: Map<string, unknown>): void {
    for (const endpoint of this.#left.keys()) if (!discovered.has(endpoint)) this.#left.delete(endpoint);
  }

  /** Whether host:port is this node itself, under its own host or one it was dialed at. */
  isSelf(endpoint: string): boolean {
    return endpoint === this.endpoint || this.#selfAliases.has(endpoint);
  }

  /** The id linked at host:port (that of its id, or one it was dialed at), if any. */
  linkedAt(endpoint: string): NodeId | undefined {
    return this.#byEndpoint.get(endpoint);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    for (const ws of this.#handshaking) ws.terminate();
    this.#handshaking.clear();
    // Every link hears LEAVING before the healer unregisters: a node that sees this one vanish
    // from its discovery unlinks it, and its calls in flight here would fail as "unlinked" instead
    // of "left the cluster". A link's close resolves once the other end answered it, so after
    // the LEAVING it sent first; the healer meanwhile dials nothing (a stopping node refuses).
    await Promise.all([...this.#links.values()].map((link) => link.leave()));
    await this.healer.shutdown();
    await this.#listener?.close();
    this.#stopped = true;
  }

  // ---- LinkOwner ----

  get maxPayload(): number {
    return this.#o.maxPayload;
  }

  linkDown(link: Link, down: NodeDownInfo): void {
    if (this.#links.get(link.id) !== link) return; // a retired duplicate
    this.#links.delete(link.id);
    const endpoints = [endpointOfId(link.id), ...(this.#aliases.get(link.id) ?? [])];
    this.#aliases.delete(link.id);
    for (const endpoint of endpoints) {
      if (this.#byEndpoint.get(endpoint) === link.id) this.#byEndpoint.delete(endpoint);
      if (link.silent) this.#unresponsive.add(endpoint);
      if (link.leaving) this.#left.set(endpoint, link.peer.incarnation);
    }
    this.#o.log(`peer-cluster: ${this.id} lost its link to ${link.id}: it ${down.detail}`);
    this.#notify('nodedown', link.id, down);
    if (!link.leaving && Date.now() - this.#stalledAt < this.#o.heartbeat.timeout) this.healer.redial();
  }

  linkLeaving(link: Link): void {
    this.#left.set(endpointOfId(link.id), link.peer.incarnation);
    for (const endpoint of this.#aliases.get(link.id) ?? []) this.#left.set(endpoint, link.peer.incarnation);
  }

  /**
   * A dial to `endpoint` linked `id`, whose own id names another host:port (a host name, another
   * form of its IP, 0.0.0.0): that address now leads to it too, so that the healer, whose strategy
   * gives that address, sees it linked rather than dialing it and unlinking it on every refresh.
   */
  #alias(endpoint: string, id: NodeId): void {
    if (endpoint === endpointOfId(id) || !this.#links.has(id)) return;
    const owner = this.#byEndpoint.get(endpoint);
    // Another linked node's own host:port stays its own.
    if (owner !== undefined && owner !== id && endpointOfId(owner) === endpoint) return;
    if (owner !== undefined && owner !== id) this.#aliases.get(owner)?.delete(endpoint);
    this.#byEndpoint.set(endpoint, id);
    const aliases = this.#aliases.get(id) ?? new Set<string>();
    this.#aliases.set(id, aliases);
    aliases.add(endpoint);
    this.#left.delete(endpoint);
    this.#unresponsive.delete(endpoint);
  }

  message(from: NodeId, topic: string, payload: unknown): void {
    const held = this.#held;
    if (held) {
      if (held.length < MAX_HELD_MESSAGES) held.push([from, topic, payload]);
      else if (!this.#heldOverflow) {
        this.#heldOverflow = true;
        this.#o.log(
          `peer-cluster: ${this.id} kept only the first ${MAX_HELD_MESSAGES} messages that came while its apps were starting: a listener added later does not get the others`,
        );
      }
    }
    this.#notify('message', from, topic, payload);
  }

  #holdUntil(appsStarting: Promise<unknown>): void {
    const held: [NodeId, string, unknown][] = [];
    this.#held = held;
    // Replayed once the listener is in place (`newListener` comes just before it is), before any
    // message that comes after it: those are read on a later turn of the event loop.
    const onListener = (event: string | symbol, listener: (...args: unknown[]) => void) => {
      const before = held.length;
      if (event === 'message' && before > 0) queueMicrotask(() => this.#replay(listener, held, before));
    };
    this.on('newListener', onListener);
    const done = () => {
      this.off('newListener', onListener);
      this.#held = undefined;
    };
    appsStarting.then(done, done);
  }

  /** Gives a new `message` listener the first `count` held messages, as `emit` would have. */
  #replay(listener: (...args: unknown[]) => void, held: [NodeId, string, unknown][], count: number): void {
    for (let i = 0; i < count; i++) {
      // As added: a `once` listener is its wrapper, gone once it has run (or removed meanwhile).
      const raw = this.rawListeners('message').find(
        (l) => l === listener || (l as { listener?: unknown }).listener === listener,
      );
      if (raw === undefined) return;
      try {
        Reflect.apply(raw, this, held[i]!);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** `emit` for the events the node's own code paths raise: see `notify`. */
  #notify<K extends keyof ClusterNodeEvents>(event: K, ...args: ClusterNodeEvents[K]): void {
    notify(this, event, ...args);
  }

  // ---- links ----

  #linkAt(address: string): Link | undefined {
    try {
      const { host, port } = parseAddress(address);
      const id = this.#byEndpoint.get(endpointKey(host, port));
      return id === undefined ? undefined : this.#links.get(id);
    } catch {
      return undefined;
    }
  }

  #notLinked(target?: string): string {
    if (this.#stopping) {
      return `cannot be reached: the calling node, ${this.id}, ${this.#stopped ? 'is stopped' : 'is stopping'} (its stop() was called)`;
    }
    const linked = this.nodes();
    const why =
      target?.includes('@') && this.#blocked.has(nameOf(target))
        ? `: ${this.id} blocks "${nameOf(target)}" (a partition, or node.block())`
        : '';
    return `is not linked to ${this.id}${why} (linked: ${linked.length ? linked.join(', ') : 'none'})`;
  }

  #params(address: string, expectedName?: string): HandshakeParams {
    return {
      local: {
        id: this.id,
        cluster: this.cluster,
        incarnation: this.incarnation,
        maxPayload: this.#o.maxPayload,
      },
      cookie: this.#o.cookie,
      timeout: this.#o.handshakeTimeout,
      address,
      expectedName,
      path: () => undefined,
      check: (peer) => this.#check(peer),
      settle: (peer) => this.#settle(peer),
      log: this.#o.log,
    };
  }

  #check(peer: PeerIdentity): Refusal | undefined {
    if (this.#stopping) return { reason: 'closed', detail: `node ${this.id} is stopping` };
    if (peer.incarnation === this.incarnation || peer.id === this.id) {
      return { reason: 'self', detail: `that is node ${this.id} itself` };
    }
    if (this.#blocked.has(peer.name)) {
      this.#refusedBlocked.add(peer.name);
      return { reason: 'blocked', detail: `"${peer.name}" is blocked` };
    }
    return undefined;
  }

  /**
   * Acceptor side, once the dialer is authenticated: keep one link per pair of nodes. A link this
   * node dialed that is already up stays (replacing it would show the other node a link going
   * down and up again); when both dials are still in flight, the one dialed by the smaller id
   * wins; a node that dials again while an older link it dialed is still here has dropped that
   * one, so the new link wins.
   */
  #settle(peer: PeerIdentity): Refusal | undefined {
    const existing = this.#links.get(peer.id);
    const sameProcess = existing !== undefined && existing.peer.incarnation === peer.incarnation;
    const keep = sameProcess
      ? existing.dialed
      : this.#dialing.has(endpointOfId(peer.id)) && !(peer.id < this.id);
    if (keep) return { reason: 'duplicate', detail: `${this.id} keeps the link it dialed to ${peer.id}` };
    return undefined;
  }

  #accept(ws: WebSocket, socket: Socket): void {
    if (this.#stopping || this.#accepting >= MAX_UNPROVEN) {
      ws.terminate();
      return;
    }
    const params = this.#params('');
    params.path = () => connectionPath(socket, 'acceptor');
    params.check = (peer) => {
      const refusal = this.#check(peer);
      // This node's own dial, to an address of itself it did not know as its own: that dial
      // learns it from here (see #dial), proven by its local end, not by the refusal's word.
      if (refusal?.reason === 'self' && peer.incarnation === this.incarnation)
        this.#selfDials.add(socketEnd(socket.remoteAddress, socket.remotePort));
      return refusal;
    };
    // The remote address costs a syscall: only a log line or an error needs it.
    Object.defineProperty(params, 'address', {
      get: () => {
        const { remoteAddress, remotePort } = socket;
        return remoteAddress === undefined ? 'a connection already closed' : `${remoteAddress}:${remotePort}`;
      },
    });
    // While a node that claims to be at host:port dials this one, connect() there waits for it.
    let ended = ignore;
    const hs = new AcceptorHandshake(params, (claimed) => {
      const endpoint = endpointOfId(claimed.id);
      let resolve = ignore;
      const inbound = new Promise<void>((r) => {
        resolve = r;
      });
      this.#inbound.set(endpoint, inbound);
      ended = () => {
        if (this.#inbound.get(endpoint) === inbound) this.#inbound.delete(endpoint);
        resolve();
      };
    });
    this.#handshaking.add(ws);
    this.#accepting++;
    hs.run(ws, (error, peer) => {
      this.#handshaking.delete(ws);
      this.#accepting--;
      if (!error && peer) this.#install(ws, peer, false);
      ended();
    });
  }

  #dial(
    address: string,
    host: string,
    port: number,
    name: string | undefined,
    timeout: number,
  ): Promise<NodeId> {
    const started = Date.now();
    const params = this.#params(address, name);
    params.settle = undefined;
    const hs = new DialerHandshake(params);
    const options = { timeout };
    return new Promise<NodeId>((resolve, reject) => {
      openSocket(address, host, port, options, (failure, ws, socket) => {
        if (failure || !ws || !socket) return reject(failure);
        params.path = () => connectionPath(socket, 'dialer');
        if (this.#stopping) {
          ws.terminate();
          return reject(new HandshakeError(address, 'closed', `node ${this.id} is stopping`));
        }
        params.timeout = Math.max(1, timeout - (Date.now() - started));
        this.#handshaking.add(ws);
        hs.run(ws, (error, peer) => {
          this.#handshaking.delete(ws);
          if (error?.reason === 'duplicate' && peer) {
            // The other end kept the link it dialed itself: ours is the one to wait for.
            return this.#whenLinked(peer.id, params.timeout, address).then(resolve, reject);
          }
          if (error?.reason === 'timeout') this.#unresponsive.add(endpointKey(host, port));
          if (error?.reason === 'self') {
            const local = socketEnd(socket.localAddress, socket.localPort);
            if (this.#selfDials.delete(local)) this.#selfAliases.add(endpointKey(host, port));
          }
          if (error || !peer) return reject(error);
          try {
            this.#install(ws, peer, true);
          } catch (failure) {
            // Not expected (listeners cannot throw into #install), but a dial must settle: one
            // that did not would stay in #dialing and hold every later dial there.
            return reject(failure);
          }
          resolve(peer.id);
        });
      });
    });
  }

  #whenLinked(id: NodeId, timeout: number, address: string): Promise<NodeId> {
    if (this.#links.has(id)) return Promise.resolve(id);
    return new Promise((resolve, reject) => {
      const waiters = this.#linkWaiters.get(id) ?? new Set<() => void>();
      this.#linkWaiters.set(id, waiters);
      const onUp = () => {
        clearTimeout(timer);
        resolve(id);
      };
      const timer = setTimeout(() => {
        waiters.delete(onUp);
        if (waiters.size === 0 && this.#linkWaiters.get(id) === waiters) this.#linkWaiters.delete(id);
        reject(
          new HandshakeError(
            address,
            'duplicate',
            `${id} kept its own link to this node, which did not complete within ${timeout} ms`,
          ),
        );
      }, timeout);
      waiters.add(onUp);
    });
  }

  #install(ws: WebSocket, peer: PeerIdentity, dialed: boolean): void {
    allowPayload(ws, this.#o.maxPayload);
    const link = new Link(ws, peer, dialed, this, this.#heartbeats);
    if (this.#stopping || this.#blocked.has(peer.name)) {
      const reason = this.#stopping ? 'stopping' : 'blocked';
      void link.close(CLOSE_BLOCKED, reason, { reason, detail: 'was refused' });
      return;
    }
    const endpoint = endpointOfId(peer.id);
    const existing = this.#links.get(peer.id);
    let swap = false;
    if (existing !== undefined) {
      if (existing.peer.incarnation !== peer.incarnation) {
        // The node restarted before this one noticed the old process was gone.
        void existing.close(CLOSE_DOWN, 'restarted', {
          reason: 'restarted',
          detail: 'was replaced by a new process with the same id',
        });
      } else {
        // biome-ignore lint/complexity/useMathMinMax: ids are strings
        const winner = peer.id < this.id ? peer.id : this.id;
        const newDialer = dialed ? this.id : peer.id;
        const oldDialer = existing.dialed ? this.id : peer.id;
        if (newDialer !== oldDialer && newDialer !== winner) {
          link.retire();
          return;
        }
        this.#links.delete(peer.id);
        existing.retire();
        swap = true;
      }
    }
    this.#links.set(peer.id, link);
    this.#byEndpoint.set(endpoint, peer.id);
    this.#left.delete(endpoint);
    this.#unresponsive.delete(endpoint);
    const waiters = this.#linkWaiters.get(peer.id);
    if (waiters !== undefined) {
      this.#linkWaiters.delete(peer.id);
      for (const linked of waiters) linked();
    }
    if (!swap) this.#notify('nodeup', peer.id);
  }
}

/** How long connect() waits at most for a node's handshake into this one before dialing it, in ms. */
const INBOUND_WAIT = 1000;
/** Messages a booting peer keeps for its apps' `message` listeners (see #held). */
const MAX_HELD_MESSAGES = 10_000;

function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function endpointOfId(id: NodeId): string {
  return id.slice(id.indexOf('@') + 1);
}

/**
 * A listen that failed (the port in use, a host not of this machine or that does not resolve, a
 * port that needs privileges) says which node, and what to do, in the system error itself: its
 * class, `code` and `syscall` stay, for code that checks them.
 */
function explainListenError(error: unknown, o: ResolvedNodeOptions): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (!(error instanceof Error) || typeof code !== 'string') return error;
  const where = endpointKey(o.host, o.port);
  const hint: Record<string, string> = {
    EADDRINUSE: `another process holds port ${o.port} (a node started with the same \`port\`, still running?): stop it, or pass another \`port\` (0 picks a free one)`,
    EADDRNOTAVAIL: `${o.host} is not an address of this machine: pass one of its own as \`host\` (0.0.0.0 for all of them)`,
    EACCES: `port ${o.port} needs privileges: pass a \`port\` of 1024 or more (0 picks a free one)`,
    ENOTFOUND: `the \`host\` ${o.host} does not resolve: pass an IP address or a name of this machine`,
    EAI_AGAIN: `the \`host\` ${o.host} could not be resolved now: pass an IP address`,
  };
  if (!(code in hint)) return error;
  const before = error.message;
  // Read first: V8 formats a stack when it is first read, with the message of that moment.
  const stack = error.stack;
  error.message = `startNode(): node "${o.name}" cannot listen for links on ${where}: ${hint[code]} (${before})`;
  if (typeof stack === 'string' && stack.includes(before)) error.stack = stack.replace(before, error.message);
  return error;
}

/** One end of a TCP connection, an IPv4 address the same whether a socket sees it mapped to IPv6 or not. */
function socketEnd(address: string | undefined, port: number | undefined): string {
  return `${address?.startsWith('::ffff:') ? address.slice(7) : address}:${port}`;
}

function ignore(): void {}
