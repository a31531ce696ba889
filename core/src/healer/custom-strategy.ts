// customStrategy: a strategy from plain callbacks, Barnacle's custom-callback strategy.
//
//   const nodes = ['a@127.0.0.1:4001', 'b@127.0.0.1:4002'];
//   const strategy = customStrategy({ discover: () => nodes });
//
// Only `discover` is required. `connect`, `disconnect` and `list` replace the node's own link,
// unlink and list (Barnacle's overridable functions); `register` and `watch` are as in Strategy.
// An inline strategy has no `spec`: given to the harness, it keeps running in the test process
// and answers the peers' discover requests over the control channel.

import { InvalidOptionsError } from '../errors.js';
import type { Strategy } from '../types.js';
import { portableStrategy } from './portable.js';

export type CustomStrategyCallbacks = Pick<Strategy, 'discover'> &
  Partial<Pick<Strategy, 'connect' | 'disconnect' | 'list' | 'register' | 'watch'>> & {
    /** Shown in logs and errors. @default 'custom' */
    name?: string | undefined;
  };

export function customStrategy(callbacks: CustomStrategyCallbacks): Strategy {
  if (typeof callbacks !== 'object' || callbacks === null || typeof callbacks.discover !== 'function') {
    throw new InvalidOptionsError(
      'discover',
      callbacks?.discover,
      'customStrategy needs a discover(ctx) function returning node addresses',
      'Example: customStrategy({ discover: () => ["a@127.0.0.1:4001"] }).',
    );
  }
  for (const key of ['connect', 'disconnect', 'list', 'register', 'watch'] as const) {
    if (callbacks[key] !== undefined && typeof callbacks[key] !== 'function') {
      throw new InvalidOptionsError(key, callbacks[key], 'expected a function');
    }
  }
  const strategy: Strategy = { name: callbacks.name ?? 'custom', discover: callbacks.discover };
  if (callbacks.connect) strategy.connect = callbacks.connect;
  if (callbacks.disconnect) strategy.disconnect = callbacks.disconnect;
  if (callbacks.list) strategy.list = callbacks.list;
  if (callbacks.register) strategy.register = callbacks.register;
  if (callbacks.watch) strategy.watch = callbacks.watch;
  // Cloned into a runner's workers it arrives as `{ name }`, which the runner's environment then
  // names as a mistake (a config cannot carry callbacks), the same way whichever the runner.
  return portableStrategy(strategy);
}
