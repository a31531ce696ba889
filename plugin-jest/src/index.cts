// The CommonJS entry: what Jest loads as the environment (its resolver uses the `require`
// condition) and what CommonJS test files get from require('jest-environment-peer-cluster').
// The environment class is loaded on first access only, so that a test file's require does not
// pull jest-environment-node into the test's sandbox.
export type * from '@peer-cluster/core/types' with { 'resolution-mode': 'import' };
export type { default } from './environment.cjs';
// usePeers and the error classes, as values (instanceof, toThrow).
export * from './use-peers.cjs';

Object.defineProperty(exports, 'default', {
  enumerable: true,
  configurable: true,
  get: () => (require('./environment.cjs') as typeof import('./environment.cjs')).default,
});
