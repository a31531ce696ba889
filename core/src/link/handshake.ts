// The link handshake, before anything else is accepted on a connection. The two introductions
// travel in the WebSocket upgrade itself (a request header and a response header), the proofs as
// the first two JSON text messages:
//
//   dialer   → upgrade request, header x-peer-cluster-hello     { protocol, cluster, id, incarnation, nonce: nD }
//   acceptor → 101 response,    header x-peer-cluster-challenge { protocol, cluster, id, incarnation, nonce: nA }
//                                                                  (no header: a refuse message follows)
//   dialer   → response  { proof: HMAC(cookie, dialer, nA, nD, ids) }       (or refuse)
//   acceptor → welcome   { proof: HMAC(cookie, acceptor, nA, nD, ids) }      (or refuse)
//
// The dialer proves the cookie first, so an unauthenticated dialer never gets a proof to grind
// offline. Both proofs bind both nonces and both ids, so none can be replayed on another link.
// The incarnation (random per process) tells a restarted node from a second link of the same one.
// An introduction header is base64url of a JSON object (node and cluster names may be any text).
// Carrying the introductions in the upgrade saves a round trip and two messages per link (every
// message is a write and a read: most of a link's CPU cost).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WebSocket } from 'ws';
import { HandshakeError } from '../errors.js';
import { isValidNodeName, nameOf, parseAddress } from './address.js';

export const PROTOCOL = 2;
/** The upgrade request header that carries the dialer's introduction. */
export const HELLO_HEADER = 'x-peer-cluster-hello';
/** The 101 response header that carries the acceptor's introduction. */
export const CHALLENGE_HEADER = 'x-peer-cluster-challenge';
/**
 * Set instead of the challenge when the acceptor refuses the hello (its refuse message follows):
 * a 101 with neither comes from a node of link protocol 1, which takes no hello from a header.
 */
export const REFUSED_HEADER = 'x-peer-cluster-refused';
/** Close code of a connection refused during the handshake; the reason is in the close reason. */
export const CLOSE_REFUSED = 4001;
export const MAX_HANDSHAKE_MESSAGE = 4096;
const MAX_INTRODUCTION = 4096;

export type RefusalReason = HandshakeError['reason'];
export interface Refusal {
  reason: RefusalReason;
  detail: string;
}

export interface LocalIdentity {
  id: string;
  cluster: string;
  incarnation: string;
}

export interface PeerIdentity {
  id: string;
  name: string;
  incarnation: string;
}

export interface HandshakeParams {
  local: LocalIdentity;
  cookie: string;
  timeout: number;
  /** What the logs and errors call the other end: the dialed address, or the remote socket. */
  address: string;
  /** Dialer only: the name the dialed address promised. */
  expectedName?: string | undefined;
  /** Called once the other end's identity is claimed (not yet proven): refuse blocked, self... */
  check(peer: PeerIdentity): Refusal | undefined;
  /** Acceptor only: called once the dialer is authenticated, before welcoming it (duplicates). */
  settle?(peer: PeerIdentity): Refusal | undefined;
  log(line: string): void;
}

type Done = (error: HandshakeError | null, peer?: PeerIdentity) => void;

interface Introduction {
  protocol: number;
  cluster: string;
  id: string;
  incarnation: string;
  nonce: string;
}

const NONCE = /^[A-Za-z0-9+/]{32}$/;
const PROOF = /^[A-Za-z0-9+/]{43}=$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const INTRODUCTION_KEYS = 5;
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
]);

/** The header value that introduces `local`. */
function introduce(local: LocalIdentity, nonce: string): string {
  const intro: Introduction = {
    protocol: PROTOCOL,
    cluster: local.cluster,
    id: local.id,
    incarnation: local.incarnation,
    nonce,
  };
  return Buffer.from(JSON.stringify(intro)).toString('base64url');
}

/** An introduction header, checked field by field; a string says what is wrong with it. */
function readIntroduction(header: string | string[] | undefined, what: string): Introduction | string {
  if (header === undefined)
    return `sent no ${what} (link protocol ${PROTOCOL} introduces nodes in the upgrade)`;
  if (typeof header !== 'string' || header.length > MAX_INTRODUCTION || !BASE64URL.test(header)) {
    return `sent a malformed ${what}`;
  }
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(header, 'base64url').toString());
  } catch {
    return `sent a ${what} that is not JSON`;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return `sent a ${what} that is not an object`;
  const o = m as Record<string, unknown>;
  if (o.protocol !== PROTOCOL) {
    return `speaks link protocol ${String(o.protocol)}, this node speaks ${PROTOCOL}`;
  }
  const bad = (field: string) => `sent an invalid ${what} (${field})`;
  if (typeof o.cluster !== 'string' || o.cluster.length > 200) return bad('cluster');
  if (typeof o.id !== 'string' || o.id.length > 600 || !isNodeId(o.id)) return bad('id: not a node id');
  if (typeof o.incarnation !== 'string' || !NONCE.test(o.incarnation)) return bad('incarnation');
  if (typeof o.nonce !== 'string' || !NONCE.test(o.nonce)) return bad('nonce');
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
): string {
  return createHmac('sha256', cookie)
    .update(`peer-cluster/${PROTOCOL}\n${role}\n${nA}\n${nD}\n${dialer}\n${acceptor}`)
    .digest('base64');
}

function sameProof(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * One side of a handshake. The dialer's starts before its socket exists (`hello` goes into the
 * upgrade request); the acceptor's reads that hello before the upgrade is answered, so that
 * `headers` (its challenge) go into the 101 response. Then `run` takes the open socket; `done` is
 * called exactly once, synchronously with the last handshake message, so the caller can take
 * over the socket before any frame that follows.
 */
abstract class Side {
  protected readonly p: HandshakeParams;
  protected readonly role: 'dialer' | 'acceptor';
  protected readonly ownNonce = randomBytes(24).toString('base64');
  protected peer: PeerIdentity | undefined;
  protected peerNonce = '';
  #ws: WebSocket | undefined;
  #done: Done | undefined;
  #timer: NodeJS.Timeout | undefined;
  #finished = false;

  constructor(role: 'dialer' | 'acceptor', p: HandshakeParams) {
    this.role = role;
    this.p = p;
  }

  /** The other end, once it introduced itself. */
  get claimed(): PeerIdentity | undefined {
    return this.peer;
  }

  protected start(ws: WebSocket, done: Done): void {
    this.#ws = ws;
    this.#done = done;
    this.#timer = setTimeout(
      () => this.fail('timeout', `no complete handshake within ${this.p.timeout} ms`, true),
      this.p.timeout,
    );
    ws.on('message', this.#onMessage);
    ws.on('close', this.#onClose);
  }

  /** Take the other end's introduction; a string or a refusal when it cannot be linked. */
  protected introduced(intro: Introduction | string): Refusal | undefined {
    if (typeof intro === 'string') return { reason: 'protocol', detail: intro };
    this.peer = { id: intro.id, name: nameOf(intro.id), incarnation: intro.incarnation };
    this.peerNonce = intro.nonce;
    if (intro.cluster !== this.p.local.cluster) {
      return {
        reason: 'cluster',
        detail: `it belongs to cluster "${intro.cluster}", this node to "${this.p.local.cluster}"`,
      };
    }
    if (this.p.expectedName !== undefined && this.peer.name !== this.p.expectedName) {
      return {
        reason: 'name',
        detail: `the address names "${this.p.expectedName}" but the node there is ${this.peer.id}`,
      };
    }
    return this.p.check(this.peer);
  }

  protected abstract receive(message: unknown): void;

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

  protected fail(reason: RefusalReason, detail: string, tell: boolean): void {
    if (this.#finished) return;
    const ws = this.#ws!;
    const quiet = reason === 'blocked' || reason === 'duplicate';
    if (!quiet) this.p.log(`peer-cluster: refused link ${this.#direction()} ${this.#who()}: ${detail}`);
    if (tell && ws.readyState === ws.OPEN) {
      ws.send(JSON.stringify({ t: 'refuse', reason, detail }));
      ws.close(CLOSE_REFUSED, reason);
    } else {
      ws.terminate();
    }
    this.finish(new HandshakeError(this.p.address, reason, detail));
  }

  #direction(): string {
    return this.role === 'dialer' ? 'to' : 'from';
  }

  #who(): string {
    const peer = this.peer;
    return peer && peer.id !== this.p.address ? `${peer.id} (${this.p.address})` : this.p.address;
  }

  readonly #onClose = (code: number, reason: Buffer): void => {
    this.finish(
      new HandshakeError(
        this.p.address,
        'closed',
        `the connection closed during the handshake (code ${code}${reason.length ? `, ${reason.toString()}` : ''})`,
      ),
    );
  };

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
    const refused = refusalIn(message);
    if (refused) {
      const { reason, detail } = refused;
      if (reason !== 'blocked' && reason !== 'duplicate')
        this.p.log(
          `peer-cluster: link ${this.#direction()} ${this.#who()} refused by the other end (${reason}): ${detail}`,
        );
      this.#ws!.close(CLOSE_REFUSED, reason);
      return this.finish(new HandshakeError(this.p.address, reason, `refused by the other end: ${detail}`));
    }
    this.receive(message);
  };
}

/** The dialing side: `hello` goes into the upgrade request, `run` once the socket is open. */
export class DialerHandshake extends Side {
  /** The value of the HELLO_HEADER request header. */
  readonly hello: string;

  constructor(p: HandshakeParams) {
    super('dialer', p);
    this.hello = introduce(p.local, this.ownNonce);
  }

  /**
   * `challenge`: the CHALLENGE_HEADER of the 101 response; `refused`: whether it had the
   * REFUSED_HEADER instead (a refuse message follows).
   */
  run(ws: WebSocket, challenge: string | string[] | undefined, refused: boolean, done: Done) {
    this.start(ws, done);
    if (challenge === undefined && refused) return;
    if (challenge === undefined) {
      // A node of link protocol 1 waits for a hello message: told why, it logs the refusal.
      return this.fail(
        'protocol',
        `answered without a challenge: it speaks an older link protocol, this node speaks ${PROTOCOL}`,
        true,
      );
    }
    const refusal = this.introduced(readIntroduction(challenge, 'challenge'));
    if (refusal) return this.fail(refusal.reason, refusal.detail, true);
    const proof = sign(
      this.p.cookie,
      'dialer',
      this.peerNonce,
      this.ownNonce,
      this.p.local.id,
      this.peer!.id,
    );
    this.send({ t: 'response', proof });
  }

  protected receive(message: unknown) {
    const proof = this.peer ? proofIn(message, 'welcome') : undefined;
    if (proof === undefined) {
      const what = this.peer ? 'an invalid welcome message' : 'no challenge in its upgrade response';
      return this.fail('protocol', `sent ${what}`, true);
    }
    const expected = sign(
      this.p.cookie,
      'acceptor',
      this.peerNonce,
      this.ownNonce,
      this.p.local.id,
      this.peer!.id,
    );
    if (!sameProof(proof, expected)) return this.fail('cookie', 'it does not know the cluster cookie', true);
    this.finish(null);
  }
}

/** The accepting side: built from the upgrade request's hello, `run` once the socket is open. */
export class AcceptorHandshake extends Side {
  /** Headers for the 101 response: the challenge, or none when the hello is refused. */
  readonly headers: string[];
  readonly #refusal: Refusal | undefined;

  constructor(p: HandshakeParams, hello: string | string[] | undefined) {
    super('acceptor', p);
    this.#refusal = this.introduced(readIntroduction(hello, 'hello'));
    this.headers = this.#refusal
      ? [`${REFUSED_HEADER}: ${this.#refusal.reason}`]
      : [`${CHALLENGE_HEADER}: ${introduce(p.local, this.ownNonce)}`];
  }

  run(ws: WebSocket, done: Done): void {
    this.start(ws, done);
    const refusal = this.#refusal;
    if (refusal) this.fail(refusal.reason, refusal.detail, true);
  }

  protected receive(message: unknown) {
    const proof = proofIn(message, 'response');
    const peer = this.peer!;
    if (proof === undefined) return this.fail('protocol', 'sent an invalid response message', true);
    const expected = sign(this.p.cookie, 'dialer', this.ownNonce, this.peerNonce, peer.id, this.p.local.id);
    if (!sameProof(proof, expected)) return this.fail('cookie', 'it does not know the cluster cookie', true);
    const refusal = this.p.settle?.(peer);
    if (refusal) return this.fail(refusal.reason, refusal.detail, true);
    this.send({
      t: 'welcome',
      proof: sign(this.p.cookie, 'acceptor', this.ownNonce, this.peerNonce, peer.id, this.p.local.id),
    });
    this.finish(null);
  }
}

export function newIncarnation(): string {
  return randomBytes(24).toString('base64');
}
