// The registry's wire protocol: newline-delimited JSON over TCP, every line validated (requests by
// the daemon with the valibot schemas of requests.ts, answers and pushes by the client here).
//
// On accept the daemon sends `hello` (its protocol version and pid) before anything else, so a
// client can tell an old daemon apart before it sends a request. Requests carry an `id` that the
// answer repeats; `change` messages are pushed to watchers without an id.
/** Bumped whenever a message changes shape; a client refuses a daemon speaking another version. */
export const PROTOCOL_VERSION = 1;

/** A request line longer than this closes the connection: nothing legitimate comes close. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/**
 * Leases one connection (so one process) may hold: far more than a test process needs (a port or a
 * few per peer of each of its clusters), and a bound on what a single client can take from the machine.
 */
export const MAX_LEASES_PER_CONNECTION = 2048;
/** Answers list whole clusters, so a client accepts much longer lines than the daemon does. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** A node as the registry holds it. */
export interface RegisteredNode {
  id: string;
  name: string;
  host: string;
  port: number;
  /** The registering process, shown by `peer-cluster ls`. */
  pid?: number | undefined;
  /** The startCluster() the node belongs to: another one's nodes of the same cluster name are not its own. */
  scope?: string | undefined;
}

/** The daemon's idle timeout in ms, when a client starts one (0: never exit). */
export const IDLE_TIMEOUT_ENV = 'PEER_CLUSTER_REGISTRY_IDLE_TIMEOUT';

/**
 * A request as the daemon reads it once valid. Written out here rather than inferred from the
 * schemas of requests.ts (which check that they agree): declarations that a user's TypeScript
 * reads stay free of valibot's, which TypeScript 5.0 rejects.
 */
export type Request =
  | { type: 'register'; id: number; cluster: string; node: RegisteredNode }
  | { type: 'unregister'; id: number; cluster: string; node: string }
  | { type: 'list'; id: number; cluster: string }
  | { type: 'watch'; id: number; cluster: string }
  | { type: 'unwatch'; id: number; cluster: string }
  | { type: 'lease'; id: number; count: number; exclude: number[] }
  | { type: 'release'; id: number; ports: number[] }
  | { type: 'claim'; id: number; ports: number[] }
  | { type: 'status'; id: number };

/** A request as a client writes it (without its id, which the client assigns). */
export type RequestBody = Request extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

export interface Hello {
  type: 'hello';
  version: number;
  pid: number;
}

/** A node as a daemon lists it (a newer daemon may add fields; they are kept). */
export type ListedNode = RegisteredNode & Record<string, unknown>;

export type Reply =
  | { type: 'ok'; id: number }
  | { type: 'nodes'; id: number; nodes: ListedNode[] }
  | { type: 'ports'; id: number; ports: number[] }
  | { type: 'error'; id: number; message: string }
  | {
      type: 'status';
      id: number;
      pid: number;
      clusters: Record<string, ListedNode[]>;
      leases: number[];
      connections: number;
    };

export interface Push {
  type: 'change';
  cluster: string;
  nodes: ListedNode[];
}

// What the daemon sends is checked by hand rather than with a schema library: these run in every
// peer, a push lists the whole cluster and comes once per node that joins, and zod (which core used
// then) cost ≈10× a JSON.parse on them (≈24 ms per peer while a 50-peer cluster forms); nor does a
// peer load one. The rules are the schemas' above.
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isName = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 256;
const isPort = (v: unknown): v is number => isInt(v) && v >= 1 && v <= 65535;
const isNode = (v: unknown): v is ListedNode =>
  isObj(v) &&
  isName(v.id) &&
  isName(v.name) &&
  isName(v.host) &&
  isPort(v.port) &&
  (v.pid === undefined || isInt(v.pid)) &&
  (v.scope === undefined || isName(v.scope));
const isNodes = (v: unknown): v is ListedNode[] => Array.isArray(v) && v.every(isNode);
const isPorts = (v: unknown): v is number[] => Array.isArray(v) && v.every(isPort);

/** The daemon's hello, or undefined when `m` is not one. */
export function readHello(m: unknown): Hello | undefined {
  return isObj(m) && m.type === 'hello' && isInt(m.version) && isInt(m.pid)
    ? (m as unknown as Hello)
    : undefined;
}

/** An answer to a request, or undefined when `m` is not a valid one. */
export function readReply(m: unknown): Reply | undefined {
  if (!isObj(m) || !isInt(m.id)) return undefined;
  switch (m.type) {
    case 'ok':
      return m as unknown as Reply;
    case 'nodes':
      return isNodes(m.nodes) ? (m as unknown as Reply) : undefined;
    case 'ports':
      return isPorts(m.ports) ? (m as unknown as Reply) : undefined;
    case 'error':
      return typeof m.message === 'string' ? (m as unknown as Reply) : undefined;
    case 'status':
      return isInt(m.pid) &&
        isInt(m.connections) &&
        isPorts(m.leases) &&
        isObj(m.clusters) &&
        Object.values(m.clusters).every(isNodes)
        ? (m as unknown as Reply)
        : undefined;
    default:
      return undefined;
  }
}

/** A `change` push, or undefined when `m` is not a valid one. */
export function readPush(m: unknown): Push | undefined {
  return isObj(m) && m.type === 'change' && isName(m.cluster) && isNodes(m.nodes)
    ? (m as unknown as Push)
    : undefined;
}

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
