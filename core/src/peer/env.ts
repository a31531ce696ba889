// The environment a peer gets: not the parent's. A small allowlist, what the user declared, and
// the harness variables, so a test's outcome never depends on what the runner happened to export.
import type { EnvRecord } from '../options.js';

/** Variables a process needs to behave normally on each OS; nothing test- or runner-specific. */
export const ALLOWED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TMPDIR',
  'TMP',
  'TEMP',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TERM',
  'SystemRoot',
  'windir',
  'ComSpec',
  'PATHEXT',
  'PEER_CLUSTER_REGISTRY',
];

// Runner variables change how code behaves under test (Vitest and Jest set them in workers),
// NODE_OPTIONS would re-inject the runner's loaders, NODE_CHANNEL_* belong to the IPC channel.
export const NEVER_INHERITED = /^(VITEST|JEST|NODE_OPTIONS$|NODE_CHANNEL_)/;

export interface PeerEnvInput {
  name: string;
  index: number;
  cluster: string;
  /** The leased app ports: `default` is PORT, every other name becomes PORT_<NAME>. */
  ports: Record<string, number>;
  declared: EnvRecord;
  inheritEnv: boolean | string[];
  parent?: NodeJS.ProcessEnv;
}

export function portVariable(name: string): string {
  return name === 'default' ? 'PORT' : `PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export function peerEnv(input: PeerEnvInput): Record<string, string> {
  const parent = input.parent ?? process.env;
  const env: Record<string, string> = {};
  const take = (key: string) => {
    const value = parent[key];
    if (value !== undefined && !NEVER_INHERITED.test(key)) env[key] = value;
  };
  for (const key of ALLOWED_ENV) take(key);
  if (input.inheritEnv === true) for (const key of Object.keys(parent)) take(key);
  else if (Array.isArray(input.inheritEnv)) for (const key of input.inheritEnv) take(key);
  for (const [key, value] of Object.entries(input.declared)) {
    if (!key.startsWith('NODE_CHANNEL_')) env[key] = String(value);
  }
  // The harness variables win over declared ones: apps must use the ports that were leased.
  for (const [name, port] of Object.entries(input.ports)) env[portVariable(name)] = String(port);
  env.PEER_NAME = input.name;
  env.PEER_INDEX = String(input.index);
  env.PEER_CLUSTER = input.cluster;
  return env;
}
