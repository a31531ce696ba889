/**
 * `localRegistry` — nodes on this machine find each other through peer-cluster's local registry
 * daemon, like BEAM nodes through EPMD. The default strategy of `startCluster` and `usePeers`.
 *
 * Options:
 * - `host` — the registry's address. @default the host of env PEER_CLUSTER_REGISTRY, else '127.0.0.1'
 * - `port` — the registry's port. @default the port of env PEER_CLUSTER_REGISTRY, else 14369
 *
 * A node registers for as long as its process holds its registry connection (a crash withdraws it
 * at once), discovers the nodes of its own cluster, and refreshes the moment one registers or
 * leaves (no waiting for the next poll). The first process that finds no registry starts one; it
 * exits by itself after 30 s with no connection. This package is only the discovery client: the
 * daemon is core's, because it also leases app ports whatever strategy a cluster uses.
 *
 * @example
 * import { startCluster } from '@peer-cluster/core';
 * import { localRegistry } from '@peer-cluster/strategy-local-registry';
 *
 * const cluster = await startCluster({ count: 3, apps: ['./app.ts'], strategy: localRegistry() });
 */
import type { Strategy } from '@peer-cluster/core';
import { type LocalRegistryOptions, localRegistryStrategy } from '@peer-cluster/core/registry';

export type { LocalRegistryOptions };

/**
 * Core's own strategy, spec included: a peer re-creates it from the runtime it already runs
 * (bundled), where a spec naming this package would import all of core again, unbundled, in every
 * peer (≈+80 ms and +17 MiB each).
 */
export function localRegistry(options: LocalRegistryOptions = {}): Strategy {
  return localRegistryStrategy(options);
}
