// Every named error a test may meet, as values: `@peer-cluster/core/errors`, which the plugins
// re-export (for `instanceof` and `toThrow(PeerExitedError)` without depending on core), and which
// Jest's environment hands to the package's CommonJS shim (that cannot import core).
/// <reference types="node" preserve="true" />
export {
  HandshakeError,
  HealerShutdownError,
  InvalidOptionsError,
  LinkError,
  LogTimeoutError,
  NodeDownError,
  PeerBootError,
  PeerClusterError,
  PeerExitedError,
  RefreshTimeoutError,
  RegistryUnavailableError,
  RegistryVersionError,
  RemoteError,
  RpcTimeoutError,
  WaitTimeoutError,
} from './errors.js';
export { ClusterUnavailableError, MisplacedUsePeersError } from './harness/handle.js';
export { FrameError } from './link/frame.js';
export { UnknownMethodError } from './link/rpc.js';
