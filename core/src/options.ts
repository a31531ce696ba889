// The options of spawnPeer and startCluster: their types (with every default documented once,
// here), the schema that validates them, and the one place the defaults are applied.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as v from 'valibot';
import { nearest } from './edit-distance.js';
import { InvalidOptionsError } from './errors.js';
import { MAX_TIMER, notCalled } from './link/options.js';
import { NEVER_INHERITED, portVariable } from './peer/env.js';
import type { HealerOptions, HeartbeatOptions, Strategy, StrategyData } from './types.js';

export type EnvValue = string | number | boolean;
export type EnvRecord = Record<string, EnvValue>;
/** Declared env: a record, or a function of the peer (called once per peer; a restart keeps what it gave). */
export type PeerEnv = EnvRecord | ((peer: { index: number; name: string }) => EnvRecord);
/** A peer's listen address: one for all, or a function of the peer (e.g. 127.0.0.2, 127.0.0.3…). */
export type PeerHost = string | ((peer: { index: number; name: string }) => string);
/**
 * `buffer` keeps each peer's last lines for `peer.logs()`; `inherit` also echoes them, prefixed
 * with the peer name (while this process's own stdout or stderr is more than 8 MiB behind, lines
 * are left out, and a line says how many); `silent` shows none: `peer.logs()` is empty and failure
 * reports show no lines (they are kept for `peer.waitForLog()`, and a boot error still shows the
 * stderr tail).
 */
export type LogsMode = 'buffer' | 'inherit' | 'silent';

/** What every peer of a cluster (or a single spawned peer) is made of. */
export interface PeerSetup {
  /** Modules each peer loads at boot, in order, resolved from `root`. `.ts`/`.mts`/`.cts` work. @default [] */
  apps?: string[] | undefined;
  /** Directory the app paths are resolved from. @default process.cwd() */
  root?: string | undefined;
  /** Env declared for the peers, on top of the small allowlist (PATH, HOME, TMPDIR, LANG, TZ…). @default {} */
  env?: PeerEnv | undefined;
  /** Also pass the parent's env (`true`) or these variables of it. `VITEST*`, `JEST*`, `NODE_OPTIONS` never pass. @default false */
  inheritEnv?: boolean | string[] | undefined;
  /**
   * The address each peer's node and apps listen on (`ctx.host`, `peer.host`): a loopback address,
   * or a function of `{ index, name }` to give each peer its own (Linux routes all of 127.0.0.0/8 to
   * loopback), the way pods look behind a headless service. Another address (`0.0.0.0`) is taken
   * as meant: the peers are then reachable beyond this machine. @default '127.0.0.1'
   */
  host?: PeerHost | undefined;
  /** Extra named app ports, each leased and given as `PORT_<NAME>` (and `ctx.ports[name]`). `PORT` is always given. @default [] */
  ports?: string[] | undefined;
  /**
   * How the peers' healers find each other: a strategy, or one given as data (`{ name?, spec }`,
   * what a strategy with a spec is once a runner's config has been cloned or sent as JSON).
   * @default the local registry (`localRegistry()`)
   */
  strategy?: Strategy | StrategyData | undefined;
  /** Time a peer has to start its node and apps, in ms. @default 30000 */
  bootTimeout?: number | undefined;
  /**
   * Time a graceful stop has before the peer's process group is SIGKILLed, in ms. Under Jest, a
   * stop that would outlast the timeout of the test or hook it runs in is cut a moment before it,
   * and says so.
   * @default 5000
   */
  stopTimeout?: number | undefined;
  /** @default { interval: 500, timeout: 2000 } */
  heartbeat?: HeartbeatOptions | undefined;
  /** @default { pollInterval: 1000 } */
  healer?: HealerOptions | undefined;
  /** @default 'buffer' */
  logs?: LogsMode | undefined;
  /** Flags for the peers' `node` (the parent's own execArgv never pass down). @default [] */
  nodeArgs?: string[] | undefined;
  /** The cluster cookie; it reaches the peers over the control channel only. @default random per cluster */
  cookie?: string | undefined;
}

export interface ClusterOptions extends PeerSetup {
  /** How many peers to start. @default 3 */
  count?: number | undefined;
  /** The cluster name: links between clusters are refused, and it is `PEER_CLUSTER` in the peers. @default `pc-<random>` */
  name?: string | undefined;
  /** Resolve `startCluster` / `add` only once every running peer is linked to every other. @default true */
  waitForMesh?: boolean | undefined;
}

export interface PeerOptions extends PeerSetup {
  /** The peer's name, the part before `@` in its node id. @default `peer-<index + 1>` */
  name?: string | undefined;
  /** The peer's index (`PEER_INDEX`). @default 0 */
  index?: number | undefined;
  /** The cluster name. @default `pc-<random>` */
  cluster?: string | undefined;
}

/** The harness defaults, in one place. */
export const defaults = {
  count: 3,
  bootTimeout: 30_000,
  stopTimeout: 5_000,
  heartbeat: { interval: 500, timeout: 2_000 },
  healer: { pollInterval: 1_000 },
  logs: 'buffer' as LogsMode,
  waitForMesh: true,
};

/** Options with every default applied (strategy and cookie excepted: they are per cluster). */
export interface ResolvedSetup {
  apps: string[];
  root: string;
  env: PeerEnv;
  inheritEnv: boolean | string[];
  host: PeerHost;
  ports: string[];
  strategy: Strategy | undefined;
  bootTimeout: number;
  stopTimeout: number;
  heartbeat: Required<HeartbeatOptions>;
  healer: Required<HealerOptions>;
  logs: LogsMode;
  nodeArgs: string[];
  cookie: string | undefined;
}

/**
 * Why `root` cannot be a peer's root (apps resolve from it, peers run in it), or undefined. A
 * relative `root` resolves against `base`, and the problem says both the value as written and the
 * path it came to: the one written is the one to fix.
 */
export function directoryProblem(root: string, base = process.cwd()): string | undefined {
  const path = resolve(base, root);
  const shown = isAbsolute(root) ? path : `${root} (resolved against ${base}: ${path})`;
  try {
    if (statSync(path).isDirectory()) return undefined;
    return `must be a directory, and ${shown} is not one (apps resolve from root, and peers run in it)`;
  } catch {
    return `must be an existing directory, and ${shown} does not exist (apps resolve from root, and peers run in it)`;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const PORT_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Two port names that give one variable (`a-b` and `A_B` are both PORT_A_B), said as text. */
function portClash(names: string[]): string | undefined {
  const seen = new Map<string, string>();
  for (const name of names) {
    const variable = portVariable(name);
    const other = seen.get(variable);
    if (other !== undefined) return `"${other}" and "${name}" are both ${variable}`;
    seen.set(variable, name);
  }
  return undefined;
}

// Every one of them is a timer's delay, which Node.js fires at once (or every 1 ms) past MAX_TIMER.
const positive = (what: string) =>
  v.pipe(
    v.number(`must be a number of ${what}`),
    v.gtValue(0, `must be a positive number of ${what}`),
    v.maxValue(
      MAX_TIMER,
      `must be at most ${MAX_TIMER} ${what} (about 24 days), the longest timer Node.js keeps: a longer one fires at once`,
    ),
  );
/** `schema`, reported as one issue with `message` at its own path when it fails (not the issue of whichever branch came closest). */
const whole = <T>(schema: v.GenericSchema<unknown, T>, message: string) =>
  v.custom<T>((value) => v.is(schema, value), message);
const envValue = whole(
  v.union([v.string(), v.number(), v.boolean()]),
  'env values must be a string, a number or a boolean',
);

const setupShape = {
  apps: v.array(
    v.pipe(v.string('an app path must be a string'), v.minLength(1, 'an app path must not be empty')),
    'must be an array of module paths',
  ),
  root: v.pipe(
    v.string('must be a directory path'),
    v.minLength(1, 'must not be empty'),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? directoryProblem(dataset.value) : undefined;
      if (problem) addIssue({ message: problem });
    }),
  ),
  // An env record is checked value by value after the rest (envProblem), so the error names the
  // variable (`env.FOO`).
  env: v.custom<PeerEnv>(
    (value) =>
      typeof value === 'function' || (typeof value === 'object' && value !== null && !Array.isArray(value)),
    'must be an object of string/number/boolean values, or a function of { index, name }',
  ),
  inheritEnv: whole(
    v.union([v.boolean(), v.array(v.string())]),
    'must be true, false or an array of variable names',
  ),
  host: whole(
    v.union([
      v.pipe(v.string(), v.ipv4()),
      v.pipe(v.string(), v.ipv6()),
      v.literal('localhost'),
      v.custom<PeerHost>((value) => typeof value === 'function'),
    ]),
    'must be an IP address to listen on (e.g. 127.0.0.2), or a function of { index, name } returning one',
  ),
  ports: v.pipe(
    v.array(
      v.pipe(
        v.string('a port name must be a string'),
        v.regex(PORT_NAME, 'a port name must be letters, digits, _ or -'),
        v.check((n) => n.toLowerCase() !== 'default', '"default" is the name of PORT itself'),
      ),
      'must be an array of port names',
    ),
    v.check(
      (names) => portClash(names) === undefined,
      (issue) => `port names must be unique as variables: ${portClash(issue.input as string[])}`,
    ),
  ),
  strategy: v.custom<Strategy | StrategyData>(
    (value) => isStrategy(value) || isStrategyData(value),
    (issue) =>
      notCalled(issue.input) ??
      'must be a strategy ({ name, discover(ctx) }, e.g. customStrategy({ discover })) or one as data ({ name?, spec: { module, export, options } })',
  ),
  bootTimeout: positive('ms'),
  stopTimeout: positive('ms'),
  heartbeat: v.strictObject(
    { interval: v.optional(positive('ms')), timeout: v.optional(positive('ms')) },
    'must be an object { interval?, timeout? }',
  ),
  healer: v.strictObject({ pollInterval: v.optional(positive('ms')) }, 'must be an object { pollInterval? }'),
  logs: v.picklist(['buffer', 'inherit', 'silent'], "must be 'buffer', 'inherit' or 'silent'"),
  nodeArgs: v.array(v.string('a node argument must be a string'), 'must be an array of strings'),
  cookie: v.pipe(
    v.string('must be a string'),
    v.check(
      (cookie) => cookie.trim().length > 0,
      'must be a non-empty string, not only whitespace (was it read from an empty file?)',
    ),
  ),
};

const nameSchema = v.pipe(
  v.string('must be a string'),
  v.regex(NAME, 'must start with a letter or digit and hold only letters, digits, _ . -'),
);

const countSchema = v.pipe(
  v.number('must be a number of peers'),
  v.integer('must be a whole number of peers'),
  v.minValue(1, 'must be at least 1'),
);

const clusterSchema = v.partial(
  v.strictObject({
    ...setupShape,
    count: countSchema,
    name: nameSchema,
    waitForMesh: v.boolean('must be true or false'),
  }),
);

/** The names of `startCluster`'s options. */
export const CLUSTER_OPTION_NAMES: ReadonlySet<string> = new Set(Object.keys(clusterSchema.entries));

const peerSchema = v.partial(
  v.strictObject({
    ...setupShape,
    name: nameSchema,
    index: v.pipe(
      v.number('must be a number'),
      v.integer('must be a whole number'),
      v.minValue(0, 'must be 0 or more'),
    ),
    cluster: nameSchema,
  }),
);

const addSchema = v.partial(v.strictObject(setupShape));

type ObjectSchema = v.GenericSchema<unknown, object> & { entries?: Record<string, unknown> };

/** `Did you mean bootTimeout? ` for a misspelt `bootTimout`: the known name within two edits, if one. */
function didYouMean(given: string, known: string[]): string {
  const best = nearest(given, known);
  return best ? `Did you mean ${best}? ` : '';
}

function validate<T>(schema: ObjectSchema, input: unknown, prefix = '', where?: string): T {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionsError(prefix || 'options', input, 'must be an object');
  }
  const also = (hint: string | undefined) => [hint, where].filter(Boolean).join(' ') || undefined;
  const result = v.safeParse(schema, input);
  if (!result.success) {
    const issue = result.issues[0];
    const path = (issue.path ?? []).map((item) => String(item.key));
    const option = [prefix, ...path].filter(Boolean).join('.') || 'options';
    const value = issue.path?.length ? issue.path[issue.path.length - 1]!.value : issue.input;
    if (issue.type === 'strict_object' && issue.expected === 'never') {
      throw new InvalidOptionsError(
        option,
        value,
        'is not an option',
        also(
          path.length === 1 && schema.entries
            ? `${didYouMean(path[0]!, Object.keys(schema.entries))}Known options: ${Object.keys(schema.entries).join(', ')}.`
            : undefined,
        ),
      );
    }
    throw new InvalidOptionsError(option, value, issue.message, also(undefined));
  }
  const env = (result.output as { env?: unknown }).env;
  if (env !== null && typeof env === 'object') checkEnvRecord(env, `${prefix ? `${prefix}.` : ''}env`);
  const inherit = (result.output as { inheritEnv?: unknown }).inheritEnv;
  if (Array.isArray(inherit)) checkInherited(inherit as string[], `${prefix ? `${prefix}.` : ''}inheritEnv`);
  return result.output as T;
}

/** What peer-cluster sets in every peer's env, whatever was declared: a declared value would be lost. */
const RESERVED_ENV: Record<string, string> = {
  PORT: "the peer's leased app port: read it, or name more ports with `ports: ['admin']` (PORT_ADMIN)",
  PEER_NAME: "the peer's name",
  PEER_INDEX: "the peer's index",
  PEER_CLUSTER: "the cluster's name (set `name` for it)",
};

/**
 * Each value of a declared env record, named `env.FOO` when it is not a string, number or boolean,
 * or when FOO is a variable peer-cluster sets itself. A name with `=` would reach the peer as
 * another variable (`A=B: 'x'` is A=`B=x`), an empty one not at all, and a NUL byte fails the spawn.
 */
function checkEnvRecord(env: object, option: string): void {
  for (const [key, value] of Object.entries(env)) {
    if (key === '' || key.includes('=') || key.includes('\0'))
      throw new InvalidOptionsError(
        option,
        key,
        'a variable name must be non-empty, without "=" or NUL bytes (no environment can carry it)',
      );
    if (typeof value === 'string' && value.includes('\0'))
      throw new InvalidOptionsError(`${option}.${key}`, value, 'an env value cannot hold a NUL byte');
    const reserved = RESERVED_ENV[key];
    if (reserved !== undefined)
      throw new InvalidOptionsError(
        `${option}.${key}`,
        value,
        `is set by peer-cluster in every peer, to ${reserved}`,
        'Leave it out of env.',
      );
    if (!v.is(envValue, value))
      throw new InvalidOptionsError(
        `${option}.${key}`,
        value,
        'env values must be a string, a number or a boolean',
      );
  }
}

/** A variable inheritEnv names that no peer ever gets from its parent (it would be dropped). */
function checkInherited(names: string[], option: string): void {
  const never = names.find((name) => NEVER_INHERITED.test(name));
  if (never === undefined) return;
  throw new InvalidOptionsError(
    option,
    never,
    never === 'NODE_OPTIONS'
      ? "is never passed to peers from this process: it would carry the test runner's own loaders into them"
      : "is never passed to peers: the test runner's variables change how code behaves under test",
    never === 'NODE_OPTIONS'
      ? "Give peers Node options with nodeArgs: ['--require', './setup.cjs'], or set env: { NODE_OPTIONS: '…' } explicitly."
      : 'Set what the peers need in env.',
  );
}

function isStrategy(value: unknown): value is Strategy {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Strategy).name === 'string' &&
    typeof (value as Strategy).discover === 'function'
  );
}

function isStrategyData(value: unknown): value is StrategyData {
  if (typeof value !== 'object' || value === null) return false;
  const { name, spec } = value as Partial<StrategyData>;
  return (
    (name === undefined || typeof name === 'string') &&
    typeof spec === 'object' &&
    spec !== null &&
    typeof spec.module === 'string' &&
    spec.module !== '' &&
    typeof spec.export === 'string' &&
    spec.export !== ''
  );
}

/**
 * A strategy given as data, made whole again. Its functions run only in the peers, which
 * re-create it from the spec; the test process never calls them. A module given as a package
 * name or a path is resolved from `root` here, so each peer imports the same file.
 */
function fromData(data: StrategyData, root: string): Strategy {
  const spec = { ...data.spec, module: resolveSpecModule(data.spec.module, root) };
  checkSpecOptions(spec.options);
  const name = data.name ?? spec.export;
  return {
    name,
    spec,
    discover() {
      throw new Error(`strategy "${name}" was given as data: it runs in the peers, from ${spec.module}`);
    },
  };
}

/** A spec's options travel to every peer in its boot config: said now if they cannot. */
function checkSpecOptions(options: unknown): void {
  try {
    structuredClone(options);
  } catch (error) {
    throw new InvalidOptionsError(
      'strategy.spec.options',
      options,
      `must be data a peer can receive (${(error as Error).message})`,
      'Functions and class instances do not cross to a peer: pass what the factory needs to rebuild them.',
    );
  }
}

/**
 * A spec's module given as a file (a file: URL, an absolute path) is imported by every peer at
 * boot: one that is not there is said now, in the test process, not as a peer's boot failure.
 */
function checkSpecFile(module: string, given: string): void {
  let path: string;
  try {
    path = fileURLToPath(module);
  } catch (error) {
    throw new InvalidOptionsError(
      'strategy.spec.module',
      given,
      `is not a file URL a peer can import (${(error as Error).message})`,
    );
  }
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {}
  if (!isFile) {
    throw new InvalidOptionsError(
      'strategy.spec.module',
      given,
      `no such file (${path}): every peer imports it at boot`,
      'A strategy factory sets it from its own module: spec: { module: import.meta.url, … }.',
    );
  }
}

function resolveSpecModule(module: string, root: string): string {
  if (module.startsWith('file:')) {
    checkSpecFile(module, module);
    return module;
  }
  if (/^(data|node):/.test(module)) return module;
  if (isAbsolute(module)) {
    const url = pathToFileURL(module).href;
    checkSpecFile(url, module);
    return url;
  }
  try {
    return pathToFileURL(createRequire(resolve(root, 'noop.js')).resolve(module)).href;
  } catch (error) {
    // require's resolution uses the `require` condition: a package that exports only for
    // `import` (ESM-only) is found as the peer will import it. (Resolved from core's own place,
    // which is the project's node_modules when core is installed there: Node 20 resolves
    // `import` conditions from another place only behind a flag.)
    if (!module.startsWith('.')) {
      try {
        return import.meta.resolve(module);
      } catch {}
    }
    throw new InvalidOptionsError(
      'strategy.spec.module',
      module,
      `cannot be resolved from root ${root}: ${(error as Error).message.split('\n')[0]}`,
      'Give a package name installed in the project, a path relative to root, or a file: URL.',
    );
  }
}

function strategyOf(given: Strategy | StrategyData, root: string): Strategy {
  if (!isStrategy(given)) return fromData(given, root);
  if (given.spec) {
    if (typeof given.spec.module === 'string' && given.spec.module.startsWith('file:')) {
      checkSpecFile(given.spec.module, given.spec.module);
    }
    checkSpecOptions(given.spec.options);
  }
  return given;
}

function resolveSetup(o: PeerSetup): ResolvedSetup {
  const heartbeat = { ...defaults.heartbeat, ...definedOnly(o.heartbeat) };
  if (heartbeat.timeout <= heartbeat.interval) {
    throw new InvalidOptionsError(
      'heartbeat.timeout',
      heartbeat.timeout,
      `must be longer than heartbeat.interval (${heartbeat.interval} ms)`,
      'A node is declared down after missing a few heartbeats.',
    );
  }
  return {
    apps: o.apps ?? [],
    root: o.root ?? process.cwd(),
    env: o.env ?? {},
    inheritEnv: o.inheritEnv ?? false,
    host: o.host ?? '127.0.0.1',
    ports: o.ports ?? [],
    strategy: o.strategy === undefined ? undefined : strategyOf(o.strategy, o.root ?? process.cwd()),
    bootTimeout: o.bootTimeout ?? defaults.bootTimeout,
    stopTimeout: o.stopTimeout ?? defaults.stopTimeout,
    heartbeat,
    healer: { ...defaults.healer, ...definedOnly(o.healer) },
    logs: o.logs ?? defaults.logs,
    nodeArgs: o.nodeArgs ?? [],
    cookie: o.cookie,
  };
}

/**
 * `options` without its fields whose value is undefined, which count as not given (`{ interval:
 * undefined }` leaves the default). Anything but a plain object is left as it is, for validation.
 */
export function definedOnly<T>(options: T): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return options;
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

export interface ResolvedClusterOptions extends ResolvedSetup {
  count: number;
  name: string | undefined;
  waitForMesh: boolean;
}

export function resolveClusterOptions(input: unknown): ResolvedClusterOptions {
  const o = validate(clusterSchema, input) as ClusterOptions;
  return {
    ...resolveSetup(o),
    count: o.count ?? defaults.count,
    name: o.name,
    waitForMesh: o.waitForMesh ?? defaults.waitForMesh,
  };
}

export interface ResolvedPeerOptions extends ResolvedSetup {
  name: string | undefined;
  index: number;
  cluster: string | undefined;
}

export function resolvePeerOptions(input: unknown): ResolvedPeerOptions {
  const o = validate(peerSchema, input) as PeerOptions;
  return { ...resolveSetup(o), name: o.name, index: o.index ?? 0, cluster: o.cluster };
}

/**
 * A runner's environment options for every cluster (`testEnvironmentOptions['peer-cluster']`),
 * checked where they are set: a mistake there would otherwise be reported by each usePeers, as if
 * the test file had made it. `prefix` names them, `where` says where they are set. A relative
 * `root` resolves from `projectRoot`, as usePeers resolves it; without one, it is left to usePeers.
 */
export function validateEnvironmentOptions(
  input: Record<string, unknown>,
  prefix: string,
  where: string,
  projectRoot?: string,
): void {
  const { root, ...rest } = input;
  if (typeof root !== 'string' || root === '') validate(clusterSchema, input, prefix, where);
  else {
    validate(clusterSchema, rest, prefix, where);
    // Named as written (`no-such-dir`), with what it resolved to: not as the absolute path only.
    const problem = projectRoot === undefined ? undefined : directoryProblem(root, projectRoot);
    if (problem) throw new InvalidOptionsError(`${prefix}.root`, root, problem, where);
  }
}

/** `cluster.add(count, options)`: per-peer overrides of the cluster's setup. */
export function validateAddOptions(input: unknown): PeerSetup {
  return validate(addSchema, input, 'add options') as PeerSetup;
}

/** `peer.waitForLog(pattern, options)`'s options. */
export interface WaitForLogOptions {
  /** How long to wait for a matching line, in ms. @default 5000 (a call's timeout) */
  timeout?: number | undefined;
  /** Read only this stream. @default both */
  stream?: 'stdout' | 'stderr' | undefined;
  /**
   * `'start'`: every line of the peer's current process counts, those printed before the call too
   * (a restart() begins a new process); `'now'`: only lines read after the call. @default 'start'
   */
  since?: 'start' | 'now' | undefined;
}

const waitForLogSchema = v.partial(
  v.strictObject({
    timeout: positive('ms'),
    stream: v.picklist(['stdout', 'stderr'], "must be 'stdout' or 'stderr'"),
    since: v.picklist(['start', 'now'], "must be 'start' or 'now'"),
  }),
);

/** waitForLog's options, validated, with their defaults. */
export function resolveWaitForLogOptions(
  input: unknown,
  defaultTimeout: number,
): { timeout: number; stream: 'stdout' | 'stderr' | undefined; since: 'start' | 'now' } {
  if (typeof input === 'number')
    throw new InvalidOptionsError(
      'waitForLog() options',
      input,
      'must be an object',
      `Pass the timeout as an option: waitForLog(pattern, { timeout: ${input} }).`,
    );
  const o = validate<WaitForLogOptions>(waitForLogSchema, input, 'waitForLog() options');
  return { timeout: o.timeout ?? defaultTimeout, stream: o.stream, since: o.since ?? 'start' };
}

/** The address a function-valued `host` returned for one peer, validated. */
export function validateHostResult(value: unknown, peer: string): string {
  const option = `host(${peer})`;
  if (typeof value === 'function' || !v.is(setupShape.host, value))
    throw new InvalidOptionsError(option, value, 'must be an IP address to listen on (e.g. 127.0.0.2)');
  return value as string;
}

/** The env a function-valued `env` returned for one peer, validated. */
export function validateEnvResult(value: unknown, peer: string): EnvRecord {
  const option = `env(${peer})`;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidOptionsError(option, value, 'must be an object of env values');
  checkEnvRecord(value, option);
  return value as EnvRecord;
}

export function validateCount(count: unknown, option = 'count'): number {
  if (count === undefined) throw new InvalidOptionsError(option, count, 'is required');
  const r = v.safeParse(countSchema, count);
  if (!r.success) throw new InvalidOptionsError(option, count, r.issues[0].message);
  return r.output;
}
