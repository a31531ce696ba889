// How usePeers builds a cluster's options: startCluster's defaults, then the environment's
// options, then the options given to usePeers. Nested objects merge one level so that an
// environment can set `heartbeat.interval` and a suite only `heartbeat.timeout`.
import { isAbsolute, resolve } from 'node:path';
import { editDistance } from '../edit-distance.js';
import { InvalidOptionsError } from '../errors.js';
import type { ClusterOptions } from '../index.js';
import {
  CLUSTER_OPTION_NAMES,
  definedOnly,
  directoryProblem,
  validateEnvironmentOptions,
} from '../options.js';

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
  // An option given as undefined is an option not given: it overrides nothing.
  const environment = definedOnly(input.environment ?? {});
  const suite = definedOnly(input.suite ?? {});
  const merged: Record<string, unknown> = { ...environment, ...suite };
  for (const key of NESTED) {
    const [outer, inner] = [environment[key], suite[key]];
    if (isPlainObject(outer) && isPlainObject(inner))
      merged[key] = { ...definedOnly(outer), ...definedOnly(inner) };
    else if (isPlainObject(merged[key])) merged[key] = definedOnly(merged[key] as Record<string, unknown>);
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

/**
 * A relative `root` given to usePeers, checked against the project root it resolves from while
 * the value as written is known: startCluster would name only the absolute path it came to.
 */
export function checkRelativeRoot(root: unknown, projectRoot: string): void {
  if (typeof root !== 'string' || root === '' || isAbsolute(root)) return;
  const problem = directoryProblem(root, projectRoot);
  if (problem) throw new InvalidOptionsError('root', root, problem);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The key of a runner's environment options that holds the cluster options. */
export const OPTIONS_KEY = 'peer-cluster';

/**
 * The `'peer-cluster'` entry of a runner's environment options (`all`), checked to be an object
 * (its fields are validated by startCluster, which names each one). `where` names `all` for the
 * error (`environmentOptions`), `hint` says where it is set.
 */
export function environmentClusterOptions(
  all: unknown,
  where: string,
  hint: string,
  /** Another place the options may have come from (a file's comment), named in the errors. */
  alsoFrom?: string,
  /** What a relative `root` resolves from, to check it here too (else usePeers checks it). */
  projectRoot?: string,
): PeerClusterOptions | undefined {
  if (!isPlainObject(all)) return undefined;
  const orThere = alsoFrom === undefined ? '' : ` It may come from ${alsoFrom}.`;
  // `environmentOptions: { apps: […] }` would otherwise boot peers without their apps, silently.
  const misplaced = Object.keys(all).find((key) => CLUSTER_OPTION_NAMES.has(key));
  if (misplaced !== undefined)
    throw new InvalidOptionsError(
      `${where}.${misplaced}`,
      all[misplaced],
      `is a peer-cluster option outside the '${OPTIONS_KEY}' key, where it is not read`,
      `Move it into ${where}['${OPTIONS_KEY}']: { ${misplaced}: … }.${orThere}`,
    );
  const value = all[OPTIONS_KEY];
  if (value === undefined || value === null) {
    // `'peerCluster': { apps: […] }` would otherwise boot peers without their apps, silently.
    const misspelt = Object.keys(all).find((key) => editDistance(letters(key), letters(OPTIONS_KEY)) <= 2);
    if (misspelt !== undefined)
      throw new InvalidOptionsError(
        `${where}.${misspelt}`,
        all[misspelt],
        `looks like a misspelling of '${OPTIONS_KEY}', the key whose cluster options are read`,
        `Name it '${OPTIONS_KEY}'.${orThere}`,
      );
    return undefined;
  }
  if (!isPlainObject(value))
    throw new InvalidOptionsError(
      `${where}['${OPTIONS_KEY}']`,
      value,
      'must be an object of cluster options',
      `${hint}${orThere}`,
    );
  // A strategy without a spec runs its callbacks in the test process: a config, which the runner
  // clones or sends as JSON to its workers, cannot carry it (in-band, it would happen to work).
  const strategy = value.strategy as { name?: unknown; spec?: unknown } | undefined;
  if (typeof strategy === 'object' && strategy !== null && strategy.spec === undefined)
    throw new InvalidOptionsError(
      `${where}['${OPTIONS_KEY}'].strategy`,
      strategy,
      `is a strategy without a spec (${typeof strategy.name === 'string' ? `"${strategy.name}", ` : ''}customStrategy, say), whose callbacks run in the test process and cannot cross the runner's config to its workers`,
      'Give it to usePeers(count, { strategy }) in the test file, or make it a strategy module with a spec.',
    );
  // A function (an `env` or `host` of each peer) only arrives when the runner runs the file in its
  // own process: Jest sends the config to its workers as JSON, which drops it, so the same config
  // would boot peers without it as soon as Jest uses workers (two files or more), silently.
  const fn = Object.keys(value).find((key) => typeof value[key] === 'function');
  if (fn !== undefined)
    throw new InvalidOptionsError(
      `${where}['${OPTIONS_KEY}'].${fn}`,
      value[fn],
      `is a function, which the runner's config cannot carry to its workers (they would get no ${fn} at all)`,
      `Give it to usePeers(count, { ${fn} }) in the test file.`,
    );
  // A file's `@vitest-environment-options {"peer-cluster": {…}}`: the runner already wrapped it.
  if (OPTIONS_KEY in value)
    throw new InvalidOptionsError(
      `${where}['${OPTIONS_KEY}']['${OPTIONS_KEY}']`,
      value[OPTIONS_KEY],
      `nests the cluster options under '${OPTIONS_KEY}' twice`,
      `A file's options comment holds the options themselves: {"apps": […]}, not {"${OPTIONS_KEY}": {…}}.${orThere}`,
    );
  // Checked here, so that a mistake is reported as the config's, not as each usePeers' own.
  validateEnvironmentOptions(value, `${where}['${OPTIONS_KEY}']`, orThere.trim(), projectRoot);
  return value as PeerClusterOptions;
}

function letters(key: string): string {
  return key.toLowerCase().replace(/[^a-z]/g, '');
}
