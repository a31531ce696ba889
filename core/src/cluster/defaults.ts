// The strategy a cluster uses when none is given. One function, so switching the default is one line.
import type { Strategy } from '../types.js';
import { harnessStrategy } from './harness-strategy.js';

export function defaultStrategy(): Strategy {
  return harnessStrategy();
}
