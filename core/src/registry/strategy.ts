/**
 * The local-registry strategy: nodes on this machine find each other through the registry daemon,
 * the way BEAM nodes find each other through EPMD. The default strategy of `startCluster`.
 *
 * Options:
 * - `host` — the registry's address. @default the host of env PEER_CLUSTER_REGISTRY, else '127.0.0.1'
 * - `port` — the registry's port. @default the port of env PEER_CLUSTER_REGISTRY, else 14369
 *
 * `register` announces the node for as long as its process keeps the registry connection (a crash
 * withdraws it at once); `discover` lists the node's own cluster; `watch` makes the healer refresh
 * shortly after a node registers or leaves instead of waiting for the next poll. If the daemon goes
 * away, the strategy starts a new one, registers again and triggers a refresh.
 *
 * @example
 * const node = await startNode({ name: 'a', cookie, cluster: 'orders', strategy: localRegistryStrategy() });
 */
import { InvalidOptionsError } from '../errors.js';
import { portableStrategy } from '../healer/portable.js';
import type { Strategy, StrategyContext } from '../types.js';
import { resolveRegistryAddress } from './address.js';
import type { RegistryClient } from './client.js';
import { sharedRegistryClient } from './shared.js';

export interface LocalRegistryOptions {
  /** @default the host of env PEER_CLUSTER_REGISTRY, else '127.0.0.1' */
  host?: string | undefined;
  /** @default the port of env PEER_CLUSTER_REGISTRY, else 14369 */
  port?: number | undefined;
}

// Checked by hand (see link/options.ts): every peer re-creates this strategy from its spec.
function checkOptions(options: unknown): [option: string, value: unknown, message: string] | undefined {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    return ['options', options, 'expected an options object { host?, port? }'];
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'host' && key !== 'port') return [key, o[key], 'unknown option (expected host or port)'];
  }
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host.length === 0))
    return ['host', o.host, 'expected a non-empty host name or address'];
  if (
    o.port !== undefined &&
    !(Number.isSafeInteger(o.port) && (o.port as number) >= 1 && (o.port as number) <= 65535)
  )
    return ['port', o.port, 'expected a whole number from 1 to 65535'];
  return undefined;
}

/**
 * A push (a node registered or left) makes the healer refresh this much later, once for every push
 * meanwhile, in ms. The refresh itself is cheap (the client answers discover from the pushes, no
 * round trip), and it must not wait: of a newcomer and a node already there, only the pair's
 * designated dialer dials at once (healer/refresh.ts), so half of a newcomer's links wait for the
 * push to reach the other end. A timer of 0 still makes the pushes read together one refresh, and
 * the healer folds every trigger that comes while a refresh runs into one more. At 5 ms, a
 * restarted peer was relinked ≈3 ms later (bench `heal-after-restart` ≈8.5 against ≈5.3 ms), and
 * a 50-peer start took ≈2 % longer, for about as many refreshes.
 */
const PUSH_DELAY = 0;
/** How long to wait between two attempts to reach a registry that went away. */
const RETRY_DELAY = 500;
/** After the daemon is replaced, how long the nodes the old one listed still count as discovered. */
const REREGISTER_GRACE = 10_000;

/**
 * A daemon that replaces a dead one starts empty, and the nodes register with it one by one as
 * they notice. A healer refreshing meanwhile would unlink every node not back yet: links that
 * never broke would flap. So for a grace period after a replacement, the nodes the old daemon
 * listed are still discovered (a dead one among them just fails to link until the grace ends).
 */
class DaemonReplacements {
  readonly #last = new Map<string, { pid: number; ids: string[]; replacedBy?: number; at?: number }>();

  discovered(self: string, pid: number, ids: string[]): string[] {
    const last = this.#last.get(self);
    if (last && last.pid !== pid) {
      if (last.replacedBy !== pid) {
        last.replacedBy = pid;
        last.at = Date.now();
      }
      if (Date.now() - last.at! < REREGISTER_GRACE) return [...new Set([...ids, ...last.ids])];
    }
    this.#last.set(self, { pid, ids });
    return ids;
  }
}

export function localRegistryStrategy(options: LocalRegistryOptions = {}): Strategy {
  const problem = checkOptions(options ?? {});
  if (problem) throw new InvalidOptionsError(`localRegistry.${problem[0]}`, problem[1], problem[2]);
  // Resolved now: a peer re-creating this strategy from its spec does not inherit the env that
  // may name the registry (PEER_CLUSTER_REGISTRY).
  const clientOptions = resolveRegistryAddress(options ?? {});
  const client = () => sharedRegistryClient(clientOptions);
  const replacements = new DaemonReplacements();

  return portableStrategy({
    name: 'local-registry',
    spec: { module: import.meta.url, export: 'localRegistryStrategy', options: clientOptions },

    async discover(ctx) {
      const c = await client();
      const scope = scopeOf(ctx);
      // Clusters of the same name (parallel test files that name theirs alike) share the
      // registry's list: another startCluster()'s nodes are not ours, and a dial would only be
      // refused on the cookie. (A node registered without a scope is kept: a lone peer, a node of
      // startNode, or an older client.) The likely real nodes first, for the healer dials the
      // first ones first (healer/refresh.ts, Dials): those of this node's own startCluster(), then
      // the newest registrations (the registry lists them in the order they registered).
      const ids = (await c.list(ctx.self.cluster))
        .filter(
          (n) => n.id !== ctx.self.id && (n.scope === undefined || scope === undefined || n.scope === scope),
        )
        .reverse()
        .sort(
          (x, y) =>
            Number(scope !== undefined && y.scope === scope) -
            Number(scope !== undefined && x.scope === scope),
        )
        .map((n) => n.id);
      return replacements.discovered(ctx.self.id, c.daemonPid, ids);
    },

    async register(ctx) {
      const { id, name, host, port, cluster } = ctx.self;
      const scope = scopeOf(ctx);
      let unregister: (() => Promise<void>) | undefined;
      const stop = await keepAttached(ctx, client, async (c) => {
        unregister = await c.register(cluster, { id, name, host, port, ...(scope && { scope }) });
      });
      return async () => {
        stop();
        await unregister?.().catch(() => {});
      };
    },

    async watch(ctx, onChange) {
      let unwatch: (() => Promise<void>) | undefined;
      let first = true;
      let pending: NodeJS.Timeout | undefined;
      const pushed = () => {
        pending ??= setTimeout(() => {
          pending = undefined;
          onChange();
        }, PUSH_DELAY);
        pending.unref();
      };
      const stop = await keepAttached(ctx, client, async (c) => {
        unwatch = await c.watch(ctx.self.cluster, pushed);
        // After a reconnect the cluster may have changed while nobody was watching.
        if (!first) onChange();
        first = false;
      });
      return () => {
        stop();
        clearTimeout(pending);
        void unwatch?.().catch(() => {});
      };
    },
  });
}

/** The startCluster() the node belongs to (link/options.ts InternalNodeOptions), if any. */
function scopeOf(ctx: StrategyContext): string | undefined {
  return (ctx.node as { scope?: string }).scope;
}

/**
 * Runs `attach` on the shared client now (failing if it fails), and again on a new connection each
 * time the connection is lost, until the returned function is called.
 */
async function keepAttached(
  ctx: StrategyContext,
  client: () => Promise<RegistryClient>,
  attach: (client: RegistryClient) => Promise<void>,
): Promise<() => void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let attached: RegistryClient | undefined;
  const onClose = () => {
    attached = undefined;
    if (!stopped) reattach();
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    attached?.off('close', onClose);
  };
  const once = async () => {
    const c = await client();
    try {
      await attach(c);
    } catch (error) {
      // Cut while attaching (the daemon died, or is being replaced): a new connection may serve.
      if (c.closed) throw new ConnectionLost(error);
      throw error;
    }
    if (c.closed) throw new ConnectionLost();
    if (stopped) return;
    attached = c;
    c.once('close', onClose);
  };
  const reattach = () => {
    if (stopped) return;
    once().catch((error: Error) => {
      if (stopped) return;
      ctx.log(`local registry: ${error.message}; retrying`);
      timer = setTimeout(reattach, RETRY_DELAY);
      timer.unref();
    });
  };
  // The first attach too: a node booting as the daemon dies registers with the next one, as one
  // already running does (reattach), instead of failing its boot. A registry that cannot be
  // reached or started at all is still an error, thrown by client().
  for (let attempt = 1; ; attempt++) {
    try {
      await once();
      return stop;
    } catch (error) {
      if (!(error instanceof ConnectionLost) || attempt >= FIRST_ATTACH_ATTEMPTS) {
        stop();
        throw error instanceof ConnectionLost && error.cause instanceof Error ? error.cause : error;
      }
    }
  }
}

/** How many connections in a row the first attach tries, each cut before it was done. */
const FIRST_ATTACH_ATTEMPTS = 5;

/** The connection an attach used closed before the attach was done. */
class ConnectionLost extends Error {
  constructor(cause?: unknown) {
    super('the registry connection closed', cause === undefined ? undefined : { cause });
  }
}
