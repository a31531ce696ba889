// The runner-neutral harness behind `vitest-environment-peer-cluster` and
// `jest-environment-peer-cluster`: usePeers, the shared state, teardown and failure reports.
// Each plugin only adapts it to its runner's hooks.
/// <reference types="node" preserve="true" />

// The real clock, whatever a test did to Date (see clock.ts): loaded with the harness, first.
export { now as realNow } from '../clock.js';
export type { InFlight } from '../peer/channel.js';
export { echoPeerStdoutTo, silencePeerEcho } from '../peer/logs.js';
export { adoptValuesInto } from '../peer/realm.js';
export { currentTestScope, runInTestScope, type TestScope, withTestScope } from '../peer/test-scope.js';
export type { RunnerDeadline } from '../runner-deadline.js';
export {
  type FailureReportOptions,
  failureReportError,
  formatFailureReport,
  formatFailureReports,
  type ReportedCluster,
  type ReportedPeer,
  wantsFailureReport,
} from './failure-report.js';
export {
  type ClusterHandle,
  ClusterUnavailableError,
  createClusterHandle,
  MisplacedUsePeersError,
} from './handle.js';
export { environmentClusterOptions, type PeerClusterOptions, resolveClusterOptions } from './options.js';
export {
  type CoreFunctions,
  coreFunctions,
  HARNESS_KEY,
  type HarnessState,
  harnessState,
  killClustersWhenRunnerDies,
  killTrackedClusters,
  type RunnerHooks,
  shareHarnessState,
  stopBootingClusters,
  stopTrackedClusters,
  type TrackedCluster,
} from './state.js';
export {
  connectRegistryEarly,
  hookTimeouts,
  type ProvisionRequest,
  startTracked,
  stopTracked,
  trackCluster,
} from './tracked.js';
export { createUsePeers, type HarnessAdapter, trackedFailureReport, type UsePeers } from './use-peers.js';
