// `@peer-cluster/core/registry`: the local registry daemon and its client, for tools built on them
// (a strategy of one's own that leases ports, a dashboard, tests of such tools). A test suite needs
// none of it: `startCluster` and `usePeers` start and use the registry themselves, and the
// `localRegistry()` strategy and `peer-cluster registry`/`ls` are how users reach it.
/// <reference types="node" preserve="true" />
export { DEFAULT_REGISTRY_PORT } from './address.js';
export { RegistryClient, type RegistryClientOptions, type RegistryStatus } from './client.js';
export { type RegistryHandle, type RegistryOptions, runRegistry } from './daemon.js';
export { type LeaseOptions, leasePorts, type PortLease } from './ports.js';
export { PROTOCOL_VERSION as REGISTRY_PROTOCOL_VERSION, type RegisteredNode } from './protocol.js';
export { type LocalRegistryOptions, localRegistryStrategy } from './strategy.js';
