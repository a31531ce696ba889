// Where the local registry listens: an option, else `PEER_CLUSTER_REGISTRY=host:port`, else the
// well-known address. The port is fixed (like EPMD's 4369) so that every process on the machine
// finds the same daemon; it sits below the lease range so a lease never hands it out.
import { InvalidOptionsError } from '../errors.js';

/** The registry's well-known port on 127.0.0.1. */
export const DEFAULT_REGISTRY_PORT = 14369;
export const DEFAULT_REGISTRY_HOST = '127.0.0.1';
export const REGISTRY_ENV = 'PEER_CLUSTER_REGISTRY';
/** The exit code of a daemon that found its port held by something that is not a registry. */
export const EXIT_NOT_A_REGISTRY = 3;

export interface RegistryAddress {
  host: string;
  port: number;
}

export interface RegistryAddressOptions {
  /** @default the host of env PEER_CLUSTER_REGISTRY, else '127.0.0.1' */
  host?: string | undefined;
  /** @default the port of env PEER_CLUSTER_REGISTRY, else 14369 */
  port?: number | undefined;
}

export function resolveRegistryAddress(
  options: RegistryAddressOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): RegistryAddress {
  // Given both, the variable is not read: a malformed one does not matter then.
  const needed = options.host === undefined || options.port === undefined;
  const fromEnv =
    needed && env[REGISTRY_ENV] ? parseRegistryAddress(env[REGISTRY_ENV], REGISTRY_ENV) : undefined;
  const host = options.host ?? fromEnv?.host ?? DEFAULT_REGISTRY_HOST;
  const port = options.port ?? fromEnv?.port ?? DEFAULT_REGISTRY_PORT;
  if (typeof host !== 'string' || host === '')
    throw new InvalidOptionsError('host', host, 'the registry host must be a non-empty string');
  // 0 only makes sense for a daemon (a free port); a client checks for it when connecting.
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionsError('port', port, 'the registry port must be an integer in 1..65535');
  return { host, port };
}

/** Parses `host:port` or `[v6]:port`; `option` names where the value came from in the error. */
export function parseRegistryAddress(value: string, option = 'registry'): RegistryAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port < 1 || port > 65535) {
    throw new InvalidOptionsError(
      option,
      value,
      'expected `host:port` with a port in 1..65535',
      'For example PEER_CLUSTER_REGISTRY=127.0.0.1:14369.',
    );
  }
  return { host: (match[1] ?? match[2])!, port };
}

/**
 * Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): the only kind of address
 * peer-cluster starts a registry on by itself, the registry having no authentication.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return (
    bare === 'localhost' ||
    bare === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(bare) ||
    /^::ffff:127(\.\d{1,3}){3}$/.test(bare)
  );
}

export function formatRegistryAddress({ host, port }: RegistryAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
