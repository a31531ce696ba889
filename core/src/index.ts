export * from './errors.js';
export { DEFAULT_REGISTRY_PORT } from './registry/address.js';
export { RegistryClient, type RegistryClientOptions, type RegistryStatus } from './registry/client.js';
export { type RegistryHandle, type RegistryOptions, runRegistry } from './registry/daemon.js';
export { type LeaseOptions, leasePorts, type PortLease } from './registry/ports.js';
export { PROTOCOL_VERSION as REGISTRY_PROTOCOL_VERSION, type RegisteredNode } from './registry/protocol.js';
export { type LocalRegistryOptions, localRegistryStrategy } from './registry/strategy.js';
export type * from './types.js';
