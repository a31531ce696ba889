// A strategy that survives the trip through a runner's config. Vitest clones `environmentOptions`
// into its workers (a function cannot be cloned: the pool fails to start), Jest sends its config
// to its workers as JSON (functions are dropped). With its functions made non-enumerable, a
// strategy crosses as `{ name, spec }`: both leave non-enumerable properties behind, and
// startCluster re-creates the strategy in each peer from that spec, as it always does.
import type { Strategy } from '../types.js';

/** Marks a factory-made strategy (one with a `spec`) as one that a runner's config may hold. */
export function portableStrategy<T extends Strategy>(strategy: T): T {
  for (const [key, value] of Object.entries(strategy)) {
    if (typeof value === 'function') Object.defineProperty(strategy, key, { enumerable: false });
  }
  return strategy;
}
