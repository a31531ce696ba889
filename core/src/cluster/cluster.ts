// A cluster: peers started together under one name and cookie, meshed by their healers, with a
// timeline of everything that happened to them.

import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { now as clockNow } from '../clock.js';
import { InvalidOptionsError, WaitTimeoutError } from '../errors.js';
import { timeoutOption } from '../link/options.js';
import {
  type ClusterOptions,
  type PeerSetup,
  type ResolvedSetup,
  resolveClusterOptions,
  validateAddOptions,
  validateCount,
} from '../options.js';
import { locateApps } from '../peer/app-modules.js';
import type { InFlight } from '../peer/channel.js';
import { cookieFor, type InspectOptions, inspectAs, Peer, uniqueClusterName } from '../peer/peer.js';
import { realmArray, realmObject } from '../peer/realm.js';
import { PendingWaits, waitUntil } from '../peer/wait.js';
import { checkLeaseRoom, leasePortGroups } from '../registry/ports.js';
import type { ClusterEvent, NodeId, Strategy } from '../types.js';
import { defaultStrategy } from './defaults.js';
import { explainMissingLinks } from './explain-mesh.js';

/** How long `waitForMesh`, `partition` and `heal` wait by default, in ms. */
const MESH_TIMEOUT = 15_000;

type Setup = ResolvedSetup & { strategy: Strategy | undefined };

export class Cluster {
  /** The cluster name (`PEER_CLUSTER` in every peer). */
  readonly name: string;
  /** The peers, in the order they were added (removed ones are gone from it). */
  readonly peers: Peer[] = realmArray([]);
  /** Every lifecycle event, oldest first. */
  readonly timeline: ClusterEvent[] = realmArray([]);

  #setup: Setup;
  #cookie: string;
  /** Tells this cluster's nodes from another's of the same name (InternalNodeOptions). */
  readonly #scope = randomBytes(9).toString('base64url');
  #waitForMesh: boolean;
  #next = 0;
  #stopped: Promise<void> | undefined;
  /** The waits on the cluster in progress (waitForMesh), for failure reports. */
  readonly #waits = new PendingWaits();
  /** Peer name → group, while a partition is in force. */
  #groups: Map<string, number> | undefined;

  /** @internal Use startCluster(). */
  constructor(name: string, cookie: string, setup: Setup, waitForMesh: boolean) {
    this.name = name;
    this.#cookie = cookie;
    this.#setup = setup;
    this.#waitForMesh = waitForMesh;
  }

  /** A peer by name (`'peer-2'`) or by index (`peer.index`, 0 for the first peer started). */
  #find(nameOrIndex: string | number): Peer | undefined {
    return this.peers.find((p) => (typeof nameOrIndex === 'number' ? p.index : p.name) === nameOrIndex);
  }

  /** A node id (from nodes(), waitForNodes(), a nodeup) where a peer's name was meant: say whose. */
  #nodeIdHint(given: unknown): string | undefined {
    const owner = typeof given === 'string' ? this.peers.find((p) => p.node === given) : undefined;
    return owner && `That is the node id of ${owner.name}: give the peer, or its name "${owner.name}".`;
  }

  peer(nameOrIndex: string | number): Peer {
    const found = this.#find(nameOrIndex);
    if (!found) {
      throw new InvalidOptionsError(
        'peer(nameOrIndex)',
        nameOrIndex,
        `no such peer in cluster ${this.name}`,
        this.#nodeIdHint(nameOrIndex) ??
          `Its peers: ${this.peers.map((p) => `${p.name} (index ${p.index})`).join(', ') || 'none'}.`,
      );
    }
    return found;
  }

  /**
   * Starts `count` more peers (with `options` overriding the cluster's for them) and resolves
   * once they run and, unless `waitForMesh: false`, the mesh is complete again. `heartbeat`,
   * `healer` and two `env` records merge key by key, as usePeers' options do over the config's.
   */
  async add(count = 1, options?: Omit<PeerSetup, 'cookie'>): Promise<Peer[]> {
    this.#assertOpen('add()');
    validateCount(count, 'add(count)');
    const overrides = options === undefined ? {} : validateAddOptions(options);
    const setup: Setup = {
      ...this.#setup,
      ...(Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<Setup>),
      heartbeat: { ...this.#setup.heartbeat, ...overrides.heartbeat },
      healer: { ...this.#setup.healer, ...overrides.healer },
      cookie: this.#cookie,
    };
    // Two env records add up; a function (per-peer env) is taken whole.
    if (typeof this.#setup.env === 'object' && typeof overrides.env === 'object')
      setup.env = { ...this.#setup.env, ...overrides.env };
    // Located once for all the new peers, not once per peer: a missing app fails here, before any
    // peer or port lease exists, as fast for 100 000 peers as for one.
    const located = locateApps(setup.apps, setup.root, `peer-${this.#next + 1}`);
    // So are more app ports than the registry leases to this process: no peer is spawned for them.
    const sizes = Array.from({ length: count }, () => 1 + setup.ports.length);
    checkLeaseRoom(sizes);
    const peers: Peer[] = [];
    for (let i = 0; i < count; i++) {
      const index = this.#next++;
      peers.push(
        new Peer({
          name: `peer-${index + 1}`,
          index,
          cluster: this.name,
          cookie: this.#cookie,
          setup,
          releaseOnStop: false,
          scope: this.#scope,
          record: (event) => this.#record(event),
          blocked: () => this.#blockedFor(`peer-${index + 1}`),
          context: () => this.#contextFor(`peer-${index + 1}`),
          clusterSize: () => this.peers.length,
        }),
      );
    }
    // In `peers` from the start, so a stop() meanwhile stops them too. (One push per peer: a
    // spread of 100 000 arguments overflows the stack.)
    for (const peer of peers) this.peers.push(peer);
    // During a partition, newcomers are in no group: the peers in groups must refuse them.
    if (this.#groups) await this.#sendBlocks();
    // One registry request for the app ports of every new peer, not one per peer.
    const leases = leasePortGroups(sizes);
    let failure: unknown;
    await Promise.all(
      peers.map((peer, i) =>
        peer
          .boot(
            leases.then((all) => all[i]!),
            undefined,
            located,
          )
          .catch((error) => {
            // The first failure stops the others; their "stopped while booting" is not the news
            // (checked first: a scan of `peers` for each of them is quadratic).
            if (failure !== undefined) return;
            // A newcomer removed while it booted was let go on purpose: the others boot on.
            if (!this.peers.includes(peer)) return;
            failure = error;
            for (const other of peers) if (other !== peer) void other.stop().catch(() => {});
          }),
      ),
    );
    if (failure !== undefined) {
      const failed = new Set(peers);
      const kept = this.peers.filter((p) => !failed.has(p));
      this.peers.length = 0;
      for (const p of kept) this.peers.push(p);
      for (const p of peers)
        p.detach(`it failed to boot in cluster ${this.name}'s add()`, 'Call cluster.add() again.');
      await Promise.all(
        peers.map(async (p) => {
          await p.stop().catch(() => {});
          await p.releasePorts().catch(() => {});
        }),
      );
      throw failure;
    }
    // A big cluster on a busy machine may take a while to mesh: allow it what a boot gets.
    if (this.#waitForMesh) await this.#meshWait(setup.bootTimeout);
    const members = new Set(this.peers);
    return realmArray(peers.filter((p) => members.has(p)));
  }

  /** Stops a peer and takes it out of the cluster (its name is never given again). */
  async remove(peerOrName: Peer | string | number): Promise<void> {
    const peer = peerOrName instanceof Peer ? peerOrName : this.peer(peerOrName);
    const at = this.peers.indexOf(peer);
    if (at === -1) {
      // A second remove() (an afterEach cleaning up after the test did) says so.
      const removed = peer.cluster === this.name;
      throw new InvalidOptionsError(
        'remove(peer)',
        peer.name,
        removed
          ? `was removed from cluster ${this.name} already`
          : `is not a peer of cluster ${this.name} (it is a peer of cluster ${peer.cluster})`,
        removed ? 'Remove a peer once; cluster.peers lists those still in the cluster.' : undefined,
      );
    }
    this.peers.splice(at, 1);
    peer.detach(`it was removed from cluster ${this.name}`, 'Call cluster.add() for a new peer.');
    await peer.stop();
    await peer.releasePorts();
  }

  /**
   * Resolves when every running peer is linked to every other running peer (during a partition:
   * to every other running peer on its side).
   */
  async waitForMesh(options?: { timeout?: number | undefined }): Promise<void> {
    const timeout = timeoutOption('waitForMesh()', options, MESH_TIMEOUT);
    // A strategy that pushes no changes (static hosts, DNS) finds what changed at its healer's
    // next poll, up to pollInterval away: the test that awaits the mesh (having written the hosts
    // file, say) has the peers with a link missing look now. (Not at a boot's or a heal's wait:
    // the healers have just looked, or look at once.)
    const lacking = new Set(this.#missingLinks().flat());
    for (const peer of this.#running())
      if (lacking.has(peer.name)) (async () => peer.control('refresh', [], true))().catch(() => {});
    await this.#meshWait(timeout);
  }

  async #meshWait(timeout: number): Promise<void> {
    let missing: [string, string][] = [];
    try {
      await this.#waits.track(
        'waitForMesh()',
        () => `missing links ${listLinks(this.#missingLinks(), 5)}`,
        () =>
          this.#waitFor(
            () => (this.#missingLinks(1).length === 0 ? true : undefined),
            timeout,
            () => {
              missing = this.#missingLinks();
              return new WaitTimeoutError(`The mesh of cluster ${this.name}`, timeout, '');
            },
          ),
      );
    } catch (error) {
      if (!(error instanceof WaitTimeoutError) || missing.length === 0) throw error;
      // Each healer with a missing link says what it found: the error explains itself.
      // By name, of the peers still in the cluster (one may have been removed meanwhile).
      const byName = new Map(this.peers.map((p) => [p.name, p]));
      const pairs = missing.flatMap(([a, b]): [Peer, Peer][] => {
        const from = byName.get(a);
        const to = byName.get(b);
        return from && to ? [[from, to]] : [];
      });
      const why = [...(await explainMissingLinks(pairs)), ...this.#notRunning()];
      throw new WaitTimeoutError(
        `The mesh of cluster ${this.name}`,
        timeout,
        `missing links ${listLinks(missing, 10)}`,
        why,
      );
    }
    const running = this.#running().length;
    this.#record({
      type: 'mesh',
      detail: `${running} peer${running === 1 ? '' : 's'}${this.#groups ? ', each linked within its group of the partition' : ''}`,
    });
  }

  /**
   * Cuts every link between peers of different groups (peers in no group form one more group)
   * and keeps them cut (the healers do not relink) until `heal()`. Resolves when the links are cut.
   */
  async partition(...given: (Peer | string | number)[][]): Promise<void> {
    this.#assertOpen('partition()');
    // Peers, or their names or indexes (as `peer()` and `remove()` take them).
    const groups = given.map((group) =>
      Array.isArray(group)
        ? group.map((p) => (typeof p === 'string' || typeof p === 'number' ? (this.#find(p) ?? p) : p))
        : group,
    ) as Peer[][];
    if (groups.length === 0)
      throw new InvalidOptionsError(
        'partition(...groups)',
        groups,
        'needs at least one group of peers',
        'partition([a], [b, c]) cuts a off from b and c; the peers in no group form one more group.',
      );
    const groupOf = new Map<string, number>();
    groups.forEach((group, g) => {
      if (!Array.isArray(group)) {
        // partition(a, b) for partition([a], [b]): name the peer, not its fields.
        const given: unknown = group;
        const single = given instanceof Peer || typeof given === 'string' || typeof given === 'number';
        throw new InvalidOptionsError(
          `partition(groups[${g}])`,
          given instanceof Peer ? given.name : given,
          single ? 'must be an array of peers, and is a single peer' : 'must be an array of peers',
          'Each group is an array: partition([a], [b, c]) cuts a off from b and c, partition([a]) from all the others.',
        );
      }
      for (const peer of group) {
        if (!this.peers.includes(peer)) {
          const whose =
            !(peer instanceof Peer) || peer.cluster === this.name
              ? ''
              : ` (it is a peer of cluster ${peer.cluster})`;
          throw new InvalidOptionsError(
            `partition(groups[${g}])`,
            (peer as Peer)?.name ?? peer,
            `is not a peer of cluster ${this.name}${whose}`,
            peer instanceof Peer && peer.cluster === this.name
              ? 'It was removed from it.'
              : (this.#nodeIdHint(peer) ??
                  `Give peers, or their names or indexes: ${this.peers.map((p) => `${p.name} (index ${p.index})`).join(', ') || 'none'}.`),
          );
        }
        // A peer given twice (as itself, its name or its index) is a mistake: most likely another
        // peer was meant. Said before anything is cut.
        const other = groupOf.get(peer.name);
        if (other === g) {
          throw new InvalidOptionsError(
            `partition(groups[${g}])`,
            peer.name,
            `lists ${peer.name} twice (as a peer, its name or its index)`,
            `List each peer once; if another peer was meant, name it instead: ${this.peers.map((p) => `${p.name} (index ${p.index})`).join(', ')}.`,
          );
        }
        if (other !== undefined) {
          throw new InvalidOptionsError(
            `partition(groups[${g}])`,
            peer.name,
            `is in groups[${other}] too; a peer is on one side of a partition`,
            `Keep ${peer.name} in one group only: the peers of a group stay linked to each other, and cut off from every other group.`,
          );
        }
        groupOf.set(peer.name, g);
      }
    });
    const rest = this.peers.filter((p) => !groupOf.has(p.name)).map((p) => p.name);
    // One side only (every peer in one group, the others empty): nothing would be cut, silently.
    if (groups.filter((group) => group.length > 0).length + (rest.length > 0 ? 1 : 0) < 2)
      throw new InvalidOptionsError(
        'partition(...groups)',
        groups.map((group) => group.map((p) => p.name)),
        'cuts nothing: every peer of the cluster is on one side',
        'Leave some peers out of the groups (they form one more side), or give two groups or more: partition([a], [b, c]) cuts a off from b and c.',
      );
    this.#groups = groupOf;
    // Recorded first: the links it cuts (nodedown) follow it in the timeline.
    this.#record({
      type: 'partition',
      detail: [
        ...groups.map((g) => `[${g.map((p) => p.name).join(', ')}]`),
        ...(rest.length > 0 ? [`[${rest.join(', ')}] (in no group)`] : []),
      ].join(' '),
    });
    const live = this.#running();
    await this.#sendBlocks();
    const timeout = MESH_TIMEOUT;
    await Promise.all(
      live.map(async (peer) => {
        const blocked = new Set(this.#blockedFor(peer.name));
        try {
          await peer.waitFor(
            () => (peer.linked().some((id) => blocked.has(nameOf(id))) ? undefined : true),
            timeout,
            () =>
              new WaitTimeoutError(
                `The partition of ${peer.name}`,
                timeout,
                `it is still linked to [${peer.linked().join(', ')}]`,
              ),
          );
        } catch (error) {
          // A peer that died meanwhile has no links left to cut.
          if (peer.state === 'running') throw error;
        }
      }),
    );
  }

  /** Lifts the partition, lets the healers relink at once, and resolves when the mesh is whole. */
  async heal(options: { timeout?: number | undefined } = {}): Promise<void> {
    this.#assertOpen('heal()');
    // Without a partition in force there is nothing to lift: heal() only waits for the mesh.
    if (this.#groups) this.#record({ type: 'heal' });
    this.#groups = undefined;
    // Unblocking makes each healer refresh at once.
    await this.#sendBlocks();
    await this.waitForMesh(options);
  }

  /** Stops every peer (in parallel) and gives their ports back. Idempotent. */
  /**
   * Its name, its peers (each as Peer#toJSON gives it) and how many events its timeline holds:
   * what JSON.stringify gives, and what Jest's and Vitest's messages print of a cluster.
   */
  toJSON(): { name: string; peers: ReturnType<Peer['toJSON']>[]; timeline: string } {
    return {
      name: this.name,
      peers: this.peers.map((peer) => peer.toJSON()),
      timeline: `${this.timeline.length} events`,
    };
  }

  /** console.log of a cluster: `Cluster { name, peers: [Peer {…}, …], timeline: 'N events' }`. */
  [inspect.custom](depth: number, options: InspectOptions, show: typeof inspect): string {
    const summary = { name: this.name, peers: [...this.peers], timeline: `${this.timeline.length} events` };
    return inspectAs('Cluster', this.name, summary, depth, options, show);
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      for (const peer of this.peers)
        peer.detach(`its cluster ${this.name} was stopped`, 'Start a new cluster.');
      await Promise.all(
        [...this.peers].map(async (peer) => {
          await peer.shutdown(false).catch(() => {});
          await peer.releasePorts().catch(() => {});
        }),
      );
    })();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  static {
    // A realm without Symbol.asyncDispose (a vm context on Node 20: Vitest's vmThreads and vmForks
    // pools) names the method above "undefined", and compiled `await using` (Babel, oxc, esbuild)
    // looks for it under Symbol.for('Symbol.asyncDispose') instead.
    const method = Object.getOwnPropertyDescriptor(Cluster.prototype, 'undefined');
    if (typeof Symbol.asyncDispose !== 'symbol' && method) {
      Object.defineProperty(Cluster.prototype, Symbol.for('Symbol.asyncDispose'), method);
      Reflect.deleteProperty(Cluster.prototype, 'undefined');
    }
  }

  /**
   * Sends every running or booting peer the peers it must not link with now. A booting one applies
   * them once its node runs (its boot config may predate them; one not spawned yet gets them in
   * its boot config), and is not waited for; a paused one gets them on resume(). A peer that dies
   * or leaves meanwhile fails nothing.
   */
  async #sendBlocks(): Promise<void> {
    const sent = this.peers.map(async (peer) => {
      const running = peer.state === 'running';
      if (!running && peer.state !== 'booting') return;
      const sending = (async () => peer.control('set-blocked', [this.#blockedFor(peer.name)]))();
      try {
        if (running) await sending;
        else sending.catch(() => {});
      } catch (error) {
        if (peer.state === 'running' && this.peers.includes(peer)) throw error;
      }
    });
    await Promise.all(sent);
  }

  /** What bears on `name`'s links besides its own healer, for a wait's error: a partition, peers not running. */
  #contextFor(name: string): string[] {
    const lines: string[] = [];
    const blocked = this.#blockedFor(name);
    if (blocked.length > 0)
      lines.push(
        `${name} is cut off from ${listNames(blocked)} by cluster.partition(), until cluster.heal()`,
      );
    lines.push(...this.#notRunning(name));
    return lines;
  }

  /** One line for the peers (but `except`) that are not running, and so not linked to. */
  #notRunning(except?: string): string[] {
    const how: Partial<Record<string, string>> = {
      paused: 'paused (resume() it)',
      booting: 'still booting',
      crashed: 'crashed (restart() boots it again)',
      stopped: 'stopped',
    };
    const others = this.peers.filter((p) => p.name !== except && p.state !== 'running');
    if (others.length === 0) return [];
    return [`not running: ${listNames(others.map((p) => `${p.name} is ${how[p.state] ?? p.state}`))}`];
  }

  /** The peers `name` must not link with under the partition in force (none without one). */
  #blockedFor(name: string): string[] {
    const groups = this.#groups;
    if (!groups) return [];
    const mine = groups.get(name) ?? -1;
    return this.peers.filter((p) => (groups.get(p.name) ?? -1) !== mine).map((p) => p.name);
  }

  #running(): Peer[] {
    return this.peers.filter((p) => p.state === 'running');
  }

  /**
   * Pairs of running peers not linked yet, at most `limit` of them. Checked on every nodeup of
   * every peer (N² of them while a cluster forms), so it allocates nothing per pair and stops at
   * the first `limit` found.
   */
  #missingLinks(limit = Number.POSITIVE_INFINITY): [string, string][] {
    const live = this.#running();
    const missing: [string, string][] = [];
    for (const peer of live) {
      const blocked = this.#groups ? new Set(this.#blockedFor(peer.name)) : undefined;
      for (const other of live) {
        if (other === peer || blocked?.has(other.name) || peer.isLinkedTo(other.node)) continue;
        missing.push([peer.name, other.name]);
        if (missing.length >= limit) return missing;
      }
    }
    return missing;
  }

  /** @internal What the test awaits of the cluster as a whole (waitForMesh), for failure reports. */
  inFlight(): InFlight[] {
    return this.#waits.list();
  }

  #waitFor<T>(check: () => T | undefined, timeout: number, onTimeout: () => Error): Promise<T> {
    return waitUntil({
      check,
      subscribe: (test) => {
        const offs = this.peers.map((peer) => peer.onChange(test));
        return () => {
          for (const off of offs) off();
        };
      },
      timeout,
      onTimeout,
    });
  }

  #assertOpen(what: string): void {
    if (this.#stopped)
      throw new InvalidOptionsError(what, this.name, 'the cluster was stopped', 'Start a new one.');
  }

  #record(event: Omit<ClusterEvent, 'at'>): void {
    this.timeline.push(realmObject({ at: clockNow(), ...event }));
  }
}

function listNames(names: string[], max = 6): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

function nameOf(id: NodeId): string {
  const at = id.lastIndexOf('@');
  return at === -1 ? id : id.slice(0, at);
}

/**
 * Starts a cluster of `count` peers in parallel; resolves when every peer is running and, unless
 * `waitForMesh: false`, every peer is linked to every other. A failed boot stops the peers
 * already started and rejects with a PeerBootError.
 */
export function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  return startClusterWith(options, () => {});
}

/**
 * startCluster, telling `created` the cluster before its peers boot (the harness: a scope that
 * ends meanwhile stops the cluster at once instead of waiting for the boot).
 */
export async function startClusterWith(
  options: ClusterOptions,
  created: (cluster: Cluster) => void,
): Promise<Cluster> {
  const o = resolveClusterOptions(options);
  const name = o.name ?? uniqueClusterName();
  const cookie = o.cookie ?? cookieFor(name);
  const cluster = new Cluster(
    name,
    cookie,
    { ...o, strategy: o.strategy ?? defaultStrategy() },
    o.waitForMesh,
  );
  created(cluster);
  try {
    await cluster.add(o.count);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Missing links as `a → b`, the first `max` of them and how many more. */
function listLinks(missing: [string, string][], max: number): string {
  const links = missing.slice(0, max).map(([a, b]) => `${a} → ${b}`);
  if (missing.length > max) links.push(`and ${missing.length - max} more`);
  return links.join(', ');
}
