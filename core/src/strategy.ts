// `@peer-cluster/core/strategy`: what a strategy package needs from core, and nothing else.
// A strategy made by a factory is re-created in every peer from its module (StrategySpec), at
// boot; importing `@peer-cluster/core` there would load all of core again, unbundled (zod, the
// harness, the cluster code), ≈120 ms of CPU per peer. These few modules cost ≈1.
export { InvalidOptionsError, PeerClusterError } from './errors.js';
export { type ParsedAddress, parseAddress } from './link/address.js';
export type { NodeAddress, NodeInfo, Strategy, StrategyContext, StrategySpec } from './types.js';
