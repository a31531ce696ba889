// The control channel between the test process and a peer (Node's IPC with serialization
// 'advanced', so values cross as structured clones). Separate from node links on purpose: a
// peer stays controllable while its links are cut, paused or partitioned.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type BootPhase, serializeError } from '../errors.js';
import type { HealerOptions, HeartbeatOptions, NodeDownReason, StrategySpec } from '../types.js';

/** The global (Symbol.for) where the bundled runtime's loader offers its services (runtime-bundle.ts). */
export const LOADER_HOOK = 'peer-cluster.runtime-loader';

export interface LoaderHook {
  /** `import()` for code running from a V8 code cache, which cannot import() itself on Node 20. */
  import(specifier: string): Promise<unknown>;
  /** The runtime is ready: the loader may write its code cache. */
  ready(): void;
  /** The node made a link (each nodeup): the loader may write a fuller code cache. */
  linked(): void;
}

/** Inside a peer: the loader of the bundled runtime, if that is how this process started. */
export function loaderHook(): LoaderHook | undefined {
  return (globalThis as { [key: symbol]: LoaderHook | undefined })[Symbol.for(LOADER_HOOK)];
}

/** `import()` that works in the bundled runtime as well as in the plain one. */
export function importModule(specifier: string): Promise<unknown> {
  const hook = loaderHook();
  return hook ? hook.import(specifier) : import(specifier);
}

/**
 * Loads an app or a strategy module inside a peer: require() where this Node can require ES
 * modules (20.19+, 22.12+), else import(). The first import() of a process starts Node's ES module
 * loader, ≈3 ms of CPU per peer here; require() of the same one-line ES module costs ≈1. The
 * module runs the same either way. A module graph with top-level await (or a require cycle)
 * cannot be required: Node says so before running any of it, and it is imported instead. Any other error is the app's own and is not retried (a
 * CommonJS module that threw would run again).
 */
export function loadModule(url: string): Promise<unknown> {
  if (!(process.features as { require_module?: boolean }).require_module || !url.startsWith('file:')) {
    return importModule(url);
  }
  try {
    return Promise.resolve(createRequire(url)(fileURLToPath(url)));
  } catch (error) {
    if (NOT_REQUIRABLE.has((error as NodeJS.ErrnoException)?.code ?? '')) return importModule(url);
    return Promise.reject(error);
  }
}

const NOT_REQUIRABLE = new Set(['ERR_REQUIRE_ASYNC_MODULE', 'ERR_REQUIRE_CYCLE_MODULE', 'ERR_REQUIRE_ESM']);

/** Which optional callbacks an inline strategy (one that runs in the test process) has. */
export interface StrategyCaps {
  register: boolean;
  watch: boolean;
  connect: boolean;
  disconnect: boolean;
  list: boolean;
}

export type BootStrategy =
  | { kind: 'none' }
  | { kind: 'spec'; spec: StrategySpec }
  | { kind: 'inline'; name: string; caps: StrategyCaps };

export interface BootApp {
  /** As the user wrote it, for errors and timings. */
  name: string;
  /** What the runtime imports (a file URL; compiled JS for TypeScript apps). */
  url: string;
}

export interface BootConfig {
  name: string;
  index: number;
  cluster: string;
  cookie: string;
  host: string;
  /** 0 on first boot; the previous port on restart, so the node id stays the same. */
  linkPort: number;
  /**
   * Absent when the apps were not ready to send (TypeScript still compiling): they follow in an
   * `apps` message, and the runtime starts its node meanwhile.
   */
  apps?: BootApp[];
  ports: Record<string, number>;
  heartbeat: HeartbeatOptions;
  healer: HealerOptions;
  strategy: BootStrategy;
  /** The URL of core's dist folder (ending in `/`): strategy specs under it load from the runtime's own copy. */
  coreUrl: string;
  /** Names of nodes not to link with (a cluster partition in force when this peer boots). */
  blocked: string[];
  /** The startCluster() the peer belongs to (InternalNodeOptions), absent for a lone peer. */
  scope?: string;
  /** The fd of the group watchdog's pipe (group-watchdog.ts), where the parent gave one. */
  watchdogFd?: number;
  /** The file where the peer lists its detached children for the watchdog (group-watchdog.ts). */
  detachedList?: string;
}

/** An error as it crosses the channel (custom names, codes and ports survive, unlike a clone). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  port?: number;
  cause?: WireError;
}

export interface BootTimings {
  /** ms from the runtime's first line to the boot config. */
  config: number;
  /** ms to start the node (listener, strategy). */
  node: number;
  /** ms per app, in boot order. */
  apps: { app: string; ms: number }[];
  /** ms from the runtime's first line to ready. */
  total: number;
}

export type Request = { t: 'req'; id: number; op: string; args: unknown[] };
/**
 * `out`: bytes the peer had written to its stdout and stderr when it answered, so the parent can
 * hold the answer until it has read that far (IPC and the pipes are separate channels, and a
 * line logged just before answering must be in `peer.logs()` when the answer arrives).
 */
export type Response =
  | { t: 'res'; id: number; ok: true; value: unknown; out?: OutputMark }
  | { t: 'res'; id: number; ok: false; error: WireError; out?: OutputMark };

/** Bytes written so far to [stdout, stderr]. */
export type OutputMark = [number, number];

export type ToPeer =
  | { t: 'boot'; config: BootConfig }
  | { t: 'apps'; apps: BootApp[] }
  | { t: 'watch'; watch: number }
  | Request
  | Response;

export type FromPeer =
  | { t: 'node'; id: string; port: number }
  | { t: 'phase'; phase: BootPhase; app?: string }
  /**
   * `appStops`: whether any app has a stop to run (if none, a whole-cluster stop just kills).
   * `out`: what the process had written by then, like an answer's: the boot resolves once read.
   */
  | { t: 'ready'; timings: BootTimings; appStops: boolean; out?: OutputMark }
  | { t: 'boot-failed'; phase: BootPhase; app?: string; error: WireError }
  | { t: 'nodeup'; node: string }
  | { t: 'nodedown'; node: string; reason: NodeDownReason; detail: string }
  /** The group watchdog started (group-watchdog.ts), with its pid. */
  | { t: 'watchdog'; pid: number }
  /** An app's stop threw (`error`: its first line), during a graceful stop. */
  | { t: 'stop-failed'; app: string; error: string }
  /**
   * A graceful stop went on to the stop of `app`, or without `app`, once the apps' stops are over,
   * to the node's: what a stop killed at stopTimeout was held up by.
   */
  | { t: 'stopping'; app?: string }
  | Request
  | Response;

export function toWireError(error: unknown): WireError {
  const wire: WireError = serializeError(error);
  try {
    // An EADDRINUSE's port: the boot error names the port an app could not have.
    const { port } = error as { port?: unknown };
    if (typeof port === 'number') wire.port = port;
  } catch {}
  return wire;
}
