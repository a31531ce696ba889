// Machine-wide app-port leases from the local registry (DESIGN decision 1): get-port's lock is per
// process, so parallel test files probing on their own hand out the same ports. The daemon probes
// for everyone and holds each lease until it is released or this process's connection closes.
import { InvalidOptionsError, PeerClusterError, RegistryUnavailableError } from '../errors.js';
import { formatRegistryAddress, parseRegistryAddress, resolveRegistryAddress } from './address.js';
import type { RegistryClient, RegistryClientOptions } from './client.js';
import { MAX_LEASES_PER_CONNECTION } from './protocol.js';
import { sharedRegistryClient } from './shared.js';

export interface PortLease {
  /** The leased ports, in the order of the names asked for. */
  ports: number[];
  /** Give the ports back. Also happens when the leasing process dies. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  /** Ports not to hand out (e.g. one that just failed with EADDRINUSE). */
  exclude?: number[] | undefined;
  /** Registry address, `host:port`. @default env PEER_CLUSTER_REGISTRY or the well-known port */
  registry?: string | undefined;
}

/** Ports this process holds, by registry: claimed again from a daemon that replaces a lost one. */
const held = new Map<string, Set<number>>();
const watched = new WeakSet<RegistryClient>();

export async function leasePorts(count: number, options: LeaseOptions = {}): Promise<PortLease> {
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT)
    throw new InvalidOptionsError('count', count, `expected an integer number of ports in 0..${MAX_COUNT}`);
  const [lease] = await leasePortGroups([count], options);
  return lease!;
}

/** How many ports one lease request to the registry may ask for. */
const MAX_COUNT = 64;

/**
 * Leases a group of ports per entry of `sizes` (one group per peer of a cluster), asking the
 * registry for all of them at once (in requests of at most 64 ports) instead of once per group.
 * Each group is released on its own. If any request fails, whatever the others got is given
 * back and the error is thrown.
 */
export async function leasePortGroups(sizes: number[], options: LeaseOptions = {}): Promise<PortLease[]> {
  const { total, address, key } = checkLeaseRoom(sizes, options);
  if (total === 0) return sizes.map(() => ({ ports: [], release: async () => {} }));
  const exclude = options.exclude ?? [];
  const chunks: number[] = [];
  for (let left = total; left > 0; left -= MAX_COUNT) chunks.push(Math.min(left, MAX_COUNT));
  let all: number[];
  for (let attempt = 0; ; attempt++) {
    const client = await leaseClient(key, address);
    const settled = await Promise.allSettled(chunks.map((count) => client.lease(count, exclude)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (!failed) {
      all = settled.flatMap((s) => (s as PromiseFulfilledResult<number[]>).value);
      break;
    }
    const got = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
    await client.release(got).catch(() => {});
    // The daemon went away while it leased (killed, or replaced by `peer-cluster reap`): its
    // leases went with it, and a new one is started and asked once more.
    if (attempt === 0 && failed.reason instanceof RegistryUnavailableError) continue;
    throw failed.reason;
  }
  const mine = held.get(key) ?? new Set<number>();
  held.set(key, mine);
  for (const p of all) mine.add(p);
  let at = 0;
  return sizes.map((size) => {
    const ports = all.slice(at, at + size);
    at += size;
    let released = false;
    return {
      ports,
      release: async () => {
        if (released) return;
        released = true;
        for (const p of ports) mine.delete(p);
        if (ports.length === 0) return;
        const current = await sharedRegistryClient(address).catch(() => undefined);
        await current?.release(ports).catch(() => {
          // A lost connection has already released them.
        });
      },
    };
  });
}

/**
 * Throws, synchronously, what leasePortGroups(sizes) would reject with before asking the registry:
 * a cluster checks it before it spawns peers whose ports could never be leased.
 */
export function checkLeaseRoom(sizes: number[], options: LeaseOptions = {}) {
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 0)
      throw new InvalidOptionsError('sizes', size, 'expected integer numbers of ports');
  }
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const address = options.registry === undefined ? {} : parseRegistryAddress(options.registry, 'registry');
  const key = formatRegistryAddress(resolveRegistryAddress(address));
  // Said here, in terms of what was asked: the daemon would only answer, part of the way through,
  // that "this connection" holds too many.
  const holding = held.get(key)?.size ?? 0;
  if (total > 0 && holding + total > MAX_LEASES_PER_CONNECTION) throw tooManyPorts(sizes, total, holding);
  return { total, address, key };
}

/**
 * The shared connection, watched: if the daemon goes away while this process holds leases, a new
 * one is started at once and the leases claimed from it, so that nobody else gets a port a peer of
 * ours will listen on again after a restart.
 */
async function leaseClient(key: string, address: RegistryClientOptions): Promise<RegistryClient> {
  const client = await sharedRegistryClient(address);
  if (watched.has(client)) return client;
  watched.add(client);
  client.once('close', () => {
    const mine = held.get(key);
    if (!mine || mine.size === 0) return;
    leaseClient(key, address)
      .then((next) => next.claim([...mine]))
      .catch(() => {
        // No registry to be had: the next lease says so. A claim cut by that daemon's death in
        // turn is made again of the next one (leaseClient watches it too).
      });
  });
  return client;
}

function tooManyPorts(sizes: number[], total: number, holding: number): PeerClusterError {
  const groups = sizes.filter((n) => n > 0);
  const size = groups[0]!;
  const named = size > 1 ? `: PORT and ${size - 1} in \`ports\`` : '';
  const each =
    groups.length < 2
      ? ''
      : groups.every((n) => n === size)
        ? ` (${groups.length} peers × ${size}${named})`
        : ` (${groups.length} peers)`;
  return new PeerClusterError(
    `Cannot lease ${total} app ports${each}: this process holds ${holding} already, and the registry leases at most ${MAX_LEASES_PER_CONNECTION} to one process. Declare fewer \`ports\`, start fewer peers at once, or stop the clusters this process no longer needs.`,
  );
}
