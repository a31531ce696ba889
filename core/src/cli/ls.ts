// `peer-cluster ls`: what the local registry knows, per cluster.
import { InvalidOptionsError, RegistryUnavailableError } from '../errors.js';
import { printable } from '../printable.js';
import { RegistryClient, type RegistryStatus } from '../registry/client.js';
import type { RegisteredNode } from '../registry/protocol.js';
import { type Command, parse } from './usage.js';

/**
 * What `ls --json` prints: these keys, in this order, whether a registry runs or not (then `pid` is
 * null and the rest empty), so that a script reads one shape. Fields a newer daemon may add to its
 * status are left out: they would make the shape depend on which daemon answers.
 */
function jsonDocument(address: string, status: RegistryStatus | undefined) {
  return {
    address,
    pid: status?.pid ?? null,
    clusters: status?.clusters ?? {},
    leases: status?.leases ?? [],
    connections: status?.connections ?? 0,
  };
}

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list the nodes registered with the local registry, per cluster',
  help: `Usage: peer-cluster ls [--json]

Asks the local registry (PEER_CLUSTER_REGISTRY or 127.0.0.1 at the well-known port) which nodes are
registered, per cluster, and which app ports are leased. Does not start a registry.

Options:
  --json   print the status as JSON: { address, pid, clusters: { NAME: [node…] }, leases: [port…],
           connections }, these keys in this order; with no registry running, pid is null and the
           rest is empty`,
  options: { json: { type: 'boolean' } },
  async run(argv) {
    const { values } = parse(lsCommand, argv);
    let client: RegistryClient;
    try {
      client = await RegistryClient.connect({ autoStart: false, connectTimeout: 2000 });
    } catch (error) {
      // A bad PEER_CLUSTER_REGISTRY is the user's to fix, not an empty registry.
      if (error instanceof InvalidOptionsError) throw error;
      // Nothing listens: no registry, so nothing is registered (ls does not start one).
      const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
      if (error instanceof RegistryUnavailableError && cause?.code === 'ECONNREFUSED') {
        // --json keeps its shape, so that a script can read it whether a registry runs or not.
        if (values.json) console.log(JSON.stringify(jsonDocument(error.address, undefined), null, 2));
        else console.log(`No local registry is running at ${error.address}: no nodes are registered.`);
        return 0;
      }
      throw error;
    }
    try {
      const status = await client.status();
      if (values.json) {
        console.log(JSON.stringify(jsonDocument(client.address, status), null, 2));
        return 0;
      }
      const clusters = Object.entries(status.clusters);
      console.log(
        `registry ${client.address} (pid ${status.pid}): ${clusters.length} cluster(s), ${status.leases.length} leased port(s)`,
      );
      for (const [name, nodes] of clusters) {
        // Two startCluster() calls may name their clusters alike (parallel test files): each is its
        // own cluster (their nodes do not discover each other), shown apart.
        const byScope = new Map<string | undefined, RegisteredNode[]>();
        for (const node of nodes) {
          const members = byScope.get(node.scope) ?? [];
          members.push(node);
          byScope.set(node.scope, members);
        }
        // Names and ids are whatever a local client registered: escaped, so they cannot restyle the
        // terminal or forge lines.
        if (byScope.size === 1) console.log(`  ${printable(name)}`);
        else console.log(`  ${printable(name)}: ${byScope.size} clusters of this name`);
        for (const [scope, members] of byScope) {
          if (byScope.size > 1)
            console.log(
              `   ${scope === undefined ? ' nodes started on their own' : ` cluster ${printable(scope)}`}`,
            );
          const indent = byScope.size > 1 ? '      ' : '    ';
          for (const node of members)
            console.log(
              `${indent}${printable(node.id)}${node.pid === undefined ? '' : `  (pid ${node.pid})`}`,
            );
        }
      }
      if (status.leases.length > 0) console.log(`  leased ports: ${listPorts(status.leases)}`);
      return 0;
    } finally {
      client.close();
    }
  },
};

/** Ascending ports, runs of consecutive ones as ranges: `40000-40003, 40010`. */
function listPorts(ports: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ports.length; ) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j]! + 1) j++;
    parts.push(j > i ? `${ports[i]}-${ports[j]}` : String(ports[i]));
    i = j + 1;
  }
  return parts.join(', ');
}
