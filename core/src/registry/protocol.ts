// The registry's wire protocol: newline-delimited JSON over TCP, every line validated.
//
// On accept the daemon sends `hello` (its protocol version and pid) before anything else, so a
// client can tell an old daemon apart before it sends a request. Requests carry an `id` that the
// answer repeats; `change` messages are pushed to watchers without an id.
import * as z from 'zod/mini';

/** Bumped whenever a message changes shape; a client refuses a daemon speaking another version. */
export const PROTOCOL_VERSION = 1;

/** A request line longer than this closes the connection: nothing legitimate comes close. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Answers list whole clusters, so a client accepts much longer lines than the daemon does. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

// zod/mini (see link/options.ts): the registry client runs inside every peer.
const name = z.string().check(z.minLength(1), z.maxLength(256));
const port = z.int().check(z.minimum(1), z.maximum(65535));
const int = z.int();

const registeredNodeShape = {
  id: name,
  name,
  host: name,
  port,
  /** The registering process, shown by `peer-cluster ls`. */
  pid: z.optional(int),
};
export const registeredNodeSchema = z.object(registeredNodeShape);
/** Answers keep fields a newer daemon may add. */
const listedNode = z.looseObject(registeredNodeShape);

/** A node as the registry holds it. */
export type RegisteredNode = z.infer<typeof registeredNodeSchema>;

export const requestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('register'), id: int, cluster: name, node: registeredNodeSchema }),
  z.object({ type: z.literal('unregister'), id: int, cluster: name, node: name }),
  z.object({ type: z.literal('list'), id: int, cluster: name }),
  z.object({ type: z.literal('watch'), id: int, cluster: name }),
  z.object({ type: z.literal('unwatch'), id: int, cluster: name }),
  z.object({
    type: z.literal('lease'),
    id: int,
    count: z.int().check(z.minimum(1), z.maximum(64)),
    exclude: z._default(z.array(port).check(z.maxLength(4096)), []),
  }),
  z.object({ type: z.literal('release'), id: int, ports: z.array(port).check(z.maxLength(4096)) }),
  // Ports this connection held with a daemon that went away: taken back where nobody else holds them.
  z.object({ type: z.literal('claim'), id: int, ports: z.array(port).check(z.maxLength(4096)) }),
  z.object({ type: z.literal('status'), id: int }),
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
  version: int,
  pid: int,
});

export const replySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ok'), id: int }),
  z.object({ type: z.literal('nodes'), id: int, nodes: z.array(listedNode) }),
  z.object({ type: z.literal('ports'), id: int, ports: z.array(port) }),
  z.object({ type: z.literal('error'), id: int, message: z.string() }),
  z.object({
    type: z.literal('status'),
    id: int,
    pid: int,
    clusters: z.record(z.string(), z.array(listedNode)),
    leases: z.array(port),
    connections: int,
  }),
]);

export const pushSchema = z.object({
  type: z.literal('change'),
  cluster: name,
  nodes: z.array(listedNode),
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
