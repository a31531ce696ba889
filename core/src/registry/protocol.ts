// The registry's wire protocol: newline-delimited JSON over TCP, every line validated.
//
// On accept the daemon sends `hello` (its protocol version and pid) before anything else, so a
// client can tell an old daemon apart before it sends a request. Requests carry an `id` that the
// answer repeats; `change` messages are pushed to watchers without an id.
import { z } from 'zod';

/** Bumped whenever a message changes shape; a client refuses a daemon speaking another version. */
export const PROTOCOL_VERSION = 1;

/** A request line longer than this closes the connection: nothing legitimate comes close. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Answers list whole clusters, so a client accepts much longer lines than the daemon does. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

const name = z.string().min(1).max(256);
const port = z.number().int().min(1).max(65535);

export const registeredNodeSchema = z.object({
  id: name,
  name,
  host: name,
  port,
  /** The registering process, shown by `peer-cluster ls`. */
  pid: z.number().int().optional(),
});

/** A node as the registry holds it. */
export type RegisteredNode = z.infer<typeof registeredNodeSchema>;

export const requestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('register'), id: z.number().int(), cluster: name, node: registeredNodeSchema }),
  z.object({ type: z.literal('unregister'), id: z.number().int(), cluster: name, node: name }),
  z.object({ type: z.literal('list'), id: z.number().int(), cluster: name }),
  z.object({ type: z.literal('watch'), id: z.number().int(), cluster: name }),
  z.object({ type: z.literal('unwatch'), id: z.number().int(), cluster: name }),
  z.object({
    type: z.literal('lease'),
    id: z.number().int(),
    count: z.number().int().min(1).max(64),
    exclude: z.array(port).max(4096).default([]),
  }),
  z.object({ type: z.literal('release'), id: z.number().int(), ports: z.array(port).max(4096) }),
  z.object({ type: z.literal('status'), id: z.number().int() }),
]);

export type Request = z.infer<typeof requestSchema>;
/** A request as a client writes it (without its id, which the client assigns). */
export type RequestBody = Request extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

export const helloSchema = z.object({
  type: z.literal('hello'),
  version: z.number().int(),
  pid: z.number().int(),
});

export const replySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ok'), id: z.number().int() }),
  z.object({ type: z.literal('nodes'), id: z.number().int(), nodes: z.array(registeredNodeSchema.loose()) }),
  z.object({ type: z.literal('ports'), id: z.number().int(), ports: z.array(port) }),
  z.object({ type: z.literal('error'), id: z.number().int(), message: z.string() }),
  z.object({
    type: z.literal('status'),
    id: z.number().int(),
    pid: z.number().int(),
    clusters: z.record(z.string(), z.array(registeredNodeSchema.loose())),
    leases: z.array(port),
    connections: z.number().int(),
  }),
]);

export const pushSchema = z.object({
  type: z.literal('change'),
  cluster: name,
  nodes: z.array(registeredNodeSchema.loose()),
});

export type Hello = z.infer<typeof helloSchema>;
export type Reply = z.infer<typeof replySchema>;
export type Push = z.infer<typeof pushSchema>;

/**
 * Splits a byte stream into lines, refusing any line over `limit` bytes. `onLine` gets each
 * complete line; `onOversize` is called once and the splitter stops.
 */
export function lineSplitter(limit: number, onLine: (line: string) => void, onOversize: () => void) {
  let buffered: Buffer[] = [];
  let size = 0;
  let dead = false;
  return (chunk: Buffer) => {
    if (dead) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (size + piece.length > limit) {
        dead = true;
        onOversize();
        return;
      }
      const line = size === 0 ? piece.toString('utf8') : Buffer.concat([...buffered, piece]).toString('utf8');
      buffered = [];
      size = 0;
      start = nl + 1;
      onLine(line);
      if (dead) return;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    size += rest.length;
    if (size > limit) {
      dead = true;
      onOversize();
      return;
    }
    buffered.push(Buffer.from(rest));
  };
}

export function encode(message: object): string {
  return `${JSON.stringify(message)}\n`;
}
