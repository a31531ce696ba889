// The requests the daemon accepts, as valibot schemas. Only the daemon parses them: this module stays
// out of the registry client, which runs in every peer.
import * as v from 'valibot';
import type { RegisteredNode, Request } from './protocol.js';

const name = v.pipe(v.string(), v.minLength(1), v.maxLength(256));
// Safe integers, as clients read them (protocol.ts): a node listed with a pid of 2 ** 53 + 2 or
// 1e300 would make every answer that lists its cluster (every watcher's, and every `status`)
// unreadable to every client, which drops its connection on it.
const int = v.pipe(v.number(), v.safeInteger());
const port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const ports = v.pipe(v.array(port), v.maxLength(4096));

export const registeredNodeSchema = v.object({
  id: name,
  name,
  host: name,
  port,
  /** The registering process, shown by `peer-cluster ls`. */
  pid: v.optional(int),
  /** The startCluster() the node belongs to: another one's nodes of the same cluster name are not its own. */
  scope: v.optional(name),
});

export const requestSchema = v.variant('type', [
  v.object({ type: v.literal('register'), id: int, cluster: name, node: registeredNodeSchema }),
  v.object({ type: v.literal('unregister'), id: int, cluster: name, node: name }),
  v.object({ type: v.literal('list'), id: int, cluster: name }),
  v.object({ type: v.literal('watch'), id: int, cluster: name }),
  v.object({ type: v.literal('unwatch'), id: int, cluster: name }),
  v.object({
    type: v.literal('lease'),
    id: int,
    count: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64)),
    exclude: v.optional(ports, []),
  }),
  v.object({ type: v.literal('release'), id: int, ports }),
  // Ports this connection held with a daemon that went away: taken back where nobody else holds them.
  v.object({ type: v.literal('claim'), id: int, ports }),
  v.object({ type: v.literal('status'), id: int }),
]);

// The schemas and the hand-written types (protocol.ts) must describe the same node and requests.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameNode: Same<v.InferOutput<typeof registeredNodeSchema>, RegisteredNode> = true;
const sameRequest: Same<v.InferOutput<typeof requestSchema>, Request> = true;
void sameNode;
void sameRequest;
