// vitest-environment-peer-cluster: `environment: 'peer-cluster'` in a Vitest config (or
// `// @vitest-environment peer-cluster` in a file) and `usePeers` in its tests.
import type { PeerClusterOptions } from '@peer-cluster/core/harness';
import type {} from 'vitest/node';

export { default } from './environment.js';
export { createPeersTest, type PeersFixtureOptions, peersFixture } from './fixture.js';
export { usePeers } from './use-peers.js';
export type { PeerClusterOptions };

declare module 'vitest/node' {
  interface EnvironmentOptions {
    /** Cluster options for every usePeers in the project; usePeers' own options override them. */
    'peer-cluster'?: PeerClusterOptions;
  }
}
