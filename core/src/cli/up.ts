// `peer-cluster up`: a cluster in the foreground, for trying an app by hand. Prints a status table
// whenever links change, streams prefixed logs, and stops every peer on Ctrl-C.

import type { Cluster } from '../cluster/cluster.js';
import { startClusterWith } from '../cluster/cluster.js';
import { InvalidOptionsError } from '../errors.js';
import { locate, missingApp } from '../peer/app-modules.js';
import { portVariable } from '../peer/env.js';
import { MAX_LEASES_PER_CONNECTION } from '../registry/protocol.js';
import { table } from '../table.js';
import { type Command, integerOption, parse, UsageError } from './usage.js';

export const upCommand: Command = {
  name: 'up',
  summary: 'start a cluster in the foreground (Ctrl-C stops it)',
  help: `Usage: peer-cluster up --count N --app PATH [--app PATH]... [--env K=V]... [--port NAME]...
                        [--node-arg=FLAG]... [--name NAME]

Starts N peers, each running the given apps (resolved from the current directory; .ts works),
meshed through the local registry. Prints a table of peers, ports, pids and links whenever it
changes, and every peer's output prefixed with its name. Ctrl-C stops them all.

Options:
  --count N     number of peers (default 3, at most ${MAX_LEASES_PER_CONNECTION}: one leased port each)
  --app PATH    an app module; repeat for several, loaded in order
  --env K=V     an environment variable for every peer; repeat for several
  --port NAME   an extra app port for every peer, as PORT_<NAME>; repeat for several
  --node-arg=F  a flag for the peers' node (--node-arg=--inspect=0); repeat for several
  --name NAME   the cluster name (default pc-<random>)`,
  options: {
    count: { type: 'string', default: '3' },
    app: { type: 'string', multiple: true },
    env: { type: 'string', multiple: true },
    port: { type: 'string', multiple: true },
    'node-arg': { type: 'string', multiple: true },
    name: { type: 'string' },
  },
  async run(argv) {
    const { values } = parse(upCommand, argv);
    const count = integerOption('count', values.count, upCommand.help);
    // This command leases every peer's PORT from the local registry, which leases at most
    // MAX_LEASES_PER_CONNECTION ports to one process: a bigger cluster could never boot.
    if (count > MAX_LEASES_PER_CONNECTION)
      throw new InvalidOptionsError(
        'count',
        count,
        `must be at most ${MAX_LEASES_PER_CONNECTION}: each peer gets an app port (PORT) leased by this command, and the local registry leases at most ${MAX_LEASES_PER_CONNECTION} ports to one process`,
        'Start fewer peers, or run several `peer-cluster up` (each leases its own).',
      );
    const apps = (values.app as string[] | undefined) ?? [];
    if (apps.length === 0) throw new UsageError('give at least one --app PATH', upCommand.help);
    const env: Record<string, string> = {};
    for (const pair of (values.env as string[] | undefined) ?? []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env takes K=V, got ${JSON.stringify(pair)}`, upCommand.help);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    // Looked up as the cluster would, and said as what it is: the cluster's PeerBootError names a
    // peer that "failed to boot", though none was started.
    const root = process.cwd();
    for (const app of apps) {
      if (locate(app, root) !== undefined) continue;
      const { where, folder, guess } = missingApp(app, root);
      const hint = guess ?? (folder ? '' : 'Apps resolve from the current directory: check the path.');
      console.error(
        `peer-cluster: app not found: ${app} (${folder ? where : `no module at ${where}`}). ${hint ? `${hint} ` : ''}No peer was started.`,
      );
      return 1;
    }
    // Ctrl-C at any time, even while the peers boot, ends in a clean stop.
    const interrupted = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    let booting: Cluster | undefined;
    const started = startClusterWith(
      {
        count,
        apps,
        env,
        ports: (values.port as string[] | undefined) ?? [],
        nodeArgs: (values['node-arg'] as string[] | undefined) ?? [],
        root,
        logs: 'inherit',
        ...(typeof values.name === 'string' && { name: values.name }),
      },
      (cluster) => {
        booting = cluster;
      },
    );
    const first = await Promise.race([
      started.then(() => 'up' as const),
      interrupted.then(() => 'interrupted' as const),
    ]);
    if (first === 'interrupted') {
      // Its peers are still booting (an app that takes long, or never starts): they stop now.
      console.log('\nStopping…');
      await booting?.stop();
      await started.catch(() => {});
      console.log('All peers stopped.');
      return 0;
    }
    const cluster = await started;
    printStatus(cluster);
    let pending = false;
    let stopping = false;
    const reprint = () => {
      if (pending || stopping) return;
      pending = true;
      setImmediate(() => {
        pending = false;
        printStatus(cluster);
      });
    };
    for (const peer of cluster.peers) {
      peer.on('nodeup', reprint).on('nodedown', reprint).on('exit', reprint);
    }
    await interrupted;
    stopping = true;
    console.log('\nStopping…');
    await cluster.stop();
    console.log('All peers stopped.');
    return 0;
  },
};

function printStatus(cluster: Cluster): void {
  const rows = cluster.peers.map((peer) => [
    peer.name,
    peer.state,
    peer.pid === undefined ? '-' : String(peer.pid),
    peer.node,
    Object.entries(peer.ports)
      .map(([name, port]) => `${portVariable(name)}=${port}`)
      .join(' '),
    String(peer.linked().length),
  ]);
  // Aligned like the failure report's peer table, indented like `peer-cluster ls`.
  const lines = table([['peer', 'state', 'pid', 'node', 'ports', 'links'], ...rows]);
  console.log(`\ncluster ${cluster.name}\n${lines.map((line) => `  ${line}`).join('\n')}`);
}
