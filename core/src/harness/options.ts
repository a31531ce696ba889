// How usePeers builds a cluster's options: startCluster's defaults, then the environment's
// options, then the options given to usePeers. Nested objects merge one level so that an
// environment can set `heartbeat.interval` and a suite only `heartbeat.timeout`.
import { isAbsolute, resolve } from 'node:path';
import { InvalidOptionsError } from '../errors.js';
import type { ClusterOptions } from '../index.js';

/**
 * The options of `usePeers(count, options)` and of the runner's environment options
 * (`environmentOptions['peer-cluster']` in Vitest, `testEnvironmentOptions['peer-cluster']` in
 * Jest). Every field is a `ClusterOptions` field with the same default; `root` defaults to the
 * runner's project root instead of the process's working directory.
 */
export type PeerClusterOptions = Partial<ClusterOptions>;

const NESTED = ['heartbeat', 'healer'] as const;

export function resolveClusterOptions(input: {
  count: number | undefined;
  environment: PeerClusterOptions | undefined;
  suite: PeerClusterOptions | undefined;
  projectRoot: string;
}): ClusterOptions {
  const environment = input.environment ?? {};
  const suite = input.suite ?? {};
  const merged: Record<string, unknown> = { ...environment, ...suite };
  for (const key of NESTED) {
    if (isPlainObject(environment[key]) && isPlainObject(suite[key])) {
      merged[key] = { ...environment[key], ...suite[key] };
    }
  }
  // Two env records add up; a function (per-peer env) is taken whole.
  if (isPlainObject(environment.env) && isPlainObject(suite.env))
    merged.env = { ...environment.env, ...suite.env };
  if (input.count !== undefined) merged.count = input.count;
  const root = (suite.root ?? environment.root) as string | undefined;
  merged.root = root === undefined ? input.projectRoot : resolveFrom(input.projectRoot, root);
  return merged as unknown as ClusterOptions;
}

function resolveFrom(base: string, path: string): string {
  // A non-string is left for startCluster's validation to name.
  if (typeof path !== 'string' || isAbsolute(path)) return path;
  return resolve(base, path);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The `'peer-cluster'` entry of a runner's environment options, checked to be an object (its
 * fields are validated by startCluster, which names each one). `where` names the option for
 * the error, `hint` says where it is set.
 */
export function environmentClusterOptions(
  value: unknown,
  where: string,
  hint: string,
): PeerClusterOptions | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value))
    throw new InvalidOptionsError(where, value, 'must be an object of cluster options', hint);
  return value as PeerClusterOptions;
}
