// The strategy a cluster uses when none is given: the local registry, like EPMD for Erlang nodes.
import { localRegistryStrategy } from '../registry/strategy.js';
import type { Strategy } from '../types.js';

export function defaultStrategy(): Strategy {
  return localRegistryStrategy();
}
