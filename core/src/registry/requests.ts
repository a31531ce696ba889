// The requests the daemon accepts, as zod schemas. Only the daemon parses them: this module stays out
// of the registry client, which runs in every peer.
import * as z from 'zod/mini';
import type { RegisteredNode } from './protocol.js';

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
  /** The startCluster() the node belongs to: another one's nodes of the same cluster name are not its own. */
  scope: z.optional(name),
};
export const registeredNodeSchema = z.object(registeredNodeShape);

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

// The schema and the hand-written type must describe the same node.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameNode: Same<z.infer<typeof registeredNodeSchema>, RegisteredNode> = true;
void sameNode;
