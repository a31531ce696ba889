// `@peer-cluster/core/types`: the types a test file needs, which both plugins re-export (so that a
// test file need not depend on core itself). Types only: the module is empty at run time.
/// <reference types="node" preserve="true" />

export type { PeerClusterOptions } from './harness/options.js';
export type {
  App,
  AppContext,
  AppStop,
  Cluster,
  ClusterEvent,
  ClusterNode,
  ClusterOptions,
  LogLine,
  NodeDownInfo,
  NodeDownReason,
  NodeId,
  Peer,
  PeerEvents,
  PeerState,
  Strategy,
  StrategyData,
  WaitForLogOptions,
} from './index.js';
