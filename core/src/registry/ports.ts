// Machine-wide app-port leases. PLACEHOLDER: probes with get-port in this process only; the local
// registry issue replaces the body with leases from the registry daemon (same signature).
import getPort from 'get-port';

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
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    ports.push(await getPort({ exclude: [...(options.exclude ?? []), ...ports] }));
  }
  return { ports, release: async () => {} };
}
