// startNode's options: validated once here, with every default in one place (they are documented
// with @default in types.ts).

import { z } from 'zod';
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

const positive = z.number().int().positive();
const fn = z.custom<(...args: any[]) => any>((v) => typeof v === 'function', 'expected a function');

const Schema = z.object({
  name: z.string().refine(isValidNodeName, 'expected a non-empty name without spaces, "@" or "/"'),
  cookie: z.string().min(1, 'expected a non-empty string'),
  cluster: z.string().min(1).max(200).default(NODE_DEFAULTS.cluster),
  host: z.string().min(1).default(NODE_DEFAULTS.host),
  port: z.number().int().min(0).max(65535).default(NODE_DEFAULTS.port),
  strategy: z
    .custom<Strategy>(
      (v) => typeof v === 'object' && v !== null && typeof (v as Strategy).discover === 'function',
      'expected a strategy: an object with a discover(ctx) function (see customStrategy)',
    )
    .optional(),
  heartbeat: z
    .object({
      interval: positive.default(NODE_DEFAULTS.heartbeat.interval),
      timeout: positive.default(NODE_DEFAULTS.heartbeat.timeout),
    })
    .default({ ...NODE_DEFAULTS.heartbeat })
    .refine((h) => h.timeout > h.interval, {
      message: 'heartbeat.timeout must be longer than heartbeat.interval',
      path: ['timeout'],
    }),
  healer: z
    .object({ pollInterval: positive.default(NODE_DEFAULTS.healer.pollInterval) })
    .default({ ...NODE_DEFAULTS.healer }),
  maxPayload: positive.default(NODE_DEFAULTS.maxPayload),
  log: fn.optional(),
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
