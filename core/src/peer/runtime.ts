// The peer runtime: the entry of every peer process. It gets its boot config over the control
// channel (never argv or env: the cookie is in it), starts its node, then its apps in order (so
// `ctx.cluster` is live in `start(ctx)`), and reports `ready`. Its import graph stays tiny: every
// millisecond here is paid once per peer.
import { format } from 'node:util';
import { type BootPhase, serializeStacksWith } from '../errors.js';
import type { NodeHealer } from '../healer/healer.js';
import type { Node } from '../link/node.js';
import type { InternalNodeOptions } from '../link/options.js';
import type { AppContext, ClusterNode, NodeOptions, Strategy } from '../types.js';
import { type RunningApp, startApp, stopApps } from './apps.js';
import { Channel } from './channel.js';
import { mapCompiledStack } from './compiled-stacks.js';
import { portVariable } from './env.js';
import { evaluate } from './evaluate.js';
import { armGroupWatchdog } from './group-watchdog.js';
import {
  type BootApp,
  type BootConfig,
  type FromPeer,
  loaderHook,
  loadModule,
  type ToPeer,
  toWireError,
  type WireError,
} from './protocol.js';
import { proxyStrategy } from './strategy-proxy.js';

// A peer dies with its parent, however the parent dies: the IPC channel closes, stdin hits EOF.
// (On Linux the parent also starts us under `setpriv --pdeathsig SIGKILL`, which works even
// when this event loop is blocked.)
process.on('disconnect', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

// The stacks that leave this peer name a TypeScript app's own lines (compiled-stacks.ts).
serializeStacksWith(mapCompiledStack);

/** ms since the process started (perf_hooks is a dozen modules more to load). */
const now = () => process.uptime() * 1000;

if (!process.send) {
  process.stderr.write(
    'peer-cluster: the peer runtime must be started by spawnPeer/startCluster (no IPC channel).\n',
  );
  process.exit(2);
}

// Start loading the link layer while the boot config is on its way. (Literal specifiers, so the
// runtime bundle (runtime-bundle.ts) carries these modules.)
const linkModule = import('../link/node.js');
linkModule.catch(() => {});

/** Strategy modules of core itself, imported from the bundle rather than again from dist. */
const coreStrategies: Record<string, () => Promise<Record<string, unknown>>> = {
  'registry/strategy.js': () => import('../registry/strategy.js'),
};

function importStrategyModule(module: string, coreUrl: string): Promise<Record<string, unknown>> {
  const own = module.startsWith(coreUrl) ? coreStrategies[module.slice(coreUrl.length)] : undefined;
  return own ? own() : (loadModule(module) as Promise<Record<string, unknown>>);
}

function send(message: FromPeer, done?: () => void): void {
  if (!process.connected) return;
  process.send!(message, undefined, undefined, done);
}

const watchers = new Map<number, () => void>();
let node: ClusterNode | undefined;
let ctx: AppContext | undefined;
const apps: RunningApp[] = [];
let booted: Promise<void> | undefined;
let stopping: Promise<void> | undefined;
/**
 * The whole cluster is stopping (a stop without the polite leave): the others are being killed
 * meanwhile, so the links this node loses are no news, and its lines about them would only bury the
 * logs that matter.
 */
let clusterStopping = false;
/** Settles once the node runs: requests about links need no more (an app may wait on them). */
let nodeStarted: (value: ClusterNode) => void;
const started = new Promise<ClusterNode>((resolve) => {
  nodeStarted = resolve;
});

// What this process has written to stdout and stderr, sent with every answer to the parent (see
// OutputMark): a line an app logs just before answering is in `peer.logs()` by the time the
// answer resolves. Each stream is counted from its creation: Node creates process.stdout and
// process.stderr on first use, which a peer whose apps never log need not pay for at boot.
const written: [number, number] = [0, 0];
/** Whether what was written to each stream so far ends a line (the harness's notes start one). */
const atLineStart: [boolean, boolean] = [true, true];

function countWrites(slot: 0 | 1, stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written[slot] +=
      typeof chunk === 'string'
        ? Buffer.byteLength(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8')
        : chunk.byteLength;
    const length = typeof chunk === 'string' ? chunk.length : chunk.byteLength;
    if (length > 0)
      atLineStart[slot] =
        (typeof chunk === 'string' ? chunk.charCodeAt(length - 1) : chunk[length - 1]) === 10;
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

for (const [slot, name] of [
  [0, 'stdout'],
  [1, 'stderr'],
] as const) {
  const own = Object.getOwnPropertyDescriptor(process, name);
  if (!own?.get || !own.configurable) {
    countWrites(slot, process[name]);
    continue;
  }
  const create = own.get;
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: own.enumerable,
    get() {
      const stream = create.call(process) as NodeJS.WriteStream;
      countWrites(slot, stream);
      // Node's own getter keeps returning this stream.
      Object.defineProperty(process, name, own);
      return stream;
    },
  });
}

const channel = new Channel(
  (m) => send(m),
  async (op, args) => {
    if (op === 'evaluate' || op === 'call') await booted;
    else if (op !== 'stop') await Promise.race([started, booted]);
    return serve(op, args);
  },
  (e) => Object.assign(new Error(e.message), { name: e.name, stack: e.stack }),
  { mark: () => [written[0], written[1]] },
);

/** The apps, when they follow the boot config (TypeScript compiling in the parent meanwhile). */
let appsArrived: (apps: BootApp[]) => void;
const laterApps = new Promise<BootApp[]>((resolve) => {
  appsArrived = resolve;
});

process.on('message', (message: ToPeer) => {
  if (channel.receive(message)) return;
  if (message.t === 'boot') {
    booted = boot(message.config);
    booted.catch(() => {});
  } else if (message.t === 'apps') appsArrived(message.apps);
  else if (message.t === 'watch') watchers.get(message.watch)?.();
});

async function serve(op: string, args: unknown[]): Promise<unknown> {
  const n = node!;
  switch (op) {
    case 'evaluate':
      return evaluate(args[0] as string, ctx!, args[1]);
    case 'call':
      return n.invoke(args[0] as string, args[1] as unknown[]);
    case 'nodes':
      return n.nodes();
    case 'connect':
      return n.connect(args[0] as string);
    case 'disconnect':
      return n.disconnect(args[0] as string);
    case 'set-blocked':
      return setBlocked(n, args[0] as string[]);
    case 'refresh':
      return n.healer.refresh();
    case 'healer-report':
      return (n.healer as NodeHealer).findings();
    case 'stop':
      await stop(args[0] !== false);
      // `exit: false`: the parent kills the process group on this answer (a whole cluster
      // stopping); the exit below is only for a parent that is gone meanwhile.
      if (args[1] === false) {
        setTimeout(() => process.exit(0), 1000);
        return;
      }
      process.exit(0);
      break;
    default:
      throw new Error(`unknown control request ${op}`);
  }
}

/** Replaces the set of blocked names in one tick, so the healer never sees a gap to relink in. */
function setBlocked(n: ClusterNode, names: string[]): void {
  n.unblock();
  if (names.length > 0) n.block(names);
}

/** Stops the apps in reverse order, then the node; `leave: false` skips the polite goodbye. */
function stop(leave: boolean): Promise<void> {
  if (!leave) clusterStopping = true;
  stopping ??= (async () => {
    await booted?.catch(() => {});
    // The parent records which app failed to stop (its timeline's exit event): sent before the
    // exit, which would otherwise drop a message still in the IPC pipe.
    // Which stop runs now, for the parent to name if stopTimeout runs out (in order, on one channel).
    const failed = await stopApps(apps, (app) => send({ t: 'stopping', app }));
    await Promise.all(
      failed.map(
        ([app, error]) =>
          new Promise<void>((resolve) => {
            if (!process.connected) resolve();
            else send({ t: 'stop-failed', app, error }, resolve);
          }),
      ),
    );
    if (leave) {
      send({ t: 'stopping' });
      await node?.stop();
    }
  })();
  return stopping;
}

let phase: BootPhase = 'config';
let currentApp: string | undefined;

function fail(error: unknown): void {
  const wire: WireError = toWireError(error);
  process.stderr.write(`${wire.stack ?? `${wire.name}: ${wire.message}`}\n`);
  const exit = () => process.exit(1);
  // Give the report a moment to leave, but never hang on it.
  setTimeout(exit, 1000).unref();
  send({ t: 'boot-failed', phase, ...(currentApp ? { app: currentApp } : {}), error: wire }, exit);
}

async function boot(config: BootConfig): Promise<void> {
  const t0 = now();
  // The node links before the apps start: what reaches it meanwhile waits for them (see
  // InternalNodeOptions.appsStarting), until they have started or the boot failed.
  let appsStarted!: () => void;
  const appsStarting = new Promise<void>((resolve) => {
    appsStarted = resolve;
  });
  // Until ready, anything thrown asynchronously (a side-effect app whose server hits
  // EADDRINUSE) is a boot failure of the app being started.
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  try {
    // The app ports were leased while this process started: in the env before anything of the
    // user's (strategy modules, apps) is imported.
    for (const [name, port] of Object.entries(config.ports)) process.env[portVariable(name)] = String(port);
    // The parent learns the watchdog's pid: pause() must leave it running (see Peer.pause).
    if (config.watchdogFd !== undefined)
      armGroupWatchdog(config.watchdogFd, config.detachedList, (pid) => send({ t: 'watchdog', pid }));
    phase = 'node';
    // Said at once: a boot that times out here names the phase, and what the node waits for.
    send({ t: 'phase', phase });
    const tNode = now();
    let strategy: Strategy | undefined;
    if (config.strategy.kind === 'spec') {
      const { spec } = config.strategy;
      const exports = await importStrategyModule(spec.module, config.coreUrl).catch((error: unknown) => {
        // Its own stack and class would only show the loader's: say which import this was.
        const reason =
          error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
        throw new Error(`strategy module ${spec.module} could not be imported (${reason})`, { cause: error });
      });
      const factory = exports[spec.export] as ((options: unknown) => Strategy) | undefined;
      if (typeof factory !== 'function') {
        const names = Object.keys(exports).filter((name) => typeof exports[name] === 'function');
        throw new Error(
          `strategy module ${spec.module} ${
            spec.export in exports
              ? `exports ${spec.export}, but as a ${factory === null ? 'null' : typeof factory}, not a strategy factory`
              : `has no export ${spec.export}`
          } (its functions: ${names.join(', ') || 'none'})`,
        );
      }
      strategy = factory(spec.options);
    } else if (config.strategy.kind === 'inline') {
      strategy = proxyStrategy(channel, config.strategy.name, config.strategy.caps, watchers);
    }
    const { startNode } = await linkModule;
    const options: NodeOptions & InternalNodeOptions = {
      name: config.name,
      cookie: config.cookie,
      cluster: config.cluster,
      host: config.host,
      port: config.linkPort,
      heartbeat: config.heartbeat,
      healer: config.healer,
      log: (line) => {
        // On a line of its own, even after an app's output that did not end one.
        if (!clusterStopping) process.stdout.write(`${atLineStart[0] ? '' : '\n'}[node] ${line}\n`);
      },
    };
    if (strategy) options.strategy = strategy;
    if (config.scope) options.scope = config.scope;
    options.appsStarting = appsStarting;
    // The boot's own bootTimeout bounds a strategy's register() and watch(), however long it is.
    options.startTimeout = Number.POSITIVE_INFINITY;
    try {
      node = await startNode(options);
    } catch (error) {
      // On restart the previous link port may be gone; a new id beats no peer.
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || config.linkPort === 0) throw error;
      node = await startNode({ ...options, port: 0 });
    }
    if (config.blocked.length > 0) node.block(config.blocked);
    nodeStarted(node);
    const loader = loaderHook();
    node.on('nodeup', (id) => {
      send({ t: 'nodeup', node: id });
      loader?.linked();
    });
    node.on('nodedown', (id, { reason, detail }) => send({ t: 'nodedown', node: id, reason, detail }));
    // The links formed while startNode ran were not reported yet.
    for (const id of node.nodes()) {
      send({ t: 'nodeup', node: id });
      loader?.linked();
    }
    send({ t: 'node', id: node.id, port: node.port });
    const nodeMs = now() - tNode;

    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    ctx = {
      name: config.name,
      index: config.index,
      node: node.id,
      host: config.host,
      port: config.ports.default ?? 0,
      ports: config.ports,
      env,
      cluster: node,
      log: (...args) => process.stdout.write(`${format(...args)}\n`),
    };

    phase = 'app';
    const bootApps = config.apps ?? (await laterApps);
    // A call to a handler then fails saying why none is there (no round trip needed to tell).
    if (bootApps.length === 0) (node as Node).handlers.appless = true;
    const appTimings: { app: string; ms: number }[] = [];
    for (const app of bootApps) {
      currentApp = app.name;
      send({ t: 'phase', phase: 'app', app: app.name });
      const tApp = now();
      apps.push(await startApp(app, ctx));
      appTimings.push({ app: app.name, ms: now() - tApp });
    }
    // A server's listen error is emitted on a later tick; let it surface before `ready`.
    if (bootApps.length > 0) await new Promise((r) => setImmediate(r));
    currentApp = undefined;
    appsStarted();
    phase = 'ready';
    process.off('uncaughtException', fail);
    process.off('unhandledRejection', fail);
    send({
      t: 'ready',
      appStops: apps.some((app) => app.stop !== undefined),
      timings: { config: t0, node: nodeMs, apps: appTimings, total: now() },
      out: [written[0], written[1]],
    });
    // The bundled runtime's loader writes its code cache now, if it has none yet (runtime-bundle.ts).
    loader?.ready();
  } catch (error) {
    appsStarted();
    fail(error);
    // Requests waiting for the boot get the boot's error.
    throw error;
  }
}
