// The link handshake, before anything else is accepted on a connection. Link protocol 4 speaks
// WebSocket framing from the connection's first byte (no HTTP upgrade, see listener.ts); the
// handshake is its first four messages, JSON text frames:
//
//   dialer   → hello      { t, protocol, cluster, id, incarnation, maxPayload, nonce: nD, path }
//   acceptor → challenge  { t, protocol, cluster, id, incarnation, maxPayload, nonce: nA, path }   (or refuse)
//   dialer   → response   { t, proof: HMAC(cookie, dialer, nA, nD, ids, path) }       (or refuse)
//   acceptor → welcome    { t, proof: HMAC(cookie, acceptor, nA, nD, ids, path) }     (or refuse)
//
// The dialer proves the cookie first, so an unauthenticated dialer never gets a proof to grind
// offline. Both proofs bind both nonces and both ids, so none can be replayed on another link.
// They also bind the connection's two endpoints, as each end sees them (`path`: the dialer's
// address and port, `>`, the acceptor's). Without that, something that both ends reach without
// the cookie (a process that registered another address for a node with the unauthenticated
// local registry) could relay a handshake between them and sit, unseen, in the middle of a link
// that each end believes authenticated. A relayed connection has two different paths: each end
// compares the other's `path` with its own and refuses ('relayed') with both in the detail, and a
// relay that rewrites them fails the proofs. So a link must be a direct TCP connection between
// its nodes: not through a proxy, a port forward or NAT.
// The incarnation (random per process) tells a restarted node from a second link of the same one.
// maxPayload is the largest frame each end takes: a node sends nothing larger than the smaller of
// the two, so a call too large for the other end fails alone instead of taking the link down.
// Protocol 2 carried the introductions in the headers of an HTTP upgrade; an HTTP request on a
// link port (an older node dialing) is answered with a 426 saying which protocol the port speaks,
// and a dialer whose connection closes before a challenge is told the other end may be older.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { HandshakeError } from '../errors.js';
import { printable } from '../printable.js';
import { isValidNodeName, nameOf, parseAddress } from './address.js';
import { answeredWithHttp } from './socket.js';

export const PROTOCOL = 4;
/** Close code of a connection refused during the handshake; the reason is in the close reason. */
export const CLOSE_REFUSED = 4001;
export const MAX_HANDSHAKE_MESSAGE = 4096;

export type RefusalReason = HandshakeError['reason'];
export interface Refusal {
  reason: RefusalReason;
  detail: string;
}

export interface LocalIdentity {
  id: string;
  cluster: string;
  incarnation: string;
  /** The largest frame this node takes. */
  maxPayload: number;
}

export interface PeerIdentity {
  id: string;
  name: string;
  incarnation: string;
  /** The largest frame the other node takes (it says so in its introduction). */
  maxPayload: number;
}

export interface HandshakeParams {
  local: LocalIdentity;
  cookie: string;
  timeout: number;
  /** What the logs and errors call the other end: the dialed address, or the remote socket. */
  address: string;
  /** Dialer only: the name the dialed address promised. */
  expectedName?: string | undefined;
  /**
   * The connection's endpoints as this end sees them, the dialer's first: `host:port>host:port`
   * (see connectionPath). Undefined once the connection is gone.
   */
  path(): string | undefined;
  /** Called once the other end's identity is claimed (not yet proven): refuse blocked, self... */
  check(peer: PeerIdentity): Refusal | undefined;
  /** Acceptor only: called once the dialer is authenticated, before welcoming it (duplicates). */
  settle?(peer: PeerIdentity): Refusal | undefined;
  log(line: string): void;
}

type Done = (error: HandshakeError | null, peer?: PeerIdentity) => void;

interface Introduction {
  t: 'hello' | 'challenge';
  protocol: number;
  cluster: string;
  id: string;
  incarnation: string;
  maxPayload: number;
  nonce: string;
  path: string;
}

const NONCE = /^[A-Za-z0-9+/]{32}$/;
const PROOF = /^[A-Za-z0-9+/]{43}=$/;
const INTRODUCTION_KEYS = 8;
const MAX_PATH = 200;
const REASONS = new Set<string>([
  'cookie',
  'cluster',
  'protocol',
  'name',
  'timeout',
  'closed',
  'blocked',
  'self',
  'duplicate',
  'relayed',
]);

/** The message that introduces `local`. */
function introduce(t: Introduction['t'], local: LocalIdentity, nonce: string, path: string): Introduction {
  return {
    t,
    protocol: PROTOCOL,
    cluster: local.cluster,
    id: local.id,
    incarnation: local.incarnation,
    maxPayload: local.maxPayload,
    nonce,
    path,
  };
}

/** A socket's endpoints, the dialer's first, as `path` says them; undefined once it is closed. */
export function connectionPath(socket: Socket, role: 'dialer' | 'acceptor'): string | undefined {
  const local = endpoint(socket.localAddress, socket.localPort);
  const remote = endpoint(socket.remoteAddress, socket.remotePort);
  if (local === undefined || remote === undefined) return undefined;
  return role === 'dialer' ? `${local}>${remote}` : `${remote}>${local}`;
}

function endpoint(address: string | undefined, port: number | undefined): string | undefined {
  if (address === undefined || port === undefined) return undefined;
  // A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d.
  const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  return plain.includes(':') ? `[${plain}]:${port}` : `${plain}:${port}`;
}

/** An introduction message, checked field by field; a string says what is wrong with it. */
function readIntroduction(message: unknown, t: Introduction['t']): Introduction | string {
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    return `sent a ${t} that is not an object`;
  const o = message as Record<string, unknown>;
  if (o.t !== t)
    return `sent ${typeof o.t === 'string' ? `a "${printable(o.t.slice(0, 20))}" message` : 'a message'} instead of its ${t}`;
  if (o.protocol !== PROTOCOL) {
    // Said without String(): a value from the network may be an object whose toString is not one.
    const spoken =
      typeof o.protocol === 'number' || typeof o.protocol === 'string'
        ? printable(String(o.protocol).slice(0, 20))
        : `of another kind (${o.protocol === null ? 'null' : typeof o.protocol})`;
    return `speaks link protocol ${spoken}, this node speaks ${PROTOCOL}`;
  }
  const bad = (field: string) => `sent an invalid ${t} (${field})`;
  if (typeof o.cluster !== 'string' || o.cluster.length > 200) return bad('cluster');
  if (typeof o.id !== 'string' || o.id.length > 600 || !isNodeId(o.id)) return bad('id: not a node id');
  if (typeof o.incarnation !== 'string' || !NONCE.test(o.incarnation)) return bad('incarnation');
  if (typeof o.nonce !== 'string' || !NONCE.test(o.nonce)) return bad('nonce');
  if (!Number.isSafeInteger(o.maxPayload) || (o.maxPayload as number) < 1) return bad('maxPayload');
  if (typeof o.path !== 'string' || o.path.length > MAX_PATH) return bad('path');
  if (Object.keys(o).length !== INTRODUCTION_KEYS) return bad('unknown fields');
  return o as unknown as Introduction;
}

function isNodeId(id: string): boolean {
  try {
    const parsed = parseAddress(id);
    return parsed.name !== undefined && isValidNodeName(parsed.name);
  } catch {
    return false;
  }
}

/** The proof of a `{ t, proof }` message, or undefined when it is anything else. */
function proofIn(message: unknown, t: 'response' | 'welcome'): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.t !== t || typeof m.proof !== 'string' || !PROOF.test(m.proof)) return undefined;
  return Object.keys(m).length === 2 ? m.proof : undefined;
}

/** The reason and detail of a `{ t: 'refuse', reason, detail }` message, or undefined. */
export function refusalIn(message: unknown): Refusal | undefined {
  const m = message as Record<string, unknown> | null;
  if (m?.t !== 'refuse' || typeof m !== 'object' || Array.isArray(m)) return undefined;
  if (typeof m.reason !== 'string' || !REASONS.has(m.reason)) return undefined;
  if (typeof m.detail !== 'string' || m.detail.length > 500 || Object.keys(m).length !== 3) return undefined;
  return { reason: m.reason as RefusalReason, detail: m.detail };
}

function sign(
  cookie: string,
  role: string,
  nA: string,
  nD: string,
  dialer: string,
  acceptor: string,
  path: string,
): string {
  return createHmac('sha256', cookie)
    .update(`peer-cluster/${PROTOCOL}\n${role}\n${nA}\n${nD}\n${dialer}\n${acceptor}\n${path}`)
    .digest('base64');
}

function sameProof(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * One side of a handshake. `run` takes the open socket; `done` is called exactly once,
 * synchronously with the last handshake message, so the caller can take over the socket before
 * any frame that follows.
 */
abstract class Side {
  protected readonly p: HandshakeParams;
  protected readonly role: 'dialer' | 'acceptor';
  protected readonly ownNonce = randomBytes(24).toString('base64');
  protected peer: PeerIdentity | undefined;
  protected peerNonce = '';
  /** The connection's endpoints as this end sees them (connectionPath), taken when it starts. */
  protected ownPath = '';
  #ws: WebSocket | undefined;
  #done: Done | undefined;
  #timer: NodeJS.Timeout | undefined;
  #finished = false;

  constructor(role: 'dialer' | 'acceptor', p: HandshakeParams) {
    this.role = role;
    this.p = p;
  }

  /** False when the connection closed before the handshake could start (done was called). */
  protected start(ws: WebSocket, done: Done): boolean {
    this.#ws = ws;
    this.#done = done;
    const path = this.p.path();
    if (path === undefined) {
      this.fail('closed', 'the connection closed before the handshake started', false);
      return false;
    }
    this.ownPath = path;
    this.#timer = setTimeout(
      () => this.fail('timeout', `no complete handshake within ${this.p.timeout} ms`, true),
      this.p.timeout,
    );
    ws.on('message', this.#onMessage);
    ws.on('close', this.#onClose);
    return true;
  }

  /** Take the other end's introduction; a string or a refusal when it cannot be linked. */
  protected introduced(intro: Introduction | string): Refusal | undefined {
    if (typeof intro === 'string') return { reason: 'protocol', detail: intro };
    this.peer = {
      id: intro.id,
      name: nameOf(intro.id),
      incarnation: intro.incarnation,
      maxPayload: intro.maxPayload,
    };
    this.peerNonce = intro.nonce;
    if (intro.cluster !== this.p.local.cluster) {
      return {
        reason: 'cluster',
        // In ids, not "it" and "this node": the other end reads the same words (quoted in its logs).
        detail: `${printable(intro.id)} belongs to cluster "${printable(intro.cluster)}", ${this.p.local.id} to "${this.p.local.cluster}"`,
      };
    }
    if (intro.path !== this.ownPath) {
      const [mine, theirs] = [this.p.local.id, printable(intro.id)];
      return {
        reason: 'relayed',
        // Both views, said the same way from either end (the other end quotes it in its logs).
        detail: `the connection is not direct (a relay, a proxy, a port forward or NAT is between the nodes): ${mine} sees it as ${this.ownPath}, ${theirs} as ${printable(intro.path)} (dialer > acceptor). A link must be a TCP connection straight from one node to the other`,
      };
    }
    if (this.p.expectedName !== undefined && this.peer.name !== this.p.expectedName) {
      return {
        reason: 'name',
        detail: `the address names "${this.p.expectedName}" but the node there is ${printable(this.peer.id)}`,
      };
    }
    return this.p.check(this.peer);
  }

  protected abstract receive(message: unknown): void;

  /** The proof `of` one side gives on this link: both nonces and both ids, in the dialer's order. */
  protected proof(of: 'dialer' | 'acceptor'): string {
    const peer = this.peer!;
    const own = [this.ownNonce, this.p.local.id] as const;
    const theirs = [this.peerNonce, peer.id] as const;
    const [[nA, acceptor], [nD, dialer]] = this.role === 'dialer' ? [theirs, own] : [own, theirs];
    return sign(this.p.cookie, of, nA, nD, dialer, acceptor, this.ownPath);
  }

  protected send(message: object): void {
    this.#ws!.send(JSON.stringify(message));
  }

  protected finish(error: HandshakeError | null): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#ws!.off('message', this.#onMessage);
    this.#ws!.off('close', this.#onClose);
    this.#done!(error, this.peer);
  }

  /**
   * `note`: said here (in the log and the error) but not told the other end, which learns nothing
   * of this node's cookie.
   */
  protected fail(reason: RefusalReason, detail: string, tell: boolean, note = ''): void {
    if (this.#finished) return;
    const ws = this.#ws!;
    const quiet = reason === 'blocked' || reason === 'duplicate';
    if (!quiet)
      this.p.log(`peer-cluster: refused link ${this.#direction()} ${this.#who()}: ${detail}${note}`);
    if (tell && ws.readyState === ws.OPEN) {
      ws.send(JSON.stringify({ t: 'refuse', reason, detail }));
      ws.close(CLOSE_REFUSED, reason);
    } else {
      ws.terminate();
    }
    this.finish(new HandshakeError(this.p.address, reason, `${detail}${note}`));
  }

  /** Said on a refusal for the cookie: this node's own cookie is likely the one at fault. */
  protected cookieNote(): string {
    const { cookie } = this.p;
    return cookie.trim() === cookie
      ? ''
      : `. ${this.p.local.id}'s own cookie begins or ends with whitespace (a line break?), which counts`;
  }

  #direction(): string {
    return this.role === 'dialer' ? 'to' : 'from';
  }

  /** The other end, for a log line: its claimed id is unproven text (a node name may hold a terminal escape). */
  #who(): string {
    const peer = this.peer;
    return peer && peer.id !== this.p.address ? `${printable(peer.id)} (${this.p.address})` : this.p.address;
  }

  readonly #onClose = (code: number, reason: Buffer): void => {
    this.finish(this.#closed(`code ${code}${reason.length ? `, ${reason.toString()}` : ''}`));
  };

  /** Why the handshake ended with the connection, closed as `how` says. */
  #closed(how: string): HandshakeError {
    if (this.role !== 'dialer' || this.peer !== undefined) {
      return new HandshakeError(
        this.p.address,
        'closed',
        `the connection closed during the handshake (${how})`,
      );
    }
    // An HTTP server (a node of link protocol 2 or older) answers a connection that opens with a
    // frame with an HTTP error, or drops it.
    const older = `a node of an older link protocol, or no peer-cluster node (this node speaks link protocol ${PROTOCOL})`;
    return answeredWithHttp(this.#ws!)
      ? new HandshakeError(this.p.address, 'protocol', `it answered with HTTP (${how}): it is ${older}`)
      : new HandshakeError(
          this.p.address,
          'closed',
          `the connection closed before a challenge (${how}); is it ${older}?`,
        );
  }

  readonly #onMessage = (data: Buffer, isBinary: boolean) => {
    if (this.#finished) return;
    if (isBinary || data.length > MAX_HANDSHAKE_MESSAGE) {
      return this.fail('protocol', 'sent a binary or oversized message before the handshake completed', true);
    }
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return this.fail('protocol', 'sent a handshake message that is not JSON', true);
    }
    try {
      this.#handle(message);
    } catch (error) {
      // Every field is checked before use; should a check miss something, the connection fails
      // its handshake, and the node (which a throw here would take down) runs on.
      this.fail(
        'protocol',
        `sent a handshake message this node could not read (${(error as Error)?.message})`,
        true,
      );
    }
  };

  #handle(message: unknown): void {
    const refused = refusalIn(message);
    if (refused) {
      const { reason } = refused;
      const detail = printable(refused.detail) + (reason === 'cookie' ? this.cookieNote() : '');
      if (reason !== 'blocked' && reason !== 'duplicate')
        this.p.log(
          `peer-cluster: link ${this.#direction()} ${this.#who()} refused by the other end (${reason}): ${detail}`,
        );
      this.#ws!.close(CLOSE_REFUSED, reason);
      this.finish(new HandshakeError(this.p.address, reason, `refused by the other end: ${detail}`));
      return;
    }
    this.receive(message);
  }
}

/** Why a link is refused for its cookie, told to both ends. */
const COOKIE_REFUSAL =
  "it does not know the cluster cookie: the two nodes were given different cookies (one read from a file keeps the file's final line break unless trimmed: readFileSync(file, 'utf8').trim())";

/** The dialing side: sends its hello as soon as the connection is up. */
export class DialerHandshake extends Side {
  constructor(p: HandshakeParams) {
    super('dialer', p);
  }

  run(ws: WebSocket, done: Done): void {
    if (this.start(ws, done)) this.send(introduce('hello', this.p.local, this.ownNonce, this.ownPath));
  }

  protected receive(message: unknown) {
    if (this.peer === undefined) {
      const refusal = this.introduced(readIntroduction(message, 'challenge'));
      if (refusal) return this.fail(refusal.reason, refusal.detail, true);
      return this.send({ t: 'response', proof: this.proof('dialer') });
    }
    const proof = proofIn(message, 'welcome');
    if (proof === undefined) return this.fail('protocol', 'sent an invalid welcome message', true);
    if (!sameProof(proof, this.proof('acceptor'))) {
      return this.fail('cookie', COOKIE_REFUSAL, true, this.cookieNote());
    }
    this.finish(null);
  }
}

/** The accepting side: reads the hello, answers with its challenge, then checks the proof. */
export class AcceptorHandshake extends Side {
  /** Called once a hello is taken (the dialer's claim, not yet proven), before the challenge leaves. */
  readonly #introduced: (peer: PeerIdentity) => void;

  constructor(p: HandshakeParams, introduced: (peer: PeerIdentity) => void) {
    super('acceptor', p);
    this.#introduced = introduced;
  }

  run(ws: WebSocket, done: Done): void {
    this.start(ws, done);
  }

  protected receive(message: unknown) {
    if (this.peer === undefined) {
      const refusal = this.introduced(readIntroduction(message, 'hello'));
      if (refusal) return this.fail(refusal.reason, refusal.detail, true);
      this.#introduced(this.peer!);
      return this.send(introduce('challenge', this.p.local, this.ownNonce, this.ownPath));
    }
    const proof = proofIn(message, 'response');
    const peer = this.peer;
    if (proof === undefined) return this.fail('protocol', 'sent an invalid response message', true);
    if (!sameProof(proof, this.proof('dialer'))) {
      return this.fail('cookie', COOKIE_REFUSAL, true, this.cookieNote());
    }
    const refusal = this.p.settle?.(peer);
    if (refusal) return this.fail(refusal.reason, refusal.detail, true);
    this.send({ t: 'welcome', proof: this.proof('acceptor') });
    this.finish(null);
  }
}

export function newIncarnation(): string {
  return randomBytes(24).toString('base64');
}
