// The declarations use Node's types (EventEmitter, NodeJS.Signals…): a project that lists its
// `types` (or TypeScript 6, which lists none by default) loads them through this entry point.
/// <reference types="node" preserve="true" />
export { Cluster, startCluster } from './cluster/cluster.js';
// The error classes (the helpers beside them in errors.ts are internal).
export type {
  BootPhase,
  LogTimeoutDetails,
  PeerBootErrorDetails,
  RemoteErrorData,
  SerializedError,
} from './errors.js';
export { type CustomStrategyCallbacks, customStrategy } from './healer/custom-strategy.js';
export { portableStrategy } from './healer/portable.js';
export { runOnce } from './healer/run-once.js';
export { type ParsedAddress, parseAddress } from './link/address.js';
export { NODE_DEFAULTS } from './link/options.js';
export type {
  ClusterOptions,
  EnvValue,
  LogsMode,
  PeerEnv,
  PeerHost,
  PeerOptions,
  PeerSetup,
  WaitForLogOptions,
} from './options.js';
export { type LogLine, Peer, type PeerEvents, type PeerState, spawnPeer } from './peer/peer.js';
export * from './public-errors.js';
// The registry daemon and its client are `@peer-cluster/core/registry`'s.
export { startNode } from './start-node.js';
export type * from './types.js';
