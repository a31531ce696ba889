// Inside a peer: a strategy whose callbacks run in the test process (an inline
// `customStrategy(...)`, or the harness default), asked over the control channel.
import type { NodeId, Strategy, StrategyContext } from '../types.js';
import type { Channel } from './channel.js';
import type { StrategyCaps } from './protocol.js';

export function proxyStrategy(
  channel: Channel,
  name: string,
  caps: StrategyCaps,
  watchers: Map<number, () => void>,
): Strategy {
  const ask = (ctx: StrategyContext, op: string, ...args: unknown[]) =>
    channel.request('strategy', [op, ctx.self, ...args]);
  let nextWatch = 1;
  const strategy: Strategy = {
    name,
    discover: async (ctx) => (await ask(ctx, 'discover')) as string[],
  };
  if (caps.register) {
    strategy.register = async (ctx) => {
      const handle = await ask(ctx, 'register');
      return async () => {
        await ask(ctx, 'unregister', handle);
      };
    };
  }
  if (caps.watch) {
    strategy.watch = async (ctx, onChange) => {
      const id = nextWatch++;
      watchers.set(id, onChange);
      await ask(ctx, 'watch', id);
      return () => {
        watchers.delete(id);
        ask(ctx, 'unwatch', id).catch(() => {});
      };
    };
  }
  if (caps.connect) strategy.connect = async (ctx, address) => (await ask(ctx, 'connect', address)) as NodeId;
  if (caps.disconnect) {
    strategy.disconnect = async (ctx, id) => {
      await ask(ctx, 'disconnect', id);
    };
  }
  if (caps.list) strategy.list = async (ctx) => (await ask(ctx, 'list')) as NodeId[];
  return strategy;
}
