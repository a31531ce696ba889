// In the test process: runs an inline strategy (one without a `spec`, e.g. an inline
// `customStrategy(...)`) for one peer, answering its healer's requests over the control channel.
// Registrations and watches end with the peer's process, however it ends.
import type { ClusterNode, NodeId, NodeInfo, Strategy, StrategyContext } from '../types.js';
import type { StrategyCaps } from './protocol.js';

/** What the host needs from the peer it serves. */
export interface StrategyPeer {
  /** The ids the peer is linked to, as last reported. */
  linked(): NodeId[];
  request(op: string, args: unknown[]): Promise<unknown>;
  /** Tell the peer's watcher `id` that the nodes may have changed. */
  notify(watch: number): void;
  log(line: string): void;
}

export function strategyCaps(strategy: Strategy): StrategyCaps {
  return {
    register: typeof strategy.register === 'function',
    watch: typeof strategy.watch === 'function',
    connect: typeof strategy.connect === 'function',
    disconnect: typeof strategy.disconnect === 'function',
    list: typeof strategy.list === 'function',
  };
}

export class StrategyHost {
  #registrations = new Map<number, () => void | Promise<void>>();
  #watches = new Map<number, () => void>();
  #next = 1;
  #abort = new AbortController();

  constructor(
    private readonly strategy: Strategy,
    private readonly peer: StrategyPeer,
  ) {}

  async serve(args: unknown[]): Promise<unknown> {
    const [op, self, arg] = args as [string, NodeInfo, unknown];
    const s = this.strategy;
    const ctx = this.#context(self);
    switch (op) {
      case 'discover':
        return s.discover(ctx);
      case 'register': {
        const unregister = await s.register!(ctx);
        const handle = this.#next++;
        this.#registrations.set(handle, unregister);
        return handle;
      }
      case 'unregister': {
        const unregister = this.#registrations.get(arg as number);
        this.#registrations.delete(arg as number);
        await unregister?.();
        return;
      }
      case 'watch': {
        const id = arg as number;
        this.#watches.set(id, await s.watch!(ctx, () => this.peer.notify(id)));
        return;
      }
      case 'unwatch': {
        this.#watches.get(arg as number)?.();
        this.#watches.delete(arg as number);
        return;
      }
      case 'connect':
        return s.connect!(ctx, arg as string);
      case 'disconnect':
        return s.disconnect!(ctx, arg as string);
      case 'list':
        return s.list!(ctx);
      default:
        throw new Error(`unknown strategy request ${op}`);
    }
  }

  /** The peer is gone: withdraw what it registered and stop its watches. */
  async close(): Promise<void> {
    this.#abort.abort();
    const registrations = [...this.#registrations.values()];
    this.#registrations.clear();
    for (const unwatch of this.#watches.values()) {
      try {
        unwatch();
      } catch {}
    }
    this.#watches.clear();
    await Promise.all(registrations.map(async (unregister) => unregister()?.catch?.(() => {}))).catch(
      () => {},
    );
  }

  #context(self: NodeInfo): StrategyContext {
    const peer = this.peer;
    // The node lives in the peer; this view forwards what a strategy's callbacks may use.
    const node = {
      ...self,
      nodes: () => peer.linked(),
      connect: (address: string) => peer.request('connect', [address]),
      disconnect: (id: string) => peer.request('disconnect', [id]),
    } as unknown as ClusterNode;
    return {
      self,
      node,
      signal: this.#abort.signal,
      log: (line) => peer.log(`[strategy ${this.strategy.name}] ${line}`),
    };
  }
}
