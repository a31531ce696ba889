// A peer: one isolated Node.js child process running the peer runtime (its node and its apps),
// controlled from the test process over its control channel.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism, constants, loadavg } from 'node:os';
import { inspect } from 'node:util';
import { clearTimeout, now as clockNow, setTimeout } from '../clock.js';
import { defaultStrategy } from '../cluster/defaults.js';
import { explainPeer } from '../cluster/explain-mesh.js';
import { TypedEmitter } from '../emitter.js';
import {
  type BootPhase,
  describeValue,
  InvalidOptionsError,
  LogTimeoutError,
  PeerBootError,
  PeerClusterError,
  PeerExitedError,
  RemoteError,
  unsendable,
  WaitTimeoutError,
} from '../errors.js';
import { timeoutOption } from '../link/options.js';
import { DEFAULT_CALL_TIMEOUT } from '../link/rpc.js';
import { notify } from '../notify.js';
import {
  type EnvRecord,
  type PeerOptions,
  type ResolvedSetup,
  resolvePeerOptions,
  resolveWaitForLogOptions,
  validateEnvResult,
  validateHostResult,
  type WaitForLogOptions,
} from '../options.js';
import { printable } from '../printable.js';
import { leasePorts, type PortLease } from '../registry/ports.js';
import {
  abortReason,
  killRoom,
  type RunnerDeadline,
  runnerDeadline,
  runnerSignal,
} from '../runner-deadline.js';
import type { AppContext, ClusterEvent, NodeDownInfo, NodeId, Strategy } from '../types.js';
import { bootStrategy, type LocatedApp, locateApps, resolveApps } from './app-modules.js';
import { Channel, type InFlight } from './channel.js';
import { peerEnv, portVariable } from './env.js';
import { escapedDescendants, signalEscaped } from './escaped.js';
import { WATCHDOG_FD } from './group-watchdog.js';
import { signalGroup } from './kill.js';
import { describeFatal, type LogLine, PeerLogs } from './logs.js';
import type {
  BootApp,
  BootConfig,
  BootStrategy,
  BootTimings,
  FromPeer,
  ToPeer,
  WireError,
} from './protocol.js';
import { adopt, realmArray, realmObject, tagOf } from './realm.js';
import { runtimeEntry } from './runtime-bundle.js';
import { detachedListFile, spawningClosed, spawnRuntime } from './spawn.js';
import { StrategyHost } from './strategy-host.js';
import { locateSyntaxError } from './syntax-location.js';
import { TYPESCRIPT } from './typescript.js';
import { PendingWaits, waitUntil } from './wait.js';

export type { LogLine } from './logs.js';

export type PeerState = 'booting' | 'running' | 'paused' | 'stopped' | 'crashed';

export interface PeerEvents {
  /** The process exited (after stop, kill or a crash). */
  exit: [code: number | null, signal: NodeJS.Signals | null];
  /** This peer linked to a node. */
  nodeup: [NodeId];
  /** This peer lost its link to a node: its id, and why (`info.reason`). */
  nodedown: [id: NodeId, info: NodeDownInfo];
  /** A line the peer wrote to stdout or stderr. */
  log: [LogLine];
}

/** core's dist folder, as the runtime's strategy specs name it. */
const CORE_URL = new URL('../', import.meta.url).href;
/** How long `waitForNodes` waits by default, in ms. */
const WAIT_TIMEOUT = 15_000;
/** How many times a boot that hit EADDRINUSE on an app port is retried with new ports. */
const PORT_RETRIES = 3;
/** Signals that stop or continue a process rather than end it: pause() and resume() send them. */
const JOB_CONTROL = new Set(['SIGSTOP', 'SIGCONT', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU']);

/** Everything a peer is made of, resolved. @internal */
export interface PeerConfig {
  name: string;
  index: number;
  cluster: string;
  cookie: string;
  setup: ResolvedSetup & { strategy: Strategy | undefined };
  /** Where lifecycle events go (the cluster's timeline). */
  record?: (event: Omit<ClusterEvent, 'at'>) => void;
  /** Names this peer must not link with when it boots (a partition in force). */
  blocked?: () => string[];
  /** What its cluster knows that bears on its links (a partition, peers not running), for wait errors. */
  context?: () => string[];
  /** How many peers its cluster has (the most nodes it can link to is one less). */
  clusterSize?: () => number;
  /** A lone peer gives its ports back when stopped; a cluster's peer keeps them until removed. */
  releaseOnStop: boolean;
  /** The random id of the cluster it belongs to (InternalNodeOptions in link/options.ts). */
  scope?: string;
}

type Booting = { resolve: () => void; reject: (error: Error) => void; failure?: PeerBootError };

export class Peer extends TypedEmitter<PeerEvents> {
  readonly name: string;
  readonly index: number;
  /** The cluster name (`PEER_CLUSTER`). */
  readonly cluster: string;
  /** Where the peer's apps and its node listen. */
  readonly host: string;
  /** How long the last boot took, as the runtime measured it. */
  timings: BootTimings | undefined;

  #config: PeerConfig;
  #env: EnvRecord;
  #state: PeerState = 'booting';
  #child: ChildProcess | undefined;
  #channel: Channel | undefined;
  #strategyHost: StrategyHost | undefined;
  #lease: PortLease | undefined;
  /** A lease on its way for the boot in progress. */
  #leasing: Promise<PortLease> | undefined;
  #ports: Record<string, number> = {};
  #nodeId = '';
  #linkPort = 0;
  #linked = new Set<NodeId>();
  #logs: PeerLogs;
  #exited: Promise<void> = Promise.resolve();
  /** Ms the boot under way spent paused (bootTimeout does not count them), and since when. */
  #bootPaused = 0;
  #pausedAt = 0;
  /** A boot's timeout that came due while the peer was paused: it is checked again on resume. */
  #onResume: (() => void) | undefined;
  /**
   * The signals kill() sent to each process: an exit by one of them is the test's doing, and one
   * sent SIGKILL is as good as gone (a second kill() joins the first).
   */
  #signalled = new WeakMap<ChildProcess, Set<NodeJS.Signals>>();
  #stopping = false;
  #everReady = false;
  /** Whether an app of the running process has a stop to run (as the runtime reported at ready). */
  #appStops = true;
  /**
   * What went wrong in the graceful stop of the running process (an app's stop that threw, a
   * stop that overran stopTimeout), for the timeline's exit event.
   */
  #stopTrouble: string[] = [];
  /** What the graceful stop under way runs now, as its runtime said: `app ./x.js`, `its node`. */
  #stoppingWhat: string | undefined;
  /** Why the SIGKILL that ends this process is a graceful stop's own, when it is (see #terminate). */
  #stopKill: string | undefined;
  #booting: Booting | undefined;
  /** The waits on this peer in progress (waitForNodes), for failure reports. */
  readonly #waits = new PendingWaits();
  #phase: BootPhase = 'spawn';
  #app: string | undefined;
  /** The pid of the peer's group watchdog, once its apps started a child process. */
  #watchdog: number | undefined;
  /** The file of each app, by the name the user gave it (to say where an app fails to parse). */
  #appFiles = new Map<string, string>();
  /** Fires on every change a wait may be waiting for (links, state). */
  #changes = new EventEmitter();
  /** Bumped by every stop: a boot that has not spawned its process yet gives up. */
  #epoch = 0;
  /** The restart under way, which another restart() joins. */
  #restarting: Promise<void> | undefined;
  /** The boot under way (a first boot or a restart's), which a restart() lets end first. */
  #inBoot: Promise<void> | undefined;
  /** The pause() under way, which another pause() joins. */
  #pausing: Promise<void> | undefined;
  /** What the peer was when paused, and is again on resume(). */
  #pausedFrom: 'booting' | 'running' = 'running';
  /**
   * The waitForLog() calls in progress, each on the process it began on. They hear of each line
   * before the `log` event, not through it: no listener of theirs counts against the peer's
   * maxListeners, and a test's removeAllListeners('log') does not deafen them.
   */
  readonly #logWaits = new Set<LogWait>();
  /** Why it can never boot again, once its cluster let go of it (detach). */
  #detached: { reason: string; hint: string } | undefined;

  /** @internal Use spawnPeer() or startCluster(). */
  constructor(config: PeerConfig) {
    super();
    this.#config = config;
    this.name = config.name;
    this.index = config.index;
    this.cluster = config.cluster;
    const env = config.setup.env;
    this.#env =
      typeof env === 'function'
        ? validateEnvResult(callOption('env', env, { index: this.index, name: this.name }), this.name)
        : env;
    const host = config.setup.host;
    this.host =
      typeof host === 'function'
        ? validateHostResult(callOption('host', host, { index: this.index, name: this.name }), this.name)
        : host;
    this.#logs = new PeerLogs(this.name, config.setup.logs, (line) => {
      if (this.#logWaits.size > 0) for (const wait of [...this.#logWaits]) wait.line(line);
      notify(this, 'log', line);
    });
    this.#changes.setMaxListeners(0);
  }

  /** The node id, `name@host:port`. */
  get node(): NodeId {
    return this.#nodeId;
  }
  /** The app port (`PORT`). */
  get port(): number {
    return this.#ports.default ?? 0;
  }
  /** Every app port by name: `{ default, ...ports }`. */
  get ports(): Record<string, number> {
    return realmObject({ ...this.#ports });
  }
  /** The port of the node's link listener. */
  get linkPort(): number {
    return this.#linkPort;
  }
  get pid(): number | undefined {
    return this.#child?.pid;
  }
  get state(): PeerState {
    return this.#state;
  }

  /**
   * Who the peer is and how it is: what JSON.stringify gives, and what Jest's and Vitest's
   * messages print of a peer (their pretty-format calls toJSON), rather than its emitter's insides.
   */
  toJSON(): {
    name: string;
    state: PeerState;
    node: NodeId;
    pid: number | undefined;
    ports: Record<string, number>;
  } {
    return { name: this.name, state: this.state, node: this.node, pid: this.pid, ports: this.ports };
  }

  /** console.log of a peer: `Peer { name: 'peer-1', state: 'running', node: …, pid: …, ports: … }`. */
  [inspect.custom](depth: number, options: InspectOptions, show: typeof inspect): string {
    return inspectAs('Peer', this.name, this.toJSON(), depth, options, show);
  }

  /** `http://127.0.0.1:<PORT><path>`. */
  url(path = '/'): string {
    if (typeof path !== 'string')
      throw new InvalidOptionsError('url(path)', path, 'must be a path string such as "/health"');
    // An IPv6 address is bracketed in a URL, as in a node id.
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}${path.startsWith('/') ? path : `/${path}`}`;
  }

  /** The peer's stdout and stderr lines so far (the last 2000). */
  logs(): LogLine[] {
    return this.#logs.lines();
  }

  /**
   * @internal What the test awaits of this peer and has not settled yet: the requests it has no
   * answer for (`call("get")`, `evaluate(…)`) and its waits (`waitForNodes(3)`). A test that
   * timed out on one shows it in its report (which orders them).
   */
  inFlight(): InFlight[] {
    return [...(this.#channel?.inFlight() ?? []), ...this.#waits.list()];
  }

  /**
   * Runs `fn(ctx, arg)` inside the peer. Only the function's source travels, not its closure:
   * pass what it needs as `arg`. Values cross as structured clones.
   */
  evaluate<T>(fn: (ctx: AppContext) => T | Promise<T>): Promise<Awaited<T>>;
  /** A function that takes an `arg` needs it given: `peer.evaluate((ctx, n: number) => …, 3)`. */
  evaluate<T, A>(fn: (ctx: AppContext, arg: A) => T | Promise<T>, arg: A): Promise<Awaited<T>>;
  async evaluate<T, A>(fn: (ctx: AppContext, arg?: A) => T | Promise<T>, arg?: A): Promise<Awaited<T>> {
    if (typeof fn !== 'function') throw new InvalidOptionsError('evaluate(fn)', fn, 'must be a function');
    const source = fn.toString();
    // Only a function's source travels: a bound or built-in one has none, a class is not called.
    if (/\{\s*\[native code\]\s*\}$/.test(source) || /^class\b/.test(source)) {
      throw new InvalidOptionsError(
        'evaluate(fn)',
        fn,
        source.startsWith('class')
          ? 'is a class; evaluate() calls a function with (ctx, arg)'
          : 'is a bound or built-in function, which has no source to send',
        'Pass an arrow function or a function expression: peer.evaluate((ctx, arg) => …, arg).',
      );
    }
    const channel = this.#live('evaluate()');
    const site = new Error();
    try {
      const what = () =>
        `evaluate(${preview(source)}${arg === undefined ? '' : `, ${preview(describeValue(arg))}`})`;
      return (await channel.request('evaluate', [source, arg], what)) as Awaited<T>;
    } catch (error) {
      throw withCallSite(unsendable(error, 'evaluate(fn, arg)', arg, 'the peer'), site);
    }
  }

  /** Calls a handler the peer registered with `ctx.cluster.handle(method, fn)`. */
  async call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const what = () =>
      `call(${preview([JSON.stringify(method), ...args.map(describeValue)].join(', '), 100)})`;
    // Checked here, as a node's call() checks it: sent as is, it would come back as "No handler".
    if (typeof method !== 'string' || method.length === 0)
      throw new InvalidOptionsError(
        'call(method, ...args)',
        method,
        'must be the name of a handler, a non-empty string',
        'Call it as peer.call("name", ...args), with the name an app gave ctx.cluster.handle("name", fn).',
      );
    const channel = this.#live(what);
    const site = new Error();
    try {
      return (await channel.request('call', [method, args], what)) as T;
    } catch (error) {
      throw withCallSite(
        unsendable(error, `call(${JSON.stringify(method)}, ...args)`, args, 'the peer'),
        site,
      );
    }
  }

  /** The node ids this peer is linked to, itself excluded (asked from the peer). */
  async nodes(): Promise<NodeId[]> {
    return (await this.#live('nodes()').request('nodes', [], 'nodes()')) as NodeId[];
  }

  /** The ids this peer is linked to, as it last reported them. */
  linked(): NodeId[] {
    return realmArray([...this.#linked]);
  }

  /** @internal Whether this peer last reported a link to `node` (no copy, unlike linked()). */
  isLinkedTo(node: NodeId): boolean {
    return this.#linked.has(node);
  }

  /** Resolves when exactly `n` nodes (or the predicate) hold for this peer's links. */
  waitForNodes(
    n: number | ((nodes: NodeId[]) => boolean),
    options?: { timeout?: number | undefined },
  ): Promise<NodeId[]> {
    if (typeof n === 'number' ? !(Number.isInteger(n) && n >= 0) : typeof n !== 'function') {
      return Promise.reject(
        new InvalidOptionsError('waitForNodes(n)', n, 'must be a whole number of nodes, or a predicate'),
      );
    }
    let timeout: number;
    try {
      timeout = timeoutOption('waitForNodes()', options, WAIT_TIMEOUT);
    } catch (error) {
      return Promise.reject(error);
    }
    const test = typeof n === 'number' ? (nodes: NodeId[]) => nodes.length === n : n;
    const call = `waitForNodes(${typeof n === 'number' ? n : 'predicate'})`;
    const what = `${this.name}.${call}`;
    // waitForNodes(3) in a cluster of 3: the peer itself is not one of its links.
    const beyond = () => {
      const size = this.#config.clusterSize?.();
      return typeof n === 'number' && size !== undefined && n >= size
        ? `${this.name} can link to at most ${size - 1} ${size - 1 === 1 ? 'node' : 'nodes'}: its cluster has ${size} ${size === 1 ? 'peer' : 'peers'}, and waitForNodes(n) counts the nodes other than the peer itself`
        : undefined;
    };
    const linked = () => `it is linked to [${this.linked().join(', ')}]`;
    const pending = () => (beyond() ? `${linked()} (${beyond()})` : linked());
    return this.#waits.track(call, pending, () =>
      this.#waitFor(
        () => {
          const nodes = this.linked();
          return test(nodes) ? nodes : undefined;
        },
        timeout,
        () => new WaitTimeoutError(what, timeout, ''),
      ).catch(async (error: unknown) => {
        if (!(error instanceof WaitTimeoutError) || !this.#alive()) throw error;
        // Its healer says what it found: the error explains itself.
        throw new WaitTimeoutError(what, timeout, linked(), [
          await explainPeer(this),
          ...(this.#config.context?.() ?? []),
          ...(beyond() ? [beyond()!] : []),
        ]);
      }),
    );
  }

  /**
   * Resolves with the first line of the peer's current process that matches `pattern`: a string
   * found in the line, or a RegExp (its `g` or `y` flag's lastIndex does not matter), on stdout or
   * stderr (`stream` for one). By default the lines it printed before the call count too (`since:
   * 'start'`), so a line printed while the test awaited something else is not missed; lines of the
   * process before a restart() do not. `since: 'now'` counts only the lines read after the call.
   * Rejects with a LogTimeoutError after `timeout` ms (5000), and with a PeerExitedError as soon
   * as the process exits without such a line (once its last output is read).
   */
  waitForLog(pattern: string | RegExp, options?: WaitForLogOptions): Promise<LogLine> {
    let matches: (line: string) => boolean;
    let o: ReturnType<typeof resolveWaitForLogOptions>;
    try {
      matches = linePattern(pattern);
      o = resolveWaitForLogOptions(options, DEFAULT_CALL_TIMEOUT);
    } catch (error) {
      return Promise.reject(error);
    }
    const call = `waitForLog(${describePattern(pattern)}${o.stream ? `, { stream: '${o.stream}' }` : ''})`;
    const child = this.#child;
    if (!this.#alive() || !child) return Promise.reject(this.#exitedError(call));
    const site = new Error();
    const streams = o.stream ?? 'stdout and stderr';
    let seen = 0;
    let other = 0;
    const last: LogLine[] = [];
    const test = (entry: LogLine): boolean => {
      if (o.stream !== undefined && entry.stream !== o.stream) {
        other++;
        return false;
      }
      seen++;
      last.push(entry);
      if (last.length > 3) last.shift();
      return matches(entry.line);
    };
    const detail = () =>
      `${seen} ${seen === 1 ? 'line' : 'lines'} on ${streams}${o.since === 'now' ? ' since it began' : ''}, none matched`;
    return this.#waits.track(
      call,
      detail,
      () =>
        new Promise<LogLine>((resolve, reject) => {
          if (o.since === 'start') {
            const found = this.#logs.current().find(test);
            if (found) return resolve(found);
          }
          const wait: LogWait = {
            child,
            what: call,
            line: (entry) => {
              if (!test(entry)) return;
              finish();
              resolve(entry);
            },
            end: (error) => {
              finish();
              reject(withCallSite(error, site));
            },
          };
          const timer = setTimeout(() => {
            finish();
            reject(
              withCallSite(
                new LogTimeoutError({
                  peer: this.name,
                  what: call,
                  timeout: o.timeout,
                  streams,
                  sinceCall: o.since === 'now',
                  seen,
                  last: last.map((entry) => ({ stream: entry.stream, line: shortLine(entry.line) })),
                  ...(o.stream && {
                    other: { stream: o.stream === 'stdout' ? 'stderr' : 'stdout', count: other },
                  }),
                }),
                site,
              ),
            );
          }, o.timeout);
          const finish = () => {
            clearTimeout(timer);
            this.#logWaits.delete(wait);
          };
          this.#logWaits.add(wait);
        }),
    );
  }

  /** Gracefully stops the peer (apps in reverse order, then its node); SIGKILL after `stopTimeout`. */
  async stop(): Promise<void> {
    await this.shutdown(true);
  }

  /**
   * @internal stop(), where `leave: false` skips the node's polite leave: when the whole cluster
   * stops, nobody is left to redial anyone, and process exit closes the links anyway.
   */
  async shutdown(leave: boolean): Promise<void> {
    // A boot (or restart) that has not spawned its process yet gives up (see boot).
    this.#epoch++;
    if (this.#alive() && this.#child) {
      this.#stopping = true;
      this.#record('stop');
      await this.#terminate(leave);
    } else if (this.#state === 'booting') {
      // Its first boot has not spawned anything yet.
      this.#record('stop');
      this.#setState('stopped');
    }
    if (this.#config.releaseOnStop) await this.releasePorts();
  }

  /** Sends `signal` to the peer's process group; for SIGKILL, resolves once the process is reaped. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (typeof signal !== 'string' || !(signal in constants.signals))
      throw new InvalidOptionsError(
        'kill(signal)',
        signal,
        'must be a signal name such as SIGKILL or SIGTERM',
      );
    if (JOB_CONTROL.has(signal))
      throw new InvalidOptionsError(
        'kill(signal)',
        signal,
        'stops or continues the peer instead of ending it',
        'Use peer.pause() and peer.resume(): they keep its state and the timeline right.',
      );
    const child = this.#child;
    if (!child || !this.#alive()) throw this.#exitedError(`kill(${signal})`);
    const sent = this.#signalled.get(child) ?? new Set();
    // Already SIGKILLed, not yet reaped: nothing more can happen to it.
    if (sent.has('SIGKILL')) return signal === 'SIGKILL' ? this.#exited : undefined;
    this.#record('kill', signal);
    this.#signalled.set(child, sent.add(signal));
    const escaped = this.#escaped(child.pid!);
    signalGroup(child.pid!, signal);
    signalEscaped(escaped, signal);
    if (this.#state === 'paused' && signal !== 'SIGKILL') {
      // A stopped process only acts on its signals once continued: as a shell's `kill` does.
      signalGroup(child.pid!, 'SIGCONT');
      this.#continued();
    }
    if (signal === 'SIGKILL') await this.#exited;
  }

  /**
   * Stops the peer and boots it again with the same name, ports and env (and, if free, the same
   * node id). A restart() while one is under way joins it: two would boot two processes for one peer.
   */
  restart(): Promise<void> {
    this.#restarting ??= this.#restart().finally(() => {
      this.#restarting = undefined;
    });
    return this.#restarting;
  }

  async #restart(): Promise<void> {
    if (this.#detached !== undefined) throw this.#detachedError('restart()');
    const epoch = this.#epoch;
    // A boot under way (its first, in startCluster or add()) ends first: one process per peer.
    await this.#inBoot?.catch(() => {});
    this.#record('restart');
    if (this.#alive() && this.#child) {
      this.#stopping = true;
      await this.#terminate();
    }
    await this.boot(undefined, epoch);
  }

  /**
   * @internal Its cluster let go of it (`remove()`, the cluster's `stop()`): it is stopped, or
   * about to be, and never boots again, so that no process of it outlives its cluster.
   */
  detach(reason: string, hint: string): void {
    this.#detached ??= { reason, hint };
  }

  #detachedError(what: string): InvalidOptionsError {
    const { reason, hint } = this.#detached!;
    return new InvalidOptionsError(what, this.name, reason, hint);
  }

  /** SIGSTOP to the peer's process group: it stays linked until heartbeats declare it down. */
  pause(): Promise<void> {
    this.#pausing ??= this.#pause().finally(() => {
      this.#pausing = undefined;
    });
    return this.#pausing;
  }

  async #pause(): Promise<void> {
    this.#live('pause()');
    const child = this.#child!;
    if (this.#state === 'paused') return;
    signalGroup(child.pid!, 'SIGSTOP');
    // The group watchdog must stay awake: should this process die while paused (its parent dying,
    // say), the watchdog is what kills the apps' children, stopped as they are.
    if (this.#watchdog !== undefined) {
      try {
        process.kill(this.#watchdog, 'SIGCONT');
      } catch {}
    }
    await stoppedBySignal(child.pid!);
    // It may have died meanwhile (a crash, a kill): a dead process is not paused.
    if (this.#child !== child || !this.#alive()) throw this.#exitedError('pause()');
    this.#pausedFrom = this.#state === 'booting' ? 'booting' : 'running';
    this.#pausedAt = clockNow();
    this.#setState('paused');
    this.#record('pause');
  }

  /** SIGCONT to the peer's process group. */
  async resume(): Promise<void> {
    this.#live('resume()');
    const child = this.#child!;
    if (this.#state !== 'paused') return;
    signalGroup(child.pid!, 'SIGCONT');
    this.#continued();
    this.#record('resume');
    // A partition or heal while it was stopped did not reach it: bring its blocks up to date.
    if (!this.#config.blocked) return;
    try {
      await this.control('set-blocked', [this.#config.blocked()]);
    } catch (error) {
      // A signal it got while stopped (kill('SIGTERM')) ends it now that it runs: not resume's failure.
      if (this.#alive()) throw error;
    }
  }

  /** Leaves 'paused' for the state it paused in; a boot's time paused is not counted. */
  #continued(): void {
    if (this.#pausedFrom === 'booting') this.#bootPaused += clockNow() - this.#pausedAt;
    this.#setState(this.#pausedFrom);
    const onResume = this.#onResume;
    this.#onResume = undefined;
    onResume?.();
  }

  /**
   * @internal A control request to the runtime (block, unblock, refresh, connect…); `unlisted`:
   * one the harness sends on its own, left out of failure reports' "waiting for".
   */
  control(op: string, args: unknown[] = [], unlisted = false): Promise<unknown> {
    return this.#live(op).request(op, args, unlisted ? null : `${op}()`);
  }

  /** @internal Gives the app ports back (the cluster does it on remove and stop). */
  async releasePorts(): Promise<void> {
    // A lease still on its way is given back when it arrives (see #useLease).
    this.#leasing = undefined;
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.release();
  }

  /**
   * @internal Starts the process and resolves when it is ready; rejects with PeerBootError.
   * `lease`: this peer's app ports, leased by the cluster together with its other new peers';
   * `located`: its apps' files, located by the cluster once for all of them.
   */
  boot(lease?: Promise<PortLease>, epoch = this.#epoch, located?: LocatedApp[]): Promise<void> {
    if (this.#detached !== undefined) return Promise.reject(this.#detachedError('boot()'));
    const booting = this.#boot(lease, epoch, located);
    this.#inBoot = booting;
    const settled = () => {
      if (this.#inBoot === booting) this.#inBoot = undefined;
    };
    booting.then(settled, settled);
    return booting;
  }

  async #boot(
    lease: Promise<PortLease> | undefined,
    epoch: number,
    given: LocatedApp[] | undefined,
  ): Promise<void> {
    const setup = this.#config.setup;
    // Taken first, so that any failure below gives it back.
    let pending = lease && !this.#lease ? this.#useLease(lease) : undefined;
    let exclude: number[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        // A missing app fails before anything is spawned. A cluster locates its apps once for
        // all the peers it adds (`given`), not once per peer.
        const located = given ?? locateApps(setup.apps, setup.root, this.name);
        this.#appFiles = new Map(located.map((app) => [app.name, app.file]));
        // The apps may follow the boot config: the peer starts its node while TypeScript compiles
        // (which starts first: esbuild's first build costs about what a Node start does).
        const apps = settling(resolveApps(located, this.name));
        const entry = await runtimeEntry();
        // The process starts at once; what its boot config needs is prepared while it does: the
        // port lease (a registry round trip) and the strategy's module.
        const ports = this.#lease
          ? Promise.resolve(this.#lease)
          : (pending ?? this.#useLease(this.#requestLease(exclude)));
        pending = undefined;
        const prepared = Promise.all([ports, bootStrategy(setup.strategy, this.name)]).then(
          ([, strategy]) => ({ apps, strategy }),
        );
        prepared.catch(() => {});
        // Stopped meanwhile (a stop() while the runtime was being found, or between a restart's
        // stop and its boot): no process is spawned for it.
        if (this.#epoch !== epoch)
          throw new PeerBootError({
            peer: this.name,
            phase: 'spawn',
            reason: 'it was stopped while booting',
          });
        const closed = spawningClosed();
        if (closed !== undefined)
          throw new PeerBootError({
            peer: this.name,
            phase: 'spawn',
            reason: `no peer is started any more: ${closed}`,
          });
        await this.#start(prepared, entry);
        return;
      } catch (error) {
        const e = error as PeerBootError & { remoteCode?: string; remotePort?: number };
        // A port that is not one of the lease's (an app's fixed `listen(3000)`) is not freed by new ports.
        const leased = Object.values(this.#ports);
        const fixed = e.remotePort !== undefined && !leased.includes(e.remotePort);
        if (
          !(e instanceof PeerBootError) ||
          e.remoteCode !== 'EADDRINUSE' ||
          fixed ||
          attempt >= PORT_RETRIES
        ) {
          // A peer that never ran is dropped by its owner; one that did keeps its ports for a restart.
          if (this.#config.releaseOnStop || !this.#everReady) await this.releasePorts();
          throw error;
        }
        // Someone outside the registry took an app port between the lease and the listen.
        exclude = [...exclude, ...Object.values(this.#ports), ...(e.remotePort ? [e.remotePort] : [])];
        this.#logs.add('stderr', `peer-cluster: ${this.name} hit EADDRINUSE, retrying with new ports`);
        await this.releasePorts();
      }
    }
  }

  #requestLease(exclude: number[]): Promise<PortLease> {
    return leasePorts(1 + this.#config.setup.ports.length, { exclude });
  }

  /** Resolves once the lease arrived and is this peer's (its ports set); one that arrives after the boot it was for is given back. */
  #useLease(pending: Promise<PortLease>): Promise<PortLease> {
    const leasing: Promise<PortLease> = pending.then((lease) => {
      if (this.#leasing !== leasing) {
        void lease.release().catch(() => {});
        return lease;
      }
      this.#leasing = undefined;
      this.#lease = lease;
      const names = ['default', ...this.#config.setup.ports];
      this.#ports = Object.fromEntries(names.map((name, i) => [name, lease.ports[i]!]));
      return lease;
    });
    leasing.catch(() => {});
    this.#leasing = leasing;
    return leasing;
  }

  #start(
    prepared: Promise<{ apps: Settling<BootApp[]>; strategy: BootStrategy }>,
    entry: string,
  ): Promise<void> {
    const { setup, cluster, cookie } = this.#config;
    // The app ports are not leased yet: they travel in the boot config, and the runtime sets
    // PORT and PORT_<NAME> before it imports anything of the user's.
    const env = peerEnv({
      name: this.name,
      index: this.index,
      cluster,
      ports: {},
      declared: this.#env,
      inheritEnv: setup.inheritEnv,
    });
    for (const name of ['default', ...setup.ports]) delete env[portVariable(name)];
    this.#stopping = false;
    this.#linked.clear();
    this.#phase = 'spawn';
    this.#app = undefined;
    this.#watchdog = undefined;
    this.#setState('booting');
    let child: ChildProcess;
    try {
      child = spawnRuntime({ entry, env, nodeArgs: setup.nodeArgs, cwd: setup.root });
    } catch (error) {
      // No process, so no exit to wait for: failed here, as a spawn failure that Node reports later is.
      const reason = (error as Error).message;
      this.#child = undefined;
      this.#record('boot-failed', reason);
      this.#setState('crashed');
      throw new PeerBootError({ peer: this.name, phase: 'spawn', reason, cause: error });
    }
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // Closed stdio, after exit: the last lines of stderr are in.
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    this.#logs.attach(child.stdout!, 'stdout');
    this.#logs.attach(child.stderr!, 'stderr');
    // Our end of stdin stays open for the peer's life: its EOF tells the peer that we died.
    child.stdin!.on('error', () => {});
    const strategy = setup.strategy;
    const host = strategy && !strategy.spec ? new StrategyHost(strategy, this.#strategyPeer()) : undefined;
    this.#strategyHost = host;
    const channel = new Channel(
      (message) => {
        child.send(message);
      },
      (op, args) => {
        if (op === 'strategy' && host) return host.serve(args);
        throw new Error(`unknown request ${op} from the peer`);
      },
      (wire) => this.#remoteError(wire),
      { settle: (mark) => this.#logs.settle(mark) },
    );
    this.#channel = channel;
    child.on('error', (error) => {
      // Spawn failures (no such executable) and IPC writes after the peer died land here.
      if (this.#booting && !this.#child?.pid) this.#failBoot('spawn', error.message, { cause: error });
    });
    // Only the current process speaks for the peer (a message of one that was replaced is stale).
    child.on('message', (message: FromPeer) => {
      if (child === this.#child) this.#onMessage(message);
    });
    child.once('exit', (code, signal) => this.#onExit(child, code, signal, closed));
    this.#stopTrouble = [];
    this.#stoppingWhat = undefined;
    this.#stopKill = undefined;
    this.#record('spawn', `pid ${child.pid}`);

    return new Promise<void>((resolve, reject) => {
      this.#booting = { resolve, reject };
      // bootTimeout counts the time the peer could run: not the time it spent paused.
      const started = clockNow();
      this.#bootPaused = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expire = () => {
        timer = undefined;
        if (this.#booting !== booting) return;
        if (this.#state === 'paused') {
          this.#onResume = () => expire();
          return;
        }
        const left = setup.bootTimeout - (clockNow() - started - this.#bootPaused);
        if (left > 0) {
          timer = setTimeout(expire, left);
          return;
        }
        const paused = this.#bootPaused > 0 ? `, not counting ${this.#bootPaused} ms paused` : '';
        this.#failBoot(
          this.#phase,
          `it did not become ready within bootTimeout (${setup.bootTimeout} ms${paused})${
            this.#app
              ? `: app ${this.#app} is still starting`
              : ` (still in phase "${this.#phase}"${this.#phaseDetail()})`
          }${busyMachine(this.#child?.pid, setup.bootTimeout)}`,
          { timeout: setup.bootTimeout },
        );
      };
      timer = setTimeout(expire, setup.bootTimeout);
      const done = () => {
        clearTimeout(timer);
        this.#onResume = undefined;
      };
      this.#booting.resolve = () => {
        done();
        resolve();
      };
      this.#booting.reject = (error) => {
        done();
        reject(error);
      };
      const booting = this.#booting;
      const ended = () => this.#booting !== booting || this.#child !== child;
      const send = (message: ToPeer, what: string) => {
        try {
          child.send(message);
        } catch (error) {
          this.#failBoot('config', `the ${what} could not be sent (${(error as Error).message})`, {
            cause: error,
          });
        }
      };
      prepared
        .then(({ apps, strategy }) => {
          if (ended()) return; // the boot ended meanwhile
          const detachedList = child.stdio[WATCHDOG_FD] ? detachedListFile(child.pid!) : undefined;
          const config: BootConfig = {
            name: this.name,
            index: this.index,
            cluster,
            cookie,
            host: this.host,
            linkPort: this.#linkPort,
            ...(apps.value ? { apps: apps.value } : {}),
            ports: this.#ports,
            heartbeat: setup.heartbeat,
            healer: setup.healer,
            strategy,
            coreUrl: CORE_URL,
            blocked: this.#config.blocked?.() ?? [],
            ...(this.#config.scope && { scope: this.#config.scope }),
            ...(child.stdio[WATCHDOG_FD] && { watchdogFd: WATCHDOG_FD }),
            ...(detachedList !== undefined && { detachedList }),
          };
          send({ t: 'boot', config }, 'boot config');
          if (apps.value) return;
          return apps.promise.then((resolved) => {
            if (!ended()) send({ t: 'apps', apps: resolved }, 'apps');
          });
        })
        .catch((error) => {
          // No ports could be leased, an app or the strategy's module could not be compiled:
          // that error (for an app: its phase, app and reason) is the boot's, once the process is gone.
          if (this.#booting !== booting) return;
          this.#booting = undefined;
          if (!child.pid) return booting.reject(error as Error);
          signalGroup(child.pid, 'SIGKILL');
          void this.#exited.then(() => booting.reject(error as Error));
        });
    });
  }

  #onMessage(message: FromPeer): void {
    if (this.#channel?.receive(message)) return;
    switch (message.t) {
      case 'watchdog':
        this.#watchdog = message.pid;
        break;
      case 'node':
        this.#nodeId = message.id;
        this.#linkPort = message.port;
        this.#phase = 'node';
        break;
      case 'phase':
        this.#phase = message.phase;
        this.#app = message.app;
        break;
      case 'ready': {
        this.timings = adopt(message.timings) as BootTimings;
        this.#appStops = message.appStops;
        this.#phase = 'ready';
        this.#app = undefined;
        const booting = this.#booting;
        this.#booting = undefined;
        this.#everReady = true;
        // Read after a pause() that raced it: it resumes as running.
        if (this.#state === 'paused') this.#pausedFrom = 'running';
        else this.#setState('running');
        this.#record('ready', `${Math.round(message.timings.total)} ms`);
        // The lines the apps logged while booting are in logs() (and seen by waitForLog) once the
        // boot resolves, as an answer's are: read from the pipes before, or given up on (1 s).
        const behind = message.out && this.#logs.settle(message.out);
        if (behind) void behind.then(() => booting?.resolve());
        else booting?.resolve();
        break;
      }
      case 'boot-failed':
        this.#phase = message.phase;
        this.#app = message.app;
        this.#failBoot(message.phase, `${message.error.name}: ${message.error.message}`, {
          error: message.error,
        });
        break;
      case 'nodeup':
        if (this.#linked.has(message.node)) break;
        this.#linked.add(message.node);
        this.#record('nodeup', undefined, message.node);
        this.#changes.emit('change');
        notify(this, 'nodeup', message.node);
        break;
      case 'stop-failed':
        this.#stopTrouble.push(`app ${message.app} failed to stop (${message.error})`);
        break;
      case 'stopping':
        this.#stoppingWhat = message.app === undefined ? 'its node' : `app ${message.app}`;
        break;
      case 'nodedown':
        if (!this.#linked.delete(message.node)) break;
        this.#linkDown(message.node, { reason: message.reason, detail: message.detail });
        break;
    }
  }

  /**
   * Fails the boot in progress: kills the process, then (once it is reaped and its stderr read)
   * rejects the boot with a PeerBootError carrying the phase, the app and the stderr tail.
   */
  /** What a boot still in its phase waits for, where that is not plain (a bootTimeout's message). */
  #phaseDetail(): string {
    if (this.#phase !== 'node') return '';
    const strategy = this.#config.setup.strategy;
    return strategy
      ? `: its node starts once its strategy "${strategy.name}" has settled its register() and watch()`
      : '';
  }

  #failBoot(
    phase: BootPhase,
    reason: string,
    extra: {
      error?: WireError;
      timeout?: number;
      cause?: unknown;
      exitCode?: number | null;
      signal?: NodeJS.Signals | null;
    } = {},
  ): void {
    const booting = this.#booting;
    if (!booting || booting.failure) return;
    const app = phase === 'app' ? this.#app : undefined;
    const port = extra.error?.code === 'EADDRINUSE' ? extra.error.port : undefined;
    if (app && port !== undefined && !Object.values(this.#ports).includes(port)) {
      const env = Object.entries(this.#ports).map(([n, p]) => `${portVariable(n)}=${p}`);
      reason += ` (port ${port} is not one leased to ${this.name}, whose are ${env.join(', ')}: an app that listens on a fixed port cannot run in two peers; listen on process.env.PORT, or on a PORT_<NAME> of the \`ports\` option)`;
    }
    const failure = new PeerBootError({
      peer: this.name,
      phase,
      ...(app ? { app } : {}),
      reason,
      ...(extra.timeout ? { timeout: extra.timeout } : {}),
      ...(extra.exitCode !== undefined ? { exitCode: extra.exitCode } : {}),
      ...(extra.signal !== undefined ? { signal: extra.signal } : {}),
      cause: extra.cause ?? (extra.error ? this.#remoteError(extra.error) : undefined),
    });
    Object.assign(failure, { remoteCode: extra.error?.code, remotePort: extra.error?.port });
    booting.failure = failure;
    this.#record('boot-failed', reason);
    if (this.#child?.pid && this.#child.exitCode === null && this.#child.signalCode === null) {
      // The rejection waits for the exit, and for the stderr the runtime wrote before reporting.
      signalGroup(this.#child.pid, 'SIGKILL');
    } else if (!this.#child?.pid) {
      this.#booting = undefined;
      this.#setState('crashed');
      booting.reject(failure);
    }
  }

  #onExit(
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
    closed: Promise<void>,
  ): void {
    if (child !== this.#child) return;
    const pid = child.pid!;
    // Whatever the apps spawned goes with the peer.
    signalGroup(pid, 'SIGKILL');
    const exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    // By a signal the test sent it (peer.kill()): there is no other why to look for.
    const killed = signal !== null && this.#signalled.get(child)?.has(signal) === true;
    // The channel's requests still waiting were sent before it died; later ones find it gone.
    let answering = true;
    let fatal: string | undefined;
    const reason = (_op: string, what: string) =>
      new PeerExitedError(
        this.name,
        what,
        this.#state,
        answering ? { exit, fatal, stopped: wasStopping, killed } : undefined,
      );
    const wasStopping = this.#stopping;
    this.#state = wasStopping ? 'stopped' : 'crashed';
    // A wait for a line ends once the process's last output is read (≤ 200 ms): a line it printed
    // just before it exited still counts.
    if ([...this.#logWaits].some((wait) => wait.child === child))
      void settledWithin(closed, 200).then(() => this.#endLogWaits(child, exit, wasStopping, killed));
    const channel = this.#channel;
    const cut = () => {
      channel?.close(reason);
      answering = false;
    };
    // A process that died of its own accord (SIGABRT after running out of memory) may have said
    // why on stderr: the requests it was answering wait for its pipes to close (≤ 200 ms) to say
    // so too. New requests are refused at once meanwhile (#live).
    if (signal === 'SIGKILL' || wasStopping) cut();
    else
      void settledWithin(closed, 200).then(() => {
        const died = this.#logs.fatalError();
        if (died) fatal = describeFatal(died);
        cut();
      });
    void this.#strategyHost?.close();
    // Its links went with it. Those it had not reported down (all of them when it was killed) go
    // down here, so that its nodeup and nodedown events, and the timeline, alternate across a
    // restart: never a second nodeup for a link that never went down.
    const lost = [...this.#linked];
    this.#linked.clear();
    this.#changes.emit('change');
    // A stop that went wrong says how on its exit (the slow stop's kill has an event of its own).
    // A graceful stop that ends with a SIGKILL of its own (a cluster's) says so: not a crash.
    const ended =
      signal === 'SIGKILL' && wasStopping && this.#stopKill
        ? ` (${this.#stopKill})`
        : killed
          ? ' (sent by peer.kill())'
          : '';
    const how = [
      signal ? `signal ${signal}${ended}` : `code ${code}`,
      ...(wasStopping ? this.#stopTrouble : []),
    ];
    this.#record(wasStopping ? 'exit' : 'crash', how.join('; '));
    const down: NodeDownInfo = {
      reason: 'exited',
      detail: `went down with this peer's process, which ${wasStopping ? 'was stopped' : exit}`,
    };
    for (const node of lost) this.#linkDown(node, down, false);
    notify(this, 'exit', code, signal);

    const booting = this.#booting;
    if (!booting) return;
    this.#booting = undefined;
    if (!booting.failure) {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      booting.failure = new PeerBootError({
        peer: this.name,
        phase: this.#phase,
        ...(this.#phase === 'app' && this.#app ? { app: this.#app } : {}),
        reason: wasStopping ? `it was stopped while booting` : `the process ${how} while booting`,
        exitCode: code,
        signal,
      });
    }
    const failure = booting.failure;
    // Wait (briefly: a grandchild may hold the pipes) for the last stderr lines.
    const located = this.#syntaxErrorLocation(failure);
    void Promise.all([settledWithin(closed, 200), located]).then(([, where]) => {
      if (where) failure.message = failure.message.replace(/\n|$/, (end) => `\n${where}${end}`);
      const died = this.#logs.fatalError();
      if (died)
        failure.message = failure.message.replace(/\n|$/, (end) => `\nIt died ${describeFatal(died)}.${end}`);
      const tail = this.#logs.stderrTail();
      Object.defineProperty(failure, 'stderr', { value: tail });
      // The error the runtime reported is in the message (its cause) already: what it also wrote
      // to stderr is left out of the message's tail, which then shows what else there was.
      const reported = failure.cause instanceof RemoteError ? failure.cause.remoteStack : undefined;
      const news = reported ? withoutLines(tail, reported) : tail;
      if (news.trim()) failure.message += `\n--- stderr of ${this.name} (last lines) ---\n${news.trimEnd()}`;
      else if (!tail.trim()) {
        // Nothing on stderr (an app that says on stdout what it waits for, then times out):
        // its last stdout lines are the next best clue.
        const out = this.#logs.stdoutTail();
        if (out.trim()) failure.message += `\n--- stdout of ${this.name} (last lines) ---\n${out.trimEnd()}`;
      }
      if (failure.exitCode === undefined) Object.defineProperty(failure, 'exitCode', { value: code });
      if (failure.signal === undefined) Object.defineProperty(failure, 'signal', { value: signal });
      booting.reject(failure);
    });
  }

  /** Rejects the waitForLog() calls on `child`, which exited without printing their line. */
  #endLogWaits(child: ChildProcess, exit: string, stopped: boolean, killed: boolean): void {
    const died = stopped || killed ? undefined : this.#logs.fatalError();
    for (const wait of [...this.#logWaits]) {
      if (wait.child !== child) continue;
      wait.end(
        new PeerExitedError(this.name, wait.what, stopped ? 'stopped' : 'crashed', {
          exit,
          fatal: died === undefined ? undefined : describeFatal(died),
          stopped,
          killed,
          missed: 'saw no matching line',
        }),
      );
    }
  }

  /** Where the JS app whose module did not parse has its syntax error (TypeScript apps' say it already). */
  async #syntaxErrorLocation(failure: PeerBootError): Promise<string | undefined> {
    const file = failure.app === undefined ? undefined : this.#appFiles.get(failure.app);
    const cause = failure.cause;
    if (
      !file ||
      TYPESCRIPT.test(file) ||
      !(cause instanceof RemoteError) ||
      cause.remoteName !== 'SyntaxError'
    )
      return undefined;
    return locateSyntaxError(file, this.#config.setup.root).catch(() => undefined);
  }

  /** Graceful stop of the process in place: ask the runtime, SIGKILL the group after stopTimeout. */
  async #terminate(leave = true): Promise<void> {
    const child = this.#child!;
    // Taken while the peer lives: once it has exited, nothing links them to it.
    const escaped = this.#escaped(child.pid!);
    if (this.#state === 'paused') signalGroup(child.pid!, 'SIGCONT');
    if (this.#state === 'booting') {
      // A boot in progress cannot stop gracefully (its apps are not all there).
      this.#stopKill = 'stopped while booting, which cannot stop gracefully';
      signalGroup(child.pid!, 'SIGKILL');
    } else if (!leave && !this.#writesAtExit() && !this.#appStops) {
      // The whole cluster stops and no app has a stop to run: nothing the process would do on
      // its way out (closing links the others then react to, tearing down its heap) is worth it.
      this.#stopKill = "its cluster's stop: no app had a stop to run";
      signalGroup(child.pid!, 'SIGKILL');
    } else if (!leave && !this.#writesAtExit()) {
      // The same once the apps have stopped.
      const pid = child.pid!;
      this.#channel?.request('stop', [false, false]).then(
        () => {
          if (this.#child !== child) return;
          this.#stopKill = "its cluster's stop, once its apps had stopped";
          signalGroup(pid, 'SIGKILL');
        },
        () => {},
      );
    } else {
      this.#channel?.request('stop', [leave]).catch(() => {});
    }
    const ms = this.#config.setup.stopTimeout;
    const started = clockNow();
    // A test or hook of the runner's that would time out before stopTimeout (a cluster the test
    // stops itself, in a hook with a shorter timeout): the peer is killed while there is time left
    // to say so, rather than failing that test or hook with the runner's own timeout, the stop
    // still under way into the next test.
    const deadline = runnerDeadline();
    const left = deadline ? deadline.at - started - killRoom(deadline.timeout) : ms;
    const bound: RunnerDeadline | undefined = left < ms ? deadline : undefined;
    // Where the runner tells only when it gives up on the test (Vitest), the stop ends then.
    const signal = runnerSignal();
    const exitedOrAfter = async (wait: number): Promise<'exited' | 'timeout' | 'aborted'> => {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      try {
        return await Promise.race([
          this.#exited.then(() => 'exited' as const),
          new Promise<'timeout'>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), Math.max(0, wait));
          }),
          new Promise<'aborted'>((resolve) => {
            if (!signal) return;
            onAbort = () => resolve('aborted');
            signal.addEventListener('abort', onAbort, { once: true });
          }),
        ]);
      } finally {
        clearTimeout(timer);
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      }
    };
    let ended = await exitedOrAfter(bound ? left : ms);
    // A stop its test or hook did not await (it has ended) has the whole of stopTimeout.
    const cut = bound?.running() ? bound : undefined;
    if (ended === 'timeout' && bound && !cut) ended = await exitedOrAfter(ms - (clockNow() - started));
    if (ended !== 'exited') {
      const took = Math.round(clockNow() - started);
      // What held the stop up, as the peer's runtime last said (nothing: it had not begun).
      const what = this.#stoppingWhat;
      // The runner gave up on the test that awaits the stop: `Test timed out in 5000ms.`
      const aborted = ended === 'aborted' && signal ? abortReason(signal) : undefined;
      const within = aborted
        ? `the ${took} ms of its stopTimeout (${ms} ms) before the runner gave up on its test (${aborted})`
        : cut
          ? `the ${took} ms the ${cut.what}'s timeout (${cut.timeout} ms) left it of its stopTimeout (${ms} ms)`
          : `stopTimeout (${ms} ms)`;
      this.#logs.add(
        'stderr',
        `peer-cluster: ${this.name} did not stop within ${within}${what ? ` (the stop of ${what} did not end)` : ''}, killing it`,
      );
      // Said where the test's output goes too: a passing run would otherwise only be slower, by
      // stopTimeout per peer and per stop, with nothing saying why.
      const held = what?.startsWith('app ')
        ? ` The stop of its ${what} had not ended: a stop that never settles (a server whose close() waits for open connections, say) holds up every stop of this peer.`
        : what
          ? ` Its apps had stopped; the stop of ${what} had not ended.`
          : " An app's stop that never settles (a server whose close() waits for open connections, say) holds up every stop of this peer.";
      process.stderr.write(
        `peer-cluster: ${this.name} did not stop within ${within}, so it was killed.${held}${aborted ? ' Give the test or hook that stops it a timeout longer than stopTimeout, or a shorter stopTimeout.' : cut ? ` Give the ${cut.what} a timeout longer than stopTimeout, or a shorter stopTimeout.` : ''}\n`,
      );
      // In the timeline too, when it happened: what a slow stop of the test's waited for.
      const after = aborted
        ? `after ${took} ms, when the runner gave up on its test (${aborted})`
        : cut
          ? `after ${took} ms, before the ${cut.what}'s timeout (${cut.timeout} ms)`
          : `after stopTimeout (${ms} ms)`;
      this.#record('kill', `SIGKILL ${after}: the ${what ? `stop of ${what}` : 'graceful stop'} did not end`);
      this.#stopTrouble.push(`killed ${after}`);
      signalGroup(child.pid!, 'SIGKILL');
      await this.#exited;
    }
    signalEscaped(escaped, 'SIGKILL');
  }

  /** The processes the peer's apps started that left its process group (escaped.ts). */
  #escaped(pid: number): number[] {
    // Apps that never started a child process have none: no scan of /proc for them.
    return this.#watchdog === undefined ? [] : escapedDescendants([pid]);
  }

  /** Whether the peer writes something when it exits (a CPU profile, V8 coverage), so must not be killed. */
  #writesAtExit(): boolean {
    return (
      this.#config.setup.nodeArgs.some((arg) => /^--(cpu-prof|heap-prof|prof$)/.test(arg)) ||
      'NODE_V8_COVERAGE' in this.#env ||
      (this.#config.setup.inheritEnv !== false && process.env.NODE_V8_COVERAGE !== undefined)
    );
  }

  /** A use of a peer whose process is gone; one that cannot be restarted says so, and what to do. */
  #exitedError(what: string): PeerExitedError {
    return new PeerExitedError(
      this.name,
      what,
      this.#state,
      undefined,
      this.#detached,
      this.#restarting !== undefined,
    );
  }

  #alive(): boolean {
    return this.#state === 'booting' || this.#state === 'running' || this.#state === 'paused';
  }

  #live(what: string | (() => string)): Channel {
    if (!this.#alive() || !this.#channel) throw this.#exitedError(typeof what === 'string' ? what : what());
    return this.#channel;
  }

  #remoteError(wire: WireError): Error {
    return new RemoteError(this.#nodeId || this.name, wire);
  }

  #setState(state: PeerState): void {
    this.#state = state;
    this.#changes.emit('change');
  }

  #record(type: ClusterEvent['type'], detail?: string, node?: string, reason?: NodeDownInfo['reason']): void {
    this.#config.record?.({
      type,
      peer: this.name,
      ...(node ? { node } : {}),
      ...(reason ? { reason } : {}),
      ...(detail ? { detail } : {}),
    });
  }

  /** A link of this peer went down: the timeline, waits and listeners hear it. */
  #linkDown(node: NodeId, { reason, detail }: NodeDownInfo, changed = true): void {
    this.#record('nodedown', detail, node, reason);
    if (changed) this.#changes.emit('change');
    notify(this, 'nodedown', node, realmObject({ reason, detail }));
  }

  #strategyPeer() {
    return {
      linked: () => this.linked(),
      request: (op: string, args: unknown[]) => this.#live(op).request(op, args),
      notify: (watch: number) => {
        if (this.#child?.connected) this.#child.send({ t: 'watch', watch } satisfies ToPeer);
      },
      log: (line: string) => this.#logs.add('stdout', line),
    };
  }

  /** @internal Resolves when `check` returns a value; re-checked on every link or state change. */
  waitFor<T>(check: () => T | undefined, timeout: number, onTimeout: () => Error): Promise<T> {
    return this.#waitFor(check, timeout, onTimeout);
  }

  /** @internal Subscribe to link and state changes; returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.#changes.on('change', fn);
    return () => this.#changes.off('change', fn);
  }

  #waitFor<T>(check: () => T | undefined, timeout: number, onTimeout: () => Error): Promise<T> {
    return waitUntil({
      check: () => {
        if (!this.#alive()) throw this.#exitedError('wait for nodes');
        return check();
      },
      subscribe: (test) => this.onChange(test),
      timeout,
      onTimeout,
    });
  }
}

/**
 * A signal is delivered asynchronously; on Linux, wait (briefly) until the kernel shows the
 * process stopped, so that pause() resolving means paused. No event exists for this.
 */
async function stoppedBySignal(pid: number): Promise<void> {
  if (process.platform !== 'linux') return;
  const deadline = clockNow() + 1000;
  while (clockNow() < deadline) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      // The state follows the command name, which is in parentheses and may contain spaces.
      if (/^[tT]/.test(stat.slice(stat.lastIndexOf(')') + 2))) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * @internal The share of bootTimeout a peer's boot must have spent waiting for a CPU for a boot
 * timeout to call this machine busy: `share`, which a test may set, else BUSY_SHARE.
 */
export const busyBoot: { share?: number } = {};

/** A boot that waited this share of its bootTimeout for a CPU was held up by the machine. */
const BUSY_SHARE = 0.1;

/**
 * For a boot timeout: whether the peer was kept from running, and by how much. On Linux, the time
 * its main thread spent runnable but waiting for a CPU (`/proc/<pid>/schedstat`), which says
 * whether the machine slowed this boot: a load average above the CPU count does not (an app that
 * hangs on a busy CI machine did not time out for lack of CPU). Elsewhere, the load average.
 */
function busyMachine(pid: number | undefined, bootTimeout: number): string {
  const [load = 0] = loadavg();
  const cpus = availableParallelism();
  const machine = `load average ${load.toFixed(1)} on ${cpus} CPU${cpus === 1 ? '' : 's'}`;
  const advice = 'raise bootTimeout, or run fewer test workers at once';
  const waited = pid === undefined ? undefined : cpuWait(pid);
  if (waited === undefined) {
    if (load < cpus) return '';
    return `. This machine is busy (${machine}): ${advice}`;
  }
  if (waited < (busyBoot.share ?? BUSY_SHARE) * bootTimeout) return '';
  return `. This machine is busy: the peer waited ${(waited / 1000).toFixed(1)} s of its boot for a CPU (${machine}): ${advice}`;
}

/** The ms a process's main thread spent waiting to run (Linux), or undefined. */
function cpuWait(pid: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // "<ns on a CPU> <ns waiting on a run queue> <timeslices>"
    const waiting = Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[1]);
    return Number.isFinite(waiting) ? waiting / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

const clusterCookies = new Map<string, string>();

/** One cookie per cluster name in this process, so lone peers of the same cluster can link. */
export function cookieFor(cluster: string): string {
  let cookie = clusterCookies.get(cluster);
  if (!cookie) {
    cookie = randomBytes(24).toString('base64url');
    clusterCookies.set(cluster, cookie);
  }
  return cookie;
}

export function uniqueClusterName(): string {
  return `pc-${randomBytes(5).toString('hex')}`;
}

/** Spawns one peer and resolves when it is running (its node started and every app started). */
export async function spawnPeer(options: PeerOptions = {}): Promise<Peer> {
  const o = resolvePeerOptions(options);
  const cluster = o.cluster ?? uniqueClusterName();
  const peer = new Peer({
    name: o.name ?? `peer-${o.index + 1}`,
    index: o.index,
    cluster,
    cookie: o.cookie ?? cookieFor(cluster),
    setup: { ...o, strategy: o.strategy ?? defaultStrategy() },
    releaseOnStop: true,
  });
  await peer.boot();
  return peer;
}

/** A waitForLog() in progress: the process it began on, and how it hears of lines and of that process's end. */
interface LogWait {
  child: ChildProcess;
  /** The wait as a failure report names it. */
  what: string;
  line(entry: LogLine): void;
  end(error: Error): void;
}

/** waitForLog's pattern as a test of a line: a string is found in it, a RegExp matches it. */
function linePattern(pattern: unknown): (line: string) => boolean {
  const usage = 'Call it as peer.waitForLog("ready") or peer.waitForLog(/listening on \\d+/).';
  if (typeof pattern === 'string') {
    if (pattern === '')
      throw new InvalidOptionsError(
        'waitForLog(pattern)',
        pattern,
        'must not be empty: every line holds the empty string',
        usage,
      );
    return (line) => line.includes(pattern);
  }
  // By tag, not instanceof: a RegExp of a Jest test is of its sandbox's realm.
  if (typeof pattern === 'object' && pattern !== null && tagOf(pattern) === 'RegExp') {
    // A copy, with its lastIndex at 0 for every line: a `g` or `y` flag's lastIndex, the test's
    // or one left by the previous line, would skip part of a line.
    const { source, flags } = pattern as RegExp;
    const regexp = new RegExp(source, flags);
    return (line) => {
      regexp.lastIndex = 0;
      return regexp.test(line);
    };
  }
  throw new InvalidOptionsError(
    'waitForLog(pattern)',
    pattern,
    'must be a string to find in a line, or a RegExp',
    usage,
  );
}

/** A pattern as a report names it: `/ready/`, `"ready"`. */
function describePattern(pattern: string | RegExp): string {
  return typeof pattern === 'string' ? describeValue(pattern) : preview(String(pattern), 80);
}

/** A log line as an error quotes it: on one line, cut at 200 characters. */
function shortLine(line: string): string {
  const shown = printable(line);
  return shown.length > 200 ? `${shown.slice(0, 199)}…` : shown;
}

/** Resolves once `promise` settles, or after `ms`, whichever comes first (the timer then cleared). */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

/** A function's source on one line, cut to a length a report line can carry. */
function preview(source: string, max = 60): string {
  const line = source.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A promise and, once it has resolved, its value (so a caller can tell whether it is there yet). */
interface Settling<T> {
  promise: Promise<T>;
  value?: T;
}

function settling<T>(promise: Promise<T>): Settling<T> {
  const s: Settling<T> = { promise };
  promise.then(
    (value) => {
      s.value = value;
    },
    () => {},
  );
  return s;
}

/** Calls a per-peer option function (`env`, `host`); what it throws is an InvalidOptionsError naming the option and the peer. */
function callOption<T>(
  option: string,
  fn: (peer: { index: number; name: string }) => T,
  peer: { index: number; name: string },
): T {
  try {
    return fn(peer);
  } catch (error) {
    throw new InvalidOptionsError(
      `${option}(${peer.name})`,
      fn,
      `threw ${error instanceof Error ? `${error.name}: ${error.message}` : describeValue(error)}`,
      'The error is the cause of this one.',
      { cause: error },
    );
  }
}

/**
 * Adds to a request's error where the test made the request: a rejection comes from a reply, whose
 * stack has none of the test's frames. `site` is an Error made when the request was made.
 */
function withCallSite(error: unknown, site: Error): unknown {
  if (!(error instanceof PeerClusterError) || !site.stack) return error;
  // Its first frame is the request method itself.
  const frames = site.stack.split('\n').slice(2);
  if (frames.length > 0)
    error.stack = `${error.stack ?? `${error.name}: ${error.message}`}\n--- called from ---\n${frames.join('\n')}`;
  return error;
}

/** `text` without the lines that are lines of `known` (compared trimmed). */
function withoutLines(text: string, known: string): string {
  const lines = new Set(known.split('\n').map((line) => line.trim()));
  return text
    .split('\n')
    .filter((line) => !lines.has(line.trim()))
    .join('\n');
}

/**
 * What util.inspect hands a custom inspection, as far as inspectAs uses it (declared here: older
 * @types/node do not export their InspectOptionsStylized).
 */
export interface InspectOptions {
  depth?: number | null;
  stylize(text: string, style: string): string;
}

/**
 * A class's custom inspection as `Name { …summary }`, or `[Name label]` past the depth asked for
 * (as Node's own objects are shown).
 */
export function inspectAs(
  name: string,
  label: string,
  summary: object,
  depth: number,
  options: InspectOptions,
  show: typeof inspect,
): string {
  if (depth < 0) return options.stylize(`[${name} ${label}]`, 'special');
  // The summary stands for the object itself: its fields at the depth the object's own would be.
  const inner = show(summary, { ...options, depth: options.depth === null ? null : depth });
  return `${name} ${inner}`;
}
