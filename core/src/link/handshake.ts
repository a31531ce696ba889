// The link handshake: JSON text messages, before anything else is accepted on a connection.
//
//   dialer   → hello     { protocol, cluster, id, incarnation, nonce: nD }
//   acceptor → challenge { protocol, cluster, id, incarnation, nonce: nA }   (or refuse)
//   dialer   → response  { proof: HMAC(cookie, dialer, nA, nD, ids) }       (or refuse)
//   acceptor → welcome   { proof: HMAC(cookie, acceptor, nA, nD, ids) }      (or refuse)
//
// The dialer proves the cookie first, so an unauthenticated dialer never gets a proof to grind
// offline. Both proofs bind both nonces and both ids, so none can be replayed on another link.
// The incarnation (random per process) tells a restarted node from a second link of the same one.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WebSocket } from 'ws';
import * as z from 'zod/mini';
import { HandshakeError } from '../errors.js';
import { isValidNodeName, nameOf, parseAddress } from './address.js';

export const PROTOCOL = 1;
/** Close code of a connection refused during the handshake; the reason is in the close reason. */
export const CLOSE_REFUSED = 4001;
const MAX_HANDSHAKE_MESSAGE = 4096;

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

// zod/mini (see link/options.ts): this module is in every peer's import graph.
const nonce = z.string().check(z.regex(/^[A-Za-z0-9+/]{32}$/));
const nodeId = z.string().check(
  z.maxLength(600),
  z.refine((id) => {
    try {
      const parsed = parseAddress(id);
      return parsed.name !== undefined && isValidNodeName(parsed.name);
    } catch {
      return false;
    }
  }, 'not a node id'),
);
const proof = z.string().check(z.regex(/^[A-Za-z0-9+/]{43}=$/));
const reasons = z.enum([
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
const introduction = {
  protocol: z.literal(PROTOCOL),
  cluster: z.string().check(z.maxLength(200)),
  id: nodeId,
  incarnation: nonce,
  nonce,
};
const Hello = z.strictObject({ t: z.literal('hello'), ...introduction });
const Challenge = z.strictObject({ t: z.literal('challenge'), ...introduction });
const Response = z.strictObject({ t: z.literal('response'), proof });
const Welcome = z.strictObject({ t: z.literal('welcome'), proof });
const Refuse = z.strictObject({
  t: z.literal('refuse'),
  reason: reasons,
  detail: z.string().check(z.maxLength(500)),
});

type Step = 'hello' | 'challenge' | 'response' | 'welcome';

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
 * Run the handshake on an open WebSocket. `done` is called exactly once, synchronously with the
 * last handshake message, so the caller can take over the socket before any frame that follows.
 */
export function handshake(
  ws: WebSocket,
  role: 'dialer' | 'acceptor',
  p: HandshakeParams,
  done: (error: HandshakeError | null, peer?: PeerIdentity) => void,
): void {
  const ownNonce = randomBytes(24).toString('base64');
  let peer: PeerIdentity | undefined;
  let peerNonce = '';
  let expecting: Step = role === 'dialer' ? 'challenge' : 'hello';
  let finished = false;

  const finish = (error: HandshakeError | null) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    ws.off('message', onMessage);
    ws.off('close', onClose);
    done(error, peer);
  };
  const fail = (reason: RefusalReason, detail: string, tell: boolean) => {
    if (finished) return;
    const quiet = reason === 'blocked' || reason === 'duplicate';
    if (!quiet) p.log(`peer-cluster: refused link ${role === 'dialer' ? 'to' : 'from'} ${who()}: ${detail}`);
    if (tell && ws.readyState === ws.OPEN) {
      ws.send(JSON.stringify({ t: 'refuse', reason, detail }));
      ws.close(CLOSE_REFUSED, reason);
    } else {
      ws.terminate();
    }
    finish(new HandshakeError(p.address, reason, detail));
  };
  const who = () => (peer && peer.id !== p.address ? `${peer.id} (${p.address})` : p.address);
  const timer = setTimeout(
    () => fail('timeout', `no complete handshake within ${p.timeout} ms`, true),
    p.timeout,
  );

  const onClose = (code: number, reason: Buffer) => {
    finish(
      new HandshakeError(
        p.address,
        'closed',
        `the connection closed during the handshake (code ${code}${reason.length ? `, ${reason.toString()}` : ''})`,
      ),
    );
  };

  const onMessage = (data: Buffer, isBinary: boolean) => {
    if (finished) return;
    if (isBinary || data.length > MAX_HANDSHAKE_MESSAGE) {
      return fail('protocol', 'sent a binary or oversized message before the handshake completed', true);
    }
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return fail('protocol', 'sent a handshake message that is not JSON', true);
    }
    // A schema that fails costs an error object and its issues: try Refuse only on what claims to be one.
    const refused =
      (message as { t?: unknown } | null)?.t === 'refuse' ? Refuse.safeParse(message) : undefined;
    if (refused?.success) {
      const { reason, detail } = refused.data;
      if (reason !== 'blocked' && reason !== 'duplicate')
        p.log(
          `peer-cluster: link ${role === 'dialer' ? 'to' : 'from'} ${who()} refused by the other end (${reason}): ${detail}`,
        );
      ws.close(CLOSE_REFUSED, reason);
      return finish(new HandshakeError(p.address, reason, `refused by the other end: ${detail}`));
    }
    switch (expecting) {
      case 'hello':
      case 'challenge': {
        const m = message as Record<string, unknown> | null;
        if (m?.t === expecting && m.protocol !== PROTOCOL) {
          return fail(
            'protocol',
            `speaks link protocol ${String(m.protocol)}, this node speaks ${PROTOCOL}`,
            true,
          );
        }
        const parsed = (expecting === 'hello' ? Hello : Challenge).safeParse(message);
        if (!parsed.success) return fail('protocol', `sent an invalid ${expecting} message`, true);
        const intro = parsed.data;
        peer = { id: intro.id, name: nameOf(intro.id), incarnation: intro.incarnation };
        peerNonce = intro.nonce;
        if (intro.cluster !== p.local.cluster) {
          return fail(
            'cluster',
            `it belongs to cluster "${intro.cluster}", this node to "${p.local.cluster}"`,
            true,
          );
        }
        if (p.expectedName !== undefined && peer.name !== p.expectedName) {
          return fail('name', `the address names "${p.expectedName}" but the node there is ${peer.id}`, true);
        }
        const refusal = p.check(peer);
        if (refusal) return fail(refusal.reason, refusal.detail, true);
        if (role === 'acceptor') {
          expecting = 'response';
          ws.send(JSON.stringify({ t: 'challenge', ...introOf(p.local, ownNonce) }));
        } else {
          expecting = 'welcome';
          const proof = sign(p.cookie, 'dialer', peerNonce, ownNonce, p.local.id, peer.id);
          ws.send(JSON.stringify({ t: 'response', proof }));
        }
        return;
      }
      case 'response': {
        const parsed = Response.safeParse(message);
        if (!parsed.success || !peer) return fail('protocol', 'sent an invalid response message', true);
        const expected = sign(p.cookie, 'dialer', ownNonce, peerNonce, peer.id, p.local.id);
        if (!sameProof(parsed.data.proof, expected)) {
          return fail('cookie', 'it does not know the cluster cookie', true);
        }
        const refusal = p.settle?.(peer);
        if (refusal) return fail(refusal.reason, refusal.detail, true);
        ws.send(
          JSON.stringify({
            t: 'welcome',
            proof: sign(p.cookie, 'acceptor', ownNonce, peerNonce, peer.id, p.local.id),
          }),
        );
        return finish(null);
      }
      case 'welcome': {
        const parsed = Welcome.safeParse(message);
        if (!parsed.success || !peer) return fail('protocol', 'sent an invalid welcome message', true);
        const expected = sign(p.cookie, 'acceptor', peerNonce, ownNonce, p.local.id, peer.id);
        if (!sameProof(parsed.data.proof, expected)) {
          return fail('cookie', 'it does not know the cluster cookie', true);
        }
        return finish(null);
      }
    }
  };

  ws.on('message', onMessage);
  ws.on('close', onClose);
  if (role === 'dialer') ws.send(JSON.stringify({ t: 'hello', ...introOf(p.local, ownNonce) }));
}

function introOf(local: LocalIdentity, nonce: string) {
  return { protocol: PROTOCOL, cluster: local.cluster, id: local.id, incarnation: local.incarnation, nonce };
}

export function newIncarnation(): string {
  return randomBytes(24).toString('base64');
}
