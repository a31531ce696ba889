// `peer-cluster registry`: the local registry daemon in the foreground.
import { DEFAULT_REGISTRY_PORT } from '../registry/address.js';
import { MAX_TIMER } from '../registry/daemon.js';
import { registryMain } from '../registry/main.js';
import { type Command, integerOption, parse } from './usage.js';

export const registryCommand: Command = {
  name: 'registry',
  summary: 'run the local registry daemon in the foreground',
  help: `Usage: peer-cluster registry [--host H] [--port P] [--idle-timeout MS] [--quiet]

Runs the local registry (node registrations and machine-wide port leases) in the foreground, logging
one line per registration and lease. Clients start one by themselves when none answers; run it by
hand to watch what happens. Ctrl-C stops it.

Options:
  --host H           address to listen on (default 127.0.0.1; any other, such as 0.0.0.0, lets the
                     network reach the registry, which has no authentication: it warns so)
  --port P           port to listen on (default ${DEFAULT_REGISTRY_PORT}, or PEER_CLUSTER_REGISTRY's; that
                     variable is not read when both --host and --port are given)
  --idle-timeout MS  exit after this long with no connections, at most 2147483647 (default 0: never)
  --quiet            log nothing`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'idle-timeout': { type: 'string' },
    quiet: { type: 'boolean' },
  },
  async run(argv) {
    const { values } = parse(registryCommand, argv);
    // Checked here, where a bad value is a usage error with the help, not the daemon's own message.
    if (values.port !== undefined) integerOption('port', values.port, registryCommand.help, 0, 65535);
    if (values['idle-timeout'] !== undefined) {
      // A timer longer than 2^31-1 ms fires at once (Node's TimeoutOverflowWarning): not allowed.
      integerOption('idle-timeout', values['idle-timeout'], registryCommand.help, 0, MAX_TIMER);
      return registryMain(argv);
    }
    // A registry run by hand stays until Ctrl-C (one on a non-loopback --host is never started
    // again by a client): the daemon's own idle default (30 s) is for the ones clients start.
    return registryMain([...argv, '--idle-timeout', '0']);
  },
};
