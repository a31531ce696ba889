// A connection to the local registry. Whatever it registers or leases lives exactly as long as the
// connection: closing it (or the process dying) withdraws the nodes and frees the ports at once.
// `connect` starts a daemon when none answers, so the first test file on a machine brings one up.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearTimeout, now as clockNow, setTimeout } from '../clock.js';
import { TypedEmitter } from '../emitter.js';
import { PeerClusterError, RegistryUnavailableError, RegistryVersionError } from '../errors.js';
import { ALLOWED_ENV } from '../peer/env.js';
import {
  EXIT_NOT_A_REGISTRY,
  formatRegistryAddress,
  isLoopbackHost,
  type RegistryAddressOptions,
  resolveRegistryAddress,
} from './address.js';
import {
  encode,
  type Hello,
  IDLE_TIMEOUT_ENV,
  lineSplitter,
  MAX_REPLY_BYTES,
  PROTOCOL_VERSION,
  type RegisteredNode,
  type Reply,
  type RequestBody,
  readHello,
  readPush,
  readReply,
} from './protocol.js';

export interface RegistryClientOptions extends RegistryAddressOptions {
  /** Start a daemon (detached) when none answers. @default true */
  autoStart?: boolean | undefined;
  /** The idle timeout of a daemon this client starts, in ms. @default the daemon's (30000) */
  idleTimeout?: number | undefined;
  /** Give up reaching (or starting) the daemon after this many ms. @default 10000 */
  connectTimeout?: number | undefined;
}

export interface RegistryClientEvents {
  /** The connection is gone: everything it registered, watched or leased is gone with it. */
  close: [];
}

export interface RegistryStatus {
  /** The daemon's pid. */
  pid: number;
  /** Registered nodes by cluster name. */
  clusters: Record<string, RegisteredNode[]>;
  /** Every leased port, ascending. */
  leases: number[];
  /** Open connections, this one included. */
  connections: number;
}

interface Pending {
  resolve(reply: Reply): void;
  reject(error: Error): void;
  /** Runs as the answer is read, before the lines after it (see `#known`). */
  read: ((reply: Reply) => void) | undefined;
}

/** After a spawn, how long refusals are put down to the daemon still starting before spawning again. */
const RESPAWN_AFTER = 2000;

export class RegistryClient extends TypedEmitter<RegistryClientEvents> {
  /** `host:port` of the daemon. */
  readonly address: string;
  /** The daemon's pid, from its hello. */
  readonly daemonPid: number;
  #socket: net.Socket;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #watchers = new Map<string, Set<(nodes: RegisteredNode[]) => void>>();
  /**
   * Cluster → its nodes as the newest push or list answer said, while watched. Answers and pushes
   * arrive in the order the daemon handled them, so this is what a list would answer: a healer
   * refreshing on every push needs no round trip (and no daemon work) for it. An answer's nodes
   * are taken as its line is read, not where its request is awaited: a push read in the same chunk
   * right behind the answer comes before that await resumes, and the older answer would then
   * overwrite it (a watcher that never saw a node register until the next change).
   */
  #known = new Map<string, RegisteredNode[]>();
  #closed = false;
  /** Why the daemon closes this connection, when it said so (an error answer to no request, id 0). */
  #closing: string | undefined;
  /** The daemon sent a line longer than MAX_REPLY_BYTES: this client closed the connection. */
  #overlong = false;

  private constructor(socket: net.Socket, address: string, daemonPid: number, rest: Buffer) {
    super();
    this.#socket = socket;
    this.address = address;
    this.daemonPid = daemonPid;
    const feed = lineSplitter(
      MAX_REPLY_BYTES,
      (line) => this.#onLine(line),
      () => {
        this.#overlong = true;
        socket.destroy();
      },
    );
    socket.on('data', feed);
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose());
    // The connection must never keep a process alive (nor show up as an open handle in a test
    // runner); it is ref'd only while an answer is awaited.
    socket.unref();
    if (rest.length > 0) feed(rest);
  }

  /** Connects to the registry, starting it first when none answers (unless `autoStart: false`). */
  static async connect(options: RegistryClientOptions = {}): Promise<RegistryClient> {
    const target = resolveRegistryAddress(options);
    const address = formatRegistryAddress(target);
    if (target.port === 0)
      throw new RegistryUnavailableError(address, 'is not a connectable address (port 0)');
    const deadline = clockNow() + (options.connectTimeout ?? 10_000);
    let spawnedAt = 0;
    let delay = 10;
    /** Settles once the daemon this client started listens, or has exited (another one had the port). */
    let started: Promise<'listening' | number | null> | undefined;
    for (;;) {
      try {
        const { socket, hello, rest } = await openConnection(target.host, target.port, address, deadline);
        return new RegistryClient(socket, address, hello.pid, rest);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw error;
        if (options.autoStart === false)
          throw new RegistryUnavailableError(address, 'is not running (autoStart is off)', { cause: error });
        // It has no authentication: started by peer-cluster, it listens on loopback only.
        if (!isLoopbackHost(target.host))
          throw new RegistryUnavailableError(
            address,
            'is not running, and peer-cluster starts a registry by itself on a loopback address only (127.0.0.1, ::1): it has no authentication',
            {
              cause: error,
              hint: `Run \`peer-cluster registry --host ${target.host} --port ${target.port}\` yourself if one must listen there, or point PEER_CLUSTER_REGISTRY=host:port at a loopback address.`,
            },
          );
        if (clockNow() >= deadline)
          throw new RegistryUnavailableError(address, 'did not come up in time', { cause: error });
        if (clockNow() - spawnedAt > RESPAWN_AFTER) {
          started = spawnDaemon(target.host, target.port, options.idleTimeout);
          spawnedAt = clockNow();
        }
        // The daemon this client started says when it listens; one another process is starting
        // (its bind came first) is polled for.
        if (started) {
          const outcome = await settledWithin(started, RESPAWN_AFTER);
          // The port is held, and what holds it closed this connection without a hello.
          if (outcome === EXIT_NOT_A_REGISTRY) throw notARegistry(address);
          started = undefined;
        } else {
          await settledWithin(undefined, delay);
          delay = Math.min(delay * 2, 200);
        }
      }
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Registers `node` in `cluster` until the returned function is called or the connection closes. */
  async register(cluster: string, node: RegisteredNode): Promise<() => Promise<void>> {
    await this.#request({ type: 'register', cluster, node: { pid: process.pid, ...node } });
    return async () => {
      if (!this.#closed) await this.#request({ type: 'unregister', cluster, node: node.id });
    };
  }

  /** The nodes registered in `cluster` right now. */
  async list(cluster: string): Promise<RegisteredNode[]> {
    const known = this.#known.get(cluster);
    if (known) return [...known];
    // Watched already: the watch request went out before this one, so every later change is pushed.
    const watched = this.#watchers.has(cluster);
    const reply = await this.#request({ type: 'list', cluster }, (answer) => {
      if (watched && answer.type === 'nodes' && this.#watchers.has(cluster))
        this.#known.set(cluster, answer.nodes);
    });
    return reply.type === 'nodes' ? [...reply.nodes] : [];
  }

  /** Calls `onChange` with the cluster's nodes each time one registers or leaves. */
  async watch(cluster: string, onChange: (nodes: RegisteredNode[]) => void): Promise<() => Promise<void>> {
    let set = this.#watchers.get(cluster);
    if (!set) {
      // Listening already: a push read right behind the answer comes before the await resumes.
      set = new Set([onChange]);
      this.#watchers.set(cluster, set);
      try {
        // A daemon answers a watch with the members as of then (an older one only with ok).
        await this.#request({ type: 'watch', cluster }, (answer) => {
          if (answer.type === 'nodes' && this.#watchers.get(cluster) === set)
            this.#known.set(cluster, answer.nodes);
        });
      } catch (error) {
        this.#watchers.delete(cluster);
        this.#known.delete(cluster);
        throw error;
      }
    }
    set.add(onChange);
    return async () => {
      const current = this.#watchers.get(cluster);
      if (!current?.delete(onChange) || current.size > 0) return;
      this.#watchers.delete(cluster);
      this.#known.delete(cluster);
      if (!this.#closed) await this.#request({ type: 'unwatch', cluster });
    };
  }

  /** Leases `count` free ports, none of `exclude`, until released or the connection closes. */
  async lease(count: number, exclude: number[] = []): Promise<number[]> {
    const reply = await this.#request({ type: 'lease', count, exclude });
    return reply.type === 'ports' ? reply.ports : [];
  }

  /** Take back ports held with a previous daemon; resolves to those nobody else holds now. */
  async claim(ports: number[]): Promise<number[]> {
    const reply = await this.#request({ type: 'claim', ports });
    return reply.type === 'ports' ? reply.ports : [];
  }

  async release(ports: number[]): Promise<void> {
    if (!this.#closed && ports.length > 0) await this.#request({ type: 'release', ports });
  }

  /** Everything the daemon holds: every cluster's nodes, the leased ports, its pid. */
  async status(): Promise<RegistryStatus> {
    const reply = await this.#request({ type: 'status' });
    if (reply.type !== 'status')
      throw new PeerClusterError(`Registry at ${this.address}: unexpected ${reply.type}`);
    const { type: _type, id: _id, ...status } = reply;
    return status;
  }

  /** Closes the connection, withdrawing everything it holds. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const gone = new Promise<void>((resolve) => this.once('close', resolve));
    this.#socket.end();
    this.#socket.destroySoon();
    await gone;
  }

  /** `read`: called with the answer as soon as its line is read (before anything read after it). */
  #request(body: RequestBody, read?: (reply: Reply) => void): Promise<Reply> {
    if (this.#closed)
      return Promise.reject(
        this.#refusal() ?? new RegistryUnavailableError(this.address, 'connection is closed'),
      );
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, read });
      this.#socket.ref();
      this.#socket.write(encode({ ...body, id }));
    }).then((reply) => {
      if (reply.type === 'error') throw new PeerClusterError(`Registry at ${this.address}: ${reply.message}`);
      return reply;
    });
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#socket.unref();
    return pending;
  }

  #onLine(line: string) {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#socket.destroy();
      return;
    }
    const push = readPush(message);
    if (push) {
      const { cluster, nodes } = push;
      if (this.#watchers.has(cluster)) this.#known.set(cluster, [...nodes]);
      for (const fn of [...(this.#watchers.get(cluster) ?? [])]) fn(nodes);
      return;
    }
    const reply = readReply(message);
    if (!reply) {
      this.#socket.destroy();
      return;
    }
    if (reply.id === 0 && reply.type === 'error') this.#closing = reply.message;
    const pending = this.#settle(reply.id);
    pending?.read?.(reply);
    pending?.resolve(reply);
  }

  /** The error for a connection the daemon closed saying why (one too many, a half-sent line…). */
  #refusal(): RegistryUnavailableError | undefined {
    if (this.#overlong)
      return new RegistryUnavailableError(
        this.address,
        `sent an answer longer than ${MAX_REPLY_BYTES / 2 ** 20} MiB (${MAX_REPLY_BYTES} bytes), the most a client reads, so this client closed the connection`,
        {
          hint: "A registry of this version keeps every answer under that: this one is older, or not peer-cluster's. Stop it (the next client starts a new one), or point PEER_CLUSTER_REGISTRY=host:port at another one.",
        },
      );
    const why = this.#closing?.replace(/^closing this connection: (it )?/, '');
    if (why === undefined) return undefined;
    return new RegistryUnavailableError(this.address, `closed the connection: it ${why}`, {
      hint: 'Its log (`peer-cluster registry` in the foreground) says which connection did what.',
    });
  }

  #onClose() {
    if (this.#closed) return;
    this.#closed = true;
    const error = this.#refusal() ?? new RegistryUnavailableError(this.address, 'closed the connection');
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(error);
    this.#watchers.clear();
    this.#known.clear();
    this.emit('close');
  }
}

/** Opens a socket and waits for the daemon's hello, checking its protocol version. */
function openConnection(
  host: string,
  port: number,
  address: string,
  deadline: number,
  atLeast = 1000,
): Promise<{ socket: net.Socket; hello: { pid: number }; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(
      () => fail(new RegistryUnavailableError(address, 'accepted the connection but never said hello')),
      Math.max(deadline - clockNow(), atLeast),
    );
    function fail(error: Error) {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    }
    socket.on('error', fail);
    socket.on('close', () => {
      const error: NodeJS.ErrnoException = new Error('closed before hello');
      error.code = 'ECONNRESET';
      fail(error);
    });
    socket.on('data', function onData(chunk: Buffer) {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl === -1) {
        if (buffered.length > 4096) fail(notARegistry(address));
        return;
      }
      let hello: Hello | undefined;
      try {
        hello = readHello(JSON.parse(buffered.subarray(0, nl).toString('utf8')));
      } catch {
        return fail(notARegistry(address));
      }
      if (!hello) return fail(notARegistry(address));
      if (hello.version !== PROTOCOL_VERSION)
        return fail(new RegistryVersionError(address, hello.version, PROTOCOL_VERSION, hello.pid));
      clearTimeout(timer);
      socket.off('data', onData);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      resolve({ socket, hello, rest: buffered.subarray(nl + 1) });
    });
  });
}

/**
 * What listens at host:port, for a daemon whose bind failed with EADDRINUSE: a registry (its pid),
 * 'silent' (it accepted the connection but said nothing for `within` ms: not a registry, which says
 * hello at once), or undefined (refused, cut, or answered with something that is not a hello: a
 * registry that is going away looks like this too).
 */
export async function probeRegistry(
  host: string,
  port: number,
  within = 2000,
): Promise<{ pid: number } | 'silent' | undefined> {
  const silence = clockNow() + within;
  try {
    const { socket, hello } = await openConnection(
      host,
      port,
      formatRegistryAddress({ host, port }),
      clockNow() + within,
      within,
    );
    socket.destroy();
    return hello;
  } catch (error) {
    if (error instanceof RegistryVersionError) return { pid: error.pid };
    return clockNow() >= silence ? 'silent' : undefined;
  }
}

function notARegistry(address: string): Error {
  return new RegistryUnavailableError(address, 'is held by something that is not a peer-cluster registry', {
    hint: 'Free that port, or run the registry on another one and point PEER_CLUSTER_REGISTRY=host:port at it.',
  });
}

/**
 * Where the daemon's entry is: next to this file when built, `dist/` when this runs from source.
 * Inside a peer this module is part of the bundled runtime, a file in a cache folder with no
 * main.js beside it: there, the daemon is found through the installed package.
 */
function daemonEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = join(dirname(here), 'main.js');
  if (here.endsWith('.js') && existsSync(sibling)) return sibling;
  if (here.endsWith('.ts'))
    return `${dirname(here).replace(/[/\\]src[/\\]registry$/, '')}/dist/registry/main.js`;
  try {
    const pkg = createRequire(here).resolve('@peer-cluster/core/package.json');
    return join(dirname(pkg), 'dist', 'registry', 'main.js');
  } catch {
    return sibling;
  }
}

/** Resolves to what `event` settles with, or to undefined once `ms` have passed; keeps no timer behind. */
function settledWithin<T>(event: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), Math.max(ms, 0));
    void event?.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/**
 * Starts a daemon, detached; resolves once it listens ('listening') or has exited, with its exit
 * code (0 when another daemon has the port, EXIT_NOT_A_REGISTRY when something else has it). Its environment is the peers' allowlist, not this process's: the daemon
 * serves every test process of the machine, and a variable such as NODE_EXTRA_CA_CERTS alone
 * (which Node reads at every start) would make it take twice as long to listen.
 */
function spawnDaemon(
  host: string,
  port: number,
  idleTimeout: number | undefined,
): Promise<'listening' | number | null> {
  const env: NodeJS.ProcessEnv = {};
  for (const key of [...ALLOWED_ENV, IDLE_TIMEOUT_ENV]) {
    if (process.env[key] !== undefined) env[key] = process.env[key];
  }
  if (idleTimeout !== undefined) env[IDLE_TIMEOUT_ENV] = String(idleTimeout);
  const entry = daemonEntry();
  const child = spawn(process.execPath, [entry, '--host', host, '--port', String(port), '--notify-parent'], {
    detached: true,
    // The IPC channel carries one message, 'listening'; then the daemon lets go of it.
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env,
    cwd: dirname(entry),
  });
  child.on('error', () => {});
  // Neither the daemon nor its channel keeps this process alive: connect() waits with a timer of
  // its own, so a daemon that never says anything costs that wait and no more.
  child.unref();
  child.channel?.unref();
  return new Promise((resolve) => {
    const done = (outcome: 'listening' | number | null) => {
      child.off('message', listening);
      child.off('exit', exited);
      child.off('error', failed);
      if (child.connected) child.disconnect();
      resolve(outcome);
    };
    const listening = () => done('listening');
    const exited = (code: number | null) => done(code);
    const failed = () => done(null);
    child.on('message', listening);
    child.on('exit', exited);
    child.on('error', failed);
  });
}
