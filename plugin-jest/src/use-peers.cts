// The usePeers that test files import. It runs inside Jest's sandbox, which cannot `require` an
// ES module, so it is a tiny CommonJS shim (ESM files get it re-exported): the harness itself
// was put on the test's global by the environment, and this calls it with the test's hooks.
// Core is an ES module: its types come in with `resolution-mode: import`, without which a project
// on moduleResolution node16 (or nodenext before TypeScript 5.8) gets an error from our .d.cts.
import type { Cluster, ClusterOptions, Peer, PeerOptions } from '@peer-cluster/core' with {
  'resolution-mode': 'import',
};
import type * as Errors from '@peer-cluster/core/errors' with { 'resolution-mode': 'import' };
import type { HarnessState, PeerClusterOptions, RunnerHooks } from '@peer-cluster/core/harness' with {
  'resolution-mode': 'import',
};

const HARNESS_KEY = Symbol.for('peer-cluster');

/**
 * Core's PeerClusterError cannot be required from here, so this is a copy under the brand core's
 * `instanceof` recognises: `error instanceof PeerClusterError` holds for the error below.
 */
const BRAND = Symbol.for('peer-cluster.error');
const BrandedError = class PeerClusterError extends Error {
  static readonly [BRAND] = true;
};

/** usePeers (or startCluster…) was called in a test file that does not run in the peer-cluster environment. */
export class MissingEnvironmentError extends BrandedError {
  constructor(what = 'usePeers()') {
    super(
      `${what} from jest-environment-peer-cluster needs its test environment: set testEnvironment: 'peer-cluster' in your Jest config, or put /** @jest-environment peer-cluster */ at the top of this test file.`,
    );
    this.name = 'MissingEnvironmentError';
  }
}

/**
 * A cluster for the enclosing `describe` (or file): started in its `beforeAll`, stopped in its
 * `afterAll`. Options merge over `testEnvironmentOptions['peer-cluster']`, which merge over the
 * defaults. Use the returned handle inside tests and hooks; when a test fails, the peers' recent
 * logs and the cluster timeline are added to its report.
 *
 * @example
 * const cluster = usePeers(3, { apps: ['./src/server.js'] });
 * test('replicates', async () => {
 *   await cluster.peer(0).call('put', 'k', 'v');
 * });
 */
export function usePeers(count?: number, options?: PeerClusterOptions): Cluster {
  const state = (globalThis as { [HARNESS_KEY]?: HarnessState })[HARNESS_KEY];
  if (!state?.usePeers) throw new MissingEnvironmentError();
  return state.usePeers(count, options, runnerHooks());
}

/**
 * `startCluster` of `@peer-cluster/core`, the same function: a cluster the test starts and stops
 * itself. From here, a CommonJS test file has it (Jest's `require` cannot load core, an ES module),
 * and every file of a worker uses the environment's one copy of core, with its one registry
 * connection, instead of loading its own into its sandbox.
 */
export function startCluster(options?: ClusterOptions): Promise<Cluster> {
  const core = (globalThis as { [HARNESS_KEY]?: HarnessState })[HARNESS_KEY]?.core;
  return core ? core.startCluster(options) : Promise.reject(new MissingEnvironmentError('startCluster()'));
}

/** `spawnPeer` of `@peer-cluster/core`, the same function (see startCluster). */
export function spawnPeer(options?: PeerOptions): Promise<Peer> {
  const core = (globalThis as { [HARNESS_KEY]?: HarnessState })[HARNESS_KEY]?.core;
  return core ? core.spawnPeer(options) : Promise.reject(new MissingEnvironmentError('spawnPeer()'));
}

function runnerHooks(): RunnerHooks {
  const global = globalThis as Partial<RunnerHooks>;
  if (typeof global.beforeAll === 'function' && typeof global.afterAll === 'function') {
    return { beforeAll: global.beforeAll, afterAll: global.afterAll };
  }
  // With `injectGlobals: false` the hooks only exist on @jest/globals, which Jest's module
  // registry provides to the sandbox.
  return require('@jest/globals') as RunnerHooks;
}

type ErrorClasses = typeof Errors;

/**
 * Core's error class `name`, which the environment handed over: the class the harness throws, so
 * that `instanceof` and `toThrow(PeerExitedError)` hold. Outside the environment, a stand-in that
 * says the environment is missing when used.
 */
function errorClass<K extends keyof ErrorClasses>(name: K): ErrorClasses[K] {
  const state = (globalThis as { [HARNESS_KEY]?: HarnessState })[HARNESS_KEY];
  if (state?.errors) return state.errors[name];
  const missing = class {
    constructor() {
      throw new MissingEnvironmentError();
    }
    static [Symbol.hasInstance](): boolean {
      throw new MissingEnvironmentError();
    }
  };
  Object.defineProperty(missing, 'name', { value: name });
  return missing as unknown as ErrorClasses[K];
}

// The same classes as `@peer-cluster/core/errors`, which CommonJS cannot import.
export const ClusterUnavailableError = errorClass('ClusterUnavailableError');
export const FrameError = errorClass('FrameError');
export const HandshakeError = errorClass('HandshakeError');
export const HealerShutdownError = errorClass('HealerShutdownError');
export const InvalidOptionsError = errorClass('InvalidOptionsError');
export const LinkError = errorClass('LinkError');
export const LogTimeoutError = errorClass('LogTimeoutError');
export const MisplacedUsePeersError = errorClass('MisplacedUsePeersError');
export const NodeDownError = errorClass('NodeDownError');
export const PeerBootError = errorClass('PeerBootError');
export const PeerClusterError = errorClass('PeerClusterError');
export const PeerExitedError = errorClass('PeerExitedError');
export const RefreshTimeoutError = errorClass('RefreshTimeoutError');
export const RegistryUnavailableError = errorClass('RegistryUnavailableError');
export const RegistryVersionError = errorClass('RegistryVersionError');
export const RemoteError = errorClass('RemoteError');
export const RpcTimeoutError = errorClass('RpcTimeoutError');
export const UnknownMethodError = errorClass('UnknownMethodError');
export const WaitTimeoutError = errorClass('WaitTimeoutError');
