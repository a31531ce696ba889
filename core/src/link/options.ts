// startNode's options: validated once here, with every default in one place (they are documented
// with @default in types.ts).

import * as z from 'zod/mini';
import { InvalidOptionsError } from '../errors.js';
import type { NodeOptions, Strategy } from '../types.js';
import { isValidNodeName } from './address.js';

export const NODE_DEFAULTS = {
  cluster: 'default',
  host: '127.0.0.1',
  port: 0,
  heartbeat: { interval: 1000, timeout: 5000 },
  healer: { pollInterval: 5000 },
  maxPayload: 64 * 1024 * 1024,
  /** A connection that has not authenticated within this time is closed. */
  handshakeTimeout: 5000,
} as const;

export interface ResolvedNodeOptions {
  name: string;
  cookie: string;
  cluster: string;
  host: string;
  port: number;
  strategy: Strategy | undefined;
  heartbeat: { interval: number; timeout: number };
  healer: { pollInterval: number };
  maxPayload: number;
  handshakeTimeout: number;
  log: (line: string) => void;
}

// zod/mini, not zod: this module is in every peer's import graph, and the bundled runtime keeps
// only the parts of mini it uses (a few KB, against ~600 KB of parse and init for classic zod).
const positive = (what: string) =>
  z
    .number({ error: `expected a positive number of ${what}` })
    .check(z.positive({ error: `expected a positive number of ${what}` }));
const fn = z.custom<(...args: any[]) => any>((v) => typeof v === 'function', 'expected a function');

const Schema = z.object({
  name: z
    .string({ error: 'expected a string' })
    .check(z.refine(isValidNodeName, 'expected a non-empty name without spaces, "@" or "/"')),
  cookie: z
    .string({ error: 'expected a non-empty string' })
    .check(z.minLength(1, 'expected a non-empty string')),
  cluster: z._default(
    z
      .string({ error: 'expected a string of 1 to 200 characters' })
      .check(
        z.minLength(1, 'expected a string of 1 to 200 characters'),
        z.maxLength(200, 'expected a string of 1 to 200 characters'),
      ),
    NODE_DEFAULTS.cluster,
  ),
  host: z._default(
    z
      .string({ error: 'expected a host name or IP address' })
      .check(z.minLength(1, 'expected a host name or IP address')),
    NODE_DEFAULTS.host,
  ),
  port: z._default(
    z
      .int({ error: 'expected a whole number from 0 to 65535' })
      .check(
        z.minimum(0, 'expected a whole number from 0 to 65535'),
        z.maximum(65535, 'expected a whole number from 0 to 65535'),
      ),
    NODE_DEFAULTS.port,
  ),
  strategy: z.optional(
    z.custom<Strategy>(
      (v) => typeof v === 'object' && v !== null && typeof (v as Strategy).discover === 'function',
      'expected a strategy: an object with a discover(ctx) function (see customStrategy)',
    ),
  ),
  heartbeat: z._default(
    z
      .object(
        {
          interval: z._default(positive('ms'), NODE_DEFAULTS.heartbeat.interval),
          timeout: z._default(positive('ms'), NODE_DEFAULTS.heartbeat.timeout),
        },
        { error: 'expected { interval, timeout } in ms' },
      )
      .check(
        z.refine((h) => h.timeout > h.interval, {
          message: 'heartbeat.timeout must be longer than heartbeat.interval',
          path: ['timeout'],
        }),
      ),
    { ...NODE_DEFAULTS.heartbeat },
  ),
  healer: z._default(
    z.object(
      { pollInterval: z._default(positive('ms'), NODE_DEFAULTS.healer.pollInterval) },
      { error: 'expected { pollInterval } in ms' },
    ),
    { ...NODE_DEFAULTS.healer },
  ),
  maxPayload: z._default(positive('bytes'), NODE_DEFAULTS.maxPayload),
  log: z.optional(fn),
});

export function resolveNodeOptions(options: NodeOptions): ResolvedNodeOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError(
      'options',
      options,
      'startNode needs an options object',
      'Pass at least { name, cookie }.',
    );
  }
  const parsed = Schema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.');
    let value: unknown = options;
    for (const key of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
    // The cookie is a secret: never echo it.
    if (path === 'cookie' && typeof value === 'string') value = '<hidden>';
    throw new InvalidOptionsError(path || 'options', value, issue.message);
  }
  const o = parsed.data;
  return {
    ...o,
    strategy: o.strategy,
    handshakeTimeout: NODE_DEFAULTS.handshakeTimeout,
    log: o.log ?? noop,
  };
}

function noop(): void {}
