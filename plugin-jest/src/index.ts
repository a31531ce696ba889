// The ESM entry, for ESM test files: the same usePeers shim. Jest itself loads the environment
// through the CommonJS entry; to extend the class, import 'jest-environment-peer-cluster/environment'.
export type {
  App,
  AppContext,
  AppStop,
  Cluster,
  ClusterEvent,
  ClusterNode,
  ClusterOptions,
  LogLine,
  NodeId,
  Peer,
  PeerEvents,
  PeerState,
  Strategy,
  StrategyData,
} from '@peer-cluster/core';
export type { PeerClusterOptions } from '@peer-cluster/core/harness';
// usePeers and the error classes, as values (instanceof, toThrow).
export * from './use-peers.cjs';
