// The ESM entry, for ESM test files: the same usePeers shim. Jest itself loads the environment
// through the CommonJS entry; to extend the class, import 'jest-environment-peer-cluster/environment'.
export type * from '@peer-cluster/core/types';
// usePeers and the error classes, as values (instanceof, toThrow).
export * from './use-peers.cjs';
