// The options of spawnPeer and startCluster: their types (with every default documented once,
// here), the schema that validates them, and the one place the defaults are applied.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { InvalidOptionsError } from './errors.js';
import type { HealerOptions, HeartbeatOptions, Strategy } from './types.js';

export type EnvValue = string | number | boolean;
export type EnvRecord = Record<string, EnvValue>;
/** Declared env: a record, or a function of the peer (called once per peer, and again on restart). */
export type PeerEnv = EnvRecord | ((peer: { index: number; name: string }) => EnvRecord);
/** A peer's listen address: one for all, or a function of the peer (e.g. 127.0.0.2, 127.0.0.3…). */
export type PeerHost = string | ((peer: { index: number; name: string }) => string);
/**
 * `buffer` keeps each peer's last lines for `peer.logs()`; `inherit` also echoes them, prefixed
 * with the peer name; `silent` keeps none (a boot error still shows the stderr tail).
 */
export type LogsMode = 'buffer' | 'inherit' | 'silent';

/** What every peer of a cluster (or a single spawned peer) is made of. */
export interface PeerSetup {
  /** Modules each peer loads at boot, in order, resolved from `root`. `.ts`/`.mts`/`.cts` work. @default [] */
  apps?: string[];
  /** Directory the app paths are resolved from. @default process.cwd() */
  root?: string;
  /** Env declared for the peers, on top of the small allowlist (PATH, HOME, TMPDIR, LANG, TZ…). @default {} */
  env?: PeerEnv;
  /** Also pass the parent's env (`true`) or these variables of it. `VITEST*`, `JEST*`, `NODE_OPTIONS` never pass. @default false */
  inheritEnv?: boolean | string[];
  /**
   * The address each peer's node and apps listen on (`ctx.host`, `peer.host`): a loopback address,
   * or a function of `{ index, name }` to give each peer its own (Linux routes all of 127.0.0.0/8 to
   * loopback), the way pods look behind a headless service. @default '127.0.0.1'
   */
  host?: PeerHost;
  /** Extra named app ports, each leased and given as `PORT_<NAME>` (and `ctx.ports[name]`). `PORT` is always given. @default [] */
  ports?: string[];
  /** How the peers' healers find each other. @default the local registry (`defaultStrategy()`) */
  strategy?: Strategy;
  /** Time a peer has to start its node and apps, in ms. @default 30000 */
  bootTimeout?: number;
  /** Time a graceful stop has before the peer's process group is SIGKILLed, in ms. @default 5000 */
  stopTimeout?: number;
  /** @default { interval: 500, timeout: 2000 } */
  heartbeat?: HeartbeatOptions;
  /** @default { pollInterval: 1000 } */
  healer?: HealerOptions;
  /** @default 'buffer' */
  logs?: LogsMode;
  /** Flags for the peers' `node` (the parent's own execArgv never pass down). @default [] */
  nodeArgs?: string[];
  /** The cluster cookie; it reaches the peers over the control channel only. @default random per cluster */
  cookie?: string;
}

export interface ClusterOptions extends PeerSetup {
  /** How many peers to start. @default 3 */
  count?: number;
  /** The cluster name: links between clusters are refused, and it is `PEER_CLUSTER` in the peers. @default `pc-<random>` */
  name?: string;
  /** Resolve `startCluster` / `add` only once every running peer is linked to every other. @default true */
  waitForMesh?: boolean;
}

export interface PeerOptions extends PeerSetup {
  /** The peer's name, the part before `@` in its node id. @default `peer-<index + 1>` */
  name?: string;
  /** The peer's index (`PEER_INDEX`). @default 0 */
  index?: number;
  /** The cluster name. @default `pc-<random>` */
  cluster?: string;
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

/** Why `root` cannot be a peer's root (apps resolve from it, peers run in it), or undefined. */
function directoryProblem(root: string): string | undefined {
  const path = resolve(root);
  try {
    if (statSync(path).isDirectory()) return undefined;
    return `must be a directory, and ${path} is not one (apps resolve from root, and peers run in it)`;
  } catch {
    return `must be an existing directory, and ${path} does not exist (apps resolve from root, and peers run in it)`;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const PORT_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

const positive = (what: string) =>
  z
    .number({ error: `must be a number of ${what}` })
    .positive({ error: `must be a positive number of ${what}` });
const envValue = z.union([z.string(), z.number(), z.boolean()], {
  error: 'env values must be a string, a number or a boolean',
});
const envRecord = z.record(z.string(), envValue, { error: 'must be an object of env values' });

const setupShape = {
  apps: z.array(z.string().min(1, { error: 'an app path must not be empty' }), {
    error: 'must be an array of module paths',
  }),
  root: z
    .string({ error: 'must be a directory path' })
    .min(1, { error: 'must not be empty' })
    .superRefine((root, ctx) => {
      const problem = directoryProblem(root);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  env: z.unknown().superRefine((value, ctx) => {
    if (typeof value === 'function') return;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an object of string/number/boolean values, or a function of { index, name }',
      });
      return;
    }
    // Checked here rather than in a union, so the error names the variable (`env.FOO`).
    for (const issue of envRecord.safeParse(value).error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
  }) as z.ZodType<PeerEnv>,
  inheritEnv: z.union([z.boolean(), z.array(z.string())], {
    error: 'must be true, false or an array of variable names',
  }),
  host: z.union(
    [z.ipv4(), z.ipv6(), z.literal('localhost'), z.custom<PeerHost>((v) => typeof v === 'function')],
    {
      error:
        'must be an IP address to listen on (e.g. 127.0.0.2), or a function of { index, name } returning one',
    },
  ),
  ports: z
    .array(
      z
        .string()
        .regex(PORT_NAME, { error: 'a port name must be letters, digits, _ or -' })
        .refine((n) => n.toLowerCase() !== 'default', { error: '"default" is the name of PORT itself' }),
      { error: 'must be an array of port names' },
    )
    .refine((names) => new Set(names).size === names.length, { error: 'port names must be unique' }),
  strategy: z.custom<Strategy>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as Strategy).name === 'string' &&
      typeof (v as Strategy).discover === 'function',
    { error: 'must be a strategy ({ name, discover(ctx) }), e.g. customStrategy({ discover })' },
  ),
  bootTimeout: positive('ms'),
  stopTimeout: positive('ms'),
  heartbeat: z.strictObject({ interval: positive('ms').optional(), timeout: positive('ms').optional() }),
  healer: z.strictObject({ pollInterval: positive('ms').optional() }),
  logs: z.enum(['buffer', 'inherit', 'silent'], { error: "must be 'buffer', 'inherit' or 'silent'" }),
  nodeArgs: z.array(z.string(), { error: 'must be an array of strings' }),
  cookie: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }),
};

const nameSchema = z
  .string({ error: 'must be a string' })
  .regex(NAME, { error: 'must start with a letter or digit and hold only letters, digits, _ . -' });

const clusterSchema = z
  .strictObject({
    ...setupShape,
    count: z
      .number({ error: 'must be a number of peers' })
      .int({ error: 'must be a whole number of peers' })
      .positive({ error: 'must be at least 1' }),
    name: nameSchema,
    waitForMesh: z.boolean({ error: 'must be true or false' }),
  })
  .partial();

const peerSchema = z
  .strictObject({
    ...setupShape,
    name: nameSchema,
    index: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .nonnegative({ error: 'must be 0 or more' }),
    cluster: nameSchema,
  })
  .partial();

const addSchema = z.strictObject(setupShape).partial();

function validate<T>(schema: z.ZodType<T>, input: unknown, prefix = ''): T {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionsError(prefix || 'options', input, 'must be an object');
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  let value: any = input;
  for (const key of issue.path) value = value?.[key as any];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    throw new InvalidOptionsError(
      [prefix, ...issue.path.map(String), key].filter(Boolean).join('.'),
      value?.[key],
      'is not an option',
      issue.path.length === 0
        ? `Known options: ${Object.keys((schema as any).shape ?? {}).join(', ')}.`
        : undefined,
    );
  }
  const option = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new InvalidOptionsError(option || 'options', value, issue.message);
}

function resolveSetup(o: PeerSetup): ResolvedSetup {
  const heartbeat = { ...defaults.heartbeat, ...o.heartbeat };
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
    strategy: o.strategy,
    bootTimeout: o.bootTimeout ?? defaults.bootTimeout,
    stopTimeout: o.stopTimeout ?? defaults.stopTimeout,
    heartbeat,
    healer: { ...defaults.healer, ...o.healer },
    logs: o.logs ?? defaults.logs,
    nodeArgs: o.nodeArgs ?? [],
    cookie: o.cookie,
  };
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

/** `cluster.add(count, options)`: per-peer overrides of the cluster's setup. */
export function validateAddOptions(input: unknown): PeerSetup {
  return validate(addSchema, input, 'add options') as PeerSetup;
}

/** The address a function-valued `host` returned for one peer, validated. */
export function validateHostResult(value: unknown, peer: string): string {
  return validate(
    z.strictObject({ host: setupShape.host.refine((v) => typeof v === 'string') }),
    { host: value },
    `host(${peer})`,
  ).host as string;
}

/** The env a function-valued `env` returned for one peer, validated. */
export function validateEnvResult(value: unknown, peer: string): EnvRecord {
  return validate(envRecord, value, `env(${peer})`);
}

export function validateCount(count: unknown, option = 'count'): number {
  const r = clusterSchema.shape.count.safeParse(count);
  if (!r.success || r.data === undefined) {
    throw new InvalidOptionsError(option, count, r.success ? 'is required' : r.error.issues[0]!.message);
  }
  return r.data;
}
