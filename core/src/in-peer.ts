// `@peer-cluster/core/peer`: what code running inside a peer (an app, a strategy module) needs from
// core, and nothing else: the named errors, parseAddress and the types. Each peer loads its apps
// and its strategy's module (StrategySpec) at boot, and `@peer-cluster/core` would load all of core
// there again, unbundled (the harness, the cluster code, valibot): ≈55 ms of CPU per peer, where
// this costs ≈3. The errors are the ones the peer's node, its healer and its strategy throw (a
// failed dial's LinkError, a refresh's RefreshTimeoutError, the local registry's errors: see
// PeerClusterError's `instanceof`).
/// <reference types="node" preserve="true" />
export {
  HandshakeError,
  HealerShutdownError,
  InvalidOptionsError,
  LinkError,
  NodeDownError,
  PeerClusterError,
  RefreshTimeoutError,
  RegistryUnavailableError,
  RegistryVersionError,
  RemoteError,
  RpcTimeoutError,
} from './errors.js';
export { portableStrategy } from './healer/portable.js';
export { type ParsedAddress, parseAddress } from './link/address.js';
export { UnknownMethodError } from './link/rpc.js';
export type {
  App,
  AppCluster,
  AppContext,
  AppStop,
  ClusterNode,
  NodeAddress,
  NodeDownInfo,
  NodeDownReason,
  NodeId,
  NodeInfo,
  Strategy,
  StrategyContext,
  StrategySpec,
} from './types.js';
