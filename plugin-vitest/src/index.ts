// vitest-environment-peer-cluster: `environment: 'peer-cluster'` in a Vitest config (or
// `// @vitest-environment peer-cluster` in a file) and `usePeers` in its tests.
//
// Vitest's EnvironmentOptions cannot be augmented from outside: its declaration lives in a
// hash-named chunk and `vitest/node` only re-exports it. Type the options with
// `{ 'peer-cluster': { ... } satisfies PeerClusterOptions }` instead.
// The types a test file needs, so that it need not depend on core itself.
// The error classes, as values (instanceof, toThrow).
export * from '@peer-cluster/core/errors';
export type * from '@peer-cluster/core/types';
export { default } from './environment.js';
export { createPeersTest, type PeersFixtureOptions, peersFixture } from './fixture.js';
export { usePeers } from './use-peers.js';
