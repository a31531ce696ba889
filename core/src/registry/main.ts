// The registry daemon in the foreground: what a client's auto-start spawns (detached) and what
// `peer-cluster registry` runs. Losing the bind race to another daemon is the expected outcome
// when many clients start one at once, so an auto-started daemon that finds a registry on its
// port exits 0; one that finds something else there says so (EXIT_NOT_A_REGISTRY).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXIT_NOT_A_REGISTRY, isLoopbackHost, resolveRegistryAddress } from './address.js';
import { runRegistry } from './daemon.js';

/** How many times a daemon binds whose port is held by something that does not say hello. */
const BIND_ATTEMPTS = 3;

/** Runs the daemon until it is idle or signalled; resolves to the exit code. */
export async function registryMain(args: string[] = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'idle-timeout': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      // A client that auto-starts the daemon: told over the IPC channel once it listens (or by the
      // exit of one that lost the port to another daemon), instead of polling for it.
      'notify-parent': { type: 'boolean', default: false },
    },
    strict: true,
  });
  // A closed stdout (`peer-cluster registry | head`, a terminal gone) must not take the daemon
  // down with EPIPE: its log lines are for whoever reads them, the registry is for its clients.
  process.stdout.on('error', () => {});
  const log = values.quiet
    ? () => {}
    : (line: string) =>
        process.stdout.write(`${new Date().toISOString()} [registry ${process.pid}] ${line}\n`);
  // Where the daemon binds, as runRegistry resolves it (the flags, else PEER_CLUSTER_REGISTRY, else
  // the well-known address): what holds that port is what gets probed and named.
  const { host, port } = resolveRegistryAddress({
    ...(values.host !== undefined && { host: values.host }),
    ...(values.port !== undefined && { port: Number(values.port) }),
  });
  let registry: Awaited<ReturnType<typeof runRegistry>> | undefined;
  for (let attempt = 1; !registry; attempt++) {
    try {
      registry = await runRegistry({
        host,
        port,
        ...(values['idle-timeout'] !== undefined && { idleTimeout: Number(values['idle-timeout']) }),
        log,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        process.stderr.write(`peer-cluster registry: ${(error as Error).message}\n`);
        return 1;
      }
      // Loaded only here: the daemon's start is on the path of a run's first cluster.
      const { probeRegistry } = await import('./client.js');
      const holder = await probeRegistry(host, port);
      if (holder === undefined && attempt < BIND_ATTEMPTS) {
        // Refused or cut without a hello: what holds the port may be a registry that is gone
        // since (killed, or exiting idle) while this one started. Then the port is free again,
        // or another new registry has it: bind once more before saying it is something else.
        continue;
      }
      if (holder === undefined || holder === 'silent') {
        process.stderr.write(
          `peer-cluster registry: port ${port} of ${host} is held by something that is not a peer-cluster registry. Free it, or run the registry on another port (--port, and PEER_CLUSTER_REGISTRY=host:port for its clients).\n`,
        );
        return EXIT_NOT_A_REGISTRY;
      }
      if (values['notify-parent']) {
        log(`another registry (pid ${holder.pid}) already listens on this port, leaving it be`);
        return 0;
      }
      process.stderr.write(
        `peer-cluster registry: another registry (pid ${holder.pid}) already listens on port ${port} of ${host}; its clients use it. Stop it first (kill ${holder.pid}), or pick another --port.\n`,
      );
      return 1;
    }
  }
  // Handled before anything says it listens: whoever reads that may stop the registry at once.
  const stop = () => void registry.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  log(`listening on ${registry.address}`);
  // Then the channel is let go: the daemon outlives the client that started it. (That client may
  // have let go of it, or died, first: disconnecting a closed channel would throw here.)
  if (values['notify-parent'] && process.send) {
    process.send('listening', () => {
      if (process.connected) process.disconnect?.();
    });
  }
  // Said even with --quiet: the registry has no authentication (README "Security").
  if (!isLoopbackHost(host))
    process.stderr.write(
      `peer-cluster registry: warning: listening on ${registry.address}, reachable from the network without authentication (anyone who reaches it can list, register and lease). Use --host 127.0.0.1 unless the cluster spans hosts.\n`,
    );
  await registry.closed;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return 0;
}

function isEntry(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  registryMain().then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`peer-cluster registry: ${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
