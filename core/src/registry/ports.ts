// Machine-wide app-port leases from the local registry (DESIGN decision 1): get-port's lock is per
// process, so parallel test files probing on their own hand out the same ports. The daemon probes
// for everyone and holds each lease until it is released or this process's connection closes.
import { InvalidOptionsError } from '../errors.js';
import { parseRegistryAddress } from './address.js';
import { sharedRegistryClient } from './shared.js';

export interface PortLease {
  /** The leased ports, in the order of the names asked for. */
  ports: number[];
  /** Give the ports back. Also happens when the leasing process dies. */
  release(): Promise<void>;
}

export interface LeaseOptions {
  /** Ports not to hand out (e.g. one that just failed with EADDRINUSE). */
  exclude?: number[];
  /** Registry address, `host:port`. @default env PEER_CLUSTER_REGISTRY or the well-known port */
  registry?: string;
}

export async function leasePorts(count: number, options: LeaseOptions = {}): Promise<PortLease> {
  if (!Number.isInteger(count) || count < 0 || count > 64)
    throw new InvalidOptionsError('count', count, 'expected an integer number of ports in 0..64');
  if (count === 0) return { ports: [], release: async () => {} };
  const client = await sharedRegistryClient(
    options.registry === undefined ? {} : parseRegistryAddress(options.registry, 'registry'),
  );
  const ports = await client.lease(count, options.exclude ?? []);
  let released = false;
  return {
    ports,
    release: async () => {
      if (released) return;
      released = true;
      await client.release(ports).catch(() => {
        // A lost connection has already released them.
      });
    },
  };
}
