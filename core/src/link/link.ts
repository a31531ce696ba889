// One authenticated link to another node: frames in and out, calls, heartbeats. A link goes down
// when its socket closes (at once) or when the other node stays silent for `heartbeat.timeout`
// (a SIGSTOPped process keeps its sockets open but answers nothing).
//
// Heartbeats: any frame proves its sender alive. The node that dialed a link PINGs it every
// `heartbeat.interval` when nothing else went out meanwhile; the other end answers each PING
// with a PONG (unless something else went out since the last PING) and PINGs on its own only when
// it heard nothing for one of its own intervals (heartbeat settings may differ between nodes), or
// a PONG of its own when it heard frames but sent none (traffic one way only, see tick). So
// an idle link carries one PING and one PONG per interval, the PONG right behind its PING (one
// wakeup less than two independent PINGs, and the PONG carries the TCP ACK). One timer per node
// ticks all its links, so a node's PINGs leave together and their PONGs come back together, and
// it ticks on multiples of the interval in wall-clock time, so the nodes of a machine tick
// together and each reads the PINGs of many links per wakeup: most of an idle link's cost is
// the wakeups, not the bytes (200 idle links: half the CPU on both ends).

import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { InvalidOptionsError, serializeError, unsendable } from '../errors.js';
import type { NodeDownInfo } from '../types.js';
import {
  decode,
  encodeCall,
  encodeMessage,
  encodeReply,
  encodeReplyError,
  type Frame,
  FrameError,
  FrameType,
  LEAVING,
  PING,
  PONG,
} from './frame.js';
import { MAX_HANDSHAKE_MESSAGE, type PeerIdentity, refusalIn } from './handshake.js';
import { type Handlers, PendingCalls } from './rpc.js';

export const CLOSE_LEAVING = 4003;
export const CLOSE_BLOCKED = 4004;
export const CLOSE_DUPLICATE = 4005;
export const CLOSE_DOWN = 4006;
export const CLOSE_BAD_FRAME = 4007;

/** What a link needs from its node. */
export interface LinkOwner {
  /** The node's id. */
  readonly id: string;
  readonly handlers: Handlers;
  /** The largest frame this node takes (its maxPayload). */
  readonly maxPayload: number;
  linkDown(link: Link, down: NodeDownInfo): void;
  linkLeaving(link: Link): void;
  message(from: string, topic: string, payload: unknown): void;
  log(line: string): void;
}

export class Link {
  readonly peer: PeerIdentity;
  /** Whether this node dialed the link (simultaneous dials keep the one the smaller id dialed). */
  readonly dialed: boolean;
  /** The peer announced it leaves: do not redial it. */
  leaving = false;
  down = false;
  /** It went down because the other node fell silent (heartbeat timeout): paused, or stuck. */
  silent = false;
  /** Replaced by another link to the same node; closes once its calls have settled. */
  retired = false;
  readonly #ws: WebSocket;
  /** The largest frame this link sends: what both ends take (each one's maxPayload). */
  readonly #limit: number;
  readonly #owner: LinkOwner;
  readonly #pending: PendingCalls;
  readonly #heartbeats: Heartbeats;
  /** Whether a frame came in since the last tick. */
  #heard = true;
  #lastHeard = Date.now();
  #inbound = 0;
  /** Whether a frame went out since the last tick, and since the last PING came in. */
  #sentSinceTick = true; // the handshake just went out
  #sentSincePing = false;
  /** Frames written in this turn (#write): from the second on, the socket is corked. */
  #burst = 0;
  /**
   * Calls read while more than WRITE_HIGH_WATER bytes were queued for the other end, served once
   * that queue drains (#write), and their size. Undefined while calls are served as they come.
   */
  #deferred: { frames: Buffer[]; bytes: number } | undefined;
  /** Frames read, for #receive's look at the clock every 8 of them. */
  #reads = 0;
  /** When this end last proved itself alive to the other (a tick, or #receive). */
  #provedAt = Date.now();

  constructor(ws: WebSocket, peer: PeerIdentity, dialed: boolean, owner: LinkOwner, heartbeats: Heartbeats) {
    this.#ws = ws;
    this.peer = peer;
    this.dialed = dialed;
    this.#owner = owner;
    this.#limit = Math.min(owner.maxPayload, peer.maxPayload);
    this.#pending = new PendingCalls(peer.id);
    this.#heartbeats = heartbeats;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#receive(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      this.#goDown(this.leaving ? left() : closedThere(code, reason.toString()));
    });
    heartbeats.add(this);
  }

  get id(): string {
    return this.peer.id;
  }

  call(method: string, args: unknown[], timeout: number): Promise<unknown> {
    const id = this.#pending.nextId();
    let frame: Buffer;
    try {
      frame = encodeCall(id, method, args);
    } catch (error) {
      return Promise.reject(unsendable(error, callOption(method), args, this.peer.id));
    }
    if (frame.length > this.#limit) return Promise.reject(this.#tooBig(frame, callOption(method), args));
    this.#write(frame);
    return this.#pending.wait(id, method, timeout);
  }

  send(topic: string, payload: unknown): void {
    let frame: Buffer;
    try {
      frame = encodeMessage(topic, payload);
    } catch (error) {
      throw unsendable(error, sendOption(topic), payload, this.peer.id);
    }
    if (frame.length > this.#limit) throw this.#tooBig(frame, sendOption(topic), payload);
    this.#write(frame);
  }

  /** Tell the other node this one leaves, then close. */
  leave(): Promise<void> {
    if (this.down) return Promise.resolve();
    this.#write(LEAVING);
    // Also what a call in flight on it rejects with: "the node was left by this node" read as if
    // the callee had done something; it is the caller that stops.
    return this.close(CLOSE_LEAVING, 'leaving', {
      reason: 'stopping',
      detail: `was left by this node, ${this.#owner.id}, as it stops (its stop() was called)`,
    });
  }

  /**
   * Close the link now, with `code` and `reason` in the close frame, and `down` for this end's
   * nodedown; resolves when the socket is closed (or after 1 s).
   */
  close(code: number, reason: string, down: NodeDownInfo): Promise<void> {
    const ws = this.#ws;
    const closed = new Promise<void>((resolve) => {
      if (ws.readyState === ws.CLOSED) return resolve();
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      timer.unref();
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (ws.readyState === ws.OPEN) ws.close(code, reason);
    // The other end said it leaves (its close may not have come in yet): that is why it is down.
    this.#goDown(this.leaving ? left() : down);
    return closed;
  }

  /** Another link to the same node replaced this one: let in-flight calls finish, then close. */
  retire(): void {
    this.retired = true;
    const started = Date.now();
    const check = setInterval(() => {
      if (
        (this.#pending.size === 0 && this.#inbound === 0 && Date.now() - started > 200) ||
        this.down ||
        Date.now() - started > 10_000
      ) {
        clearInterval(check);
        void this.close(CLOSE_DUPLICATE, 'duplicate', {
          reason: 'closed',
          detail: 'was replaced by a simultaneous link',
        });
      }
    }, 50);
    check.unref();
  }

  /**
   * One heartbeat: declare the link down when the other node was silent for the timeout, PING
   * when due. `stalled`: this process itself was stalled (paused, blocked loop) since the last
   * tick, so the other end's frames may not have been read yet: do not judge it this time.
   */
  tick(now: number, stalled: boolean): void {
    if (this.down) return;
    const heard = this.#heard;
    this.#heard = false;
    if (heard || stalled) {
      this.#lastHeard = now;
    } else if (now - this.#lastHeard > this.#heartbeats.silentAfter) {
      // Heard last at a tick this long ago, so silent for at least that long: up to an interval
      // more, since frames are noted at ticks. (Not "more than the timeout": the link is declared
      // down at the tick due, with half an interval's slack for late timers.)
      const silence = `${Math.round(now - this.#lastHeard)} ms or more`;
      this.#owner.log(`peer-cluster: ${this.peer.id} silent for ${silence}, declaring it down`);
      this.#ws.terminate();
      this.silent = true;
      this.#goDown({
        reason: 'heartbeat',
        detail: `was silent for ${silence} (heartbeat timeout ${this.#heartbeats.timeout} ms)`,
      });
      return;
    }
    // The dialer PINGs, the acceptor answers with a PONG, and an end that heard nothing PINGs.
    // An acceptor that heard frames but sent none (messages flowing one way only) sends a PONG of
    // its own: the other end's PINGs may wait behind all it has sent and this end not read yet (a
    // handler slower than its sender), so without it, the other end would hear nothing at all.
    if (!this.#sentSinceTick) this.#write(this.dialed || !heard ? PING : PONG);
    this.#sentSinceTick = false;
    this.#provedAt = now;
  }

  /** A PONG, unless this end proved itself alive less than an interval ago (#receive). */
  #proveAlive(): void {
    const now = Date.now();
    if (now - this.#provedAt < this.#heartbeats.interval) return;
    this.#provedAt = now;
    this.#write(PONG);
    // Out now, not corked until the run of frames ends (the run is what holds the timer up).
    const socket = (this.#ws as unknown as { _socket?: Socket | null })._socket;
    while (socket && socket.writableCorked > 0) socket.uncork();
    this.#burst = 0;
  }

  #write(frame: Buffer): void {
    this.#sentSinceTick = true;
    this.#sentSincePing = true;
    const socket = (this.#ws as unknown as { _socket?: Socket | null })._socket;
    if (socket && !socket.destroyed) {
      // A burst (a chunk of calls read at once and answered, 256 callers resuming) goes out in a
      // write per CORK_FRAMES frames instead of one each, and the other end starts on the first
      // ones while this one writes the rest. The first frame of a turn (of its ticks and promise
      // jobs) is written at once: a lone call waits for nothing; a second one corks the socket
      // until the turn ends.
      if (this.#burst === 0) process.nextTick(endBurst, this, socket);
      else if (this.#burst === 1) socket.cork();
      else if ((this.#burst - 1) % CORK_FRAMES === 0) {
        socket.uncork();
        socket.cork();
      }
      this.#burst++;
    }
    this.#ws.send(frame);
    // More is queued for the other end than it has read: its calls wait (#receive) until that has
    // gone out, so that what this end queues stays bounded. Everything else is still read: both
    // ends may be sending more than the other has read (big calls both ways), and a link that
    // stopped reading (ws.pause) would then wait for the other forever, and fall silent.
    if (socket && !this.#deferred && socket.writableLength > WRITE_HIGH_WATER) {
      this.#deferred = { frames: [], bytes: 0 };
      socket.once('drain', () => this.#serveDeferred());
    }
  }

  /** Serves the calls deferred while the other end's queue was full (#write), in order. */
  #serveDeferred(): void {
    const deferred = this.#deferred;
    this.#deferred = undefined;
    if (!deferred || this.down) return;
    for (let i = 0; i < deferred.frames.length; i++) {
      // (#receive may have set it again: TypeScript cannot see that.)
      const again = this.#deferred as typeof deferred | undefined;
      if (again) {
        // Full again: the rest waits for the next drain, ahead of what arrives meanwhile.
        const rest = deferred.frames.slice(i);
        again.frames.unshift(...rest);
        again.bytes += rest.reduce((n, frame) => n + frame.length, 0);
        return;
      }
      this.#receive(deferred.frames[i]!, true);
      if (this.down) return;
    }
  }

  /** @internal The turn's burst is over (#write). */
  endBurst(socket: Socket): void {
    if (this.#burst > 1) socket.uncork();
    this.#burst = 0;
  }

  #goDown(down: NodeDownInfo): void {
    if (this.down) return;
    this.down = true;
    this.#heartbeats.delete(this);
    this.#pending.failAll(down.detail);
    this.#owner.linkDown(this, down);
  }

  #receive(data: Buffer, isBinary: boolean): void {
    if (this.down) return;
    this.#heard = true;
    // A long run of frames read at once (a socket read holds 64 KiB of them, and libuv reads up
    // to 32 in a go) through a slow handler keeps this process from its heartbeat timer for longer
    // than the other end's timeout: this end proves itself alive from here too, looking at the
    // clock every 8 frames (what it writes meanwhile is corked until the run ends).
    if ((++this.#reads & 7) === 0) this.#proveAlive();
    if (!isBinary) {
      this.#lateRefusal(data);
      return;
    }
    if (this.#deferred && data[0] === FrameType.Call) {
      this.#deferred.frames.push(data);
      this.#deferred.bytes += data.length;
      if (this.#deferred.bytes > Math.max(DEFERRED_LIMIT, 2 * this.#limit)) {
        this.#owner.log(
          `peer-cluster: closing the link to ${this.peer.id}: it sends calls much faster than it reads their replies (${size(this.#deferred.bytes)} of its calls wait)`,
        );
        this.#ws.terminate();
        this.#goDown({ reason: 'error', detail: 'sent calls much faster than it read their replies' });
      }
      return;
    }
    let frame: Frame;
    try {
      frame = decode(data);
    } catch (error) {
      if (error instanceof FrameError && error.frame) {
        this.#undecodable(error.frame.type, error.frame.id, error.message);
        return;
      }
      this.#owner.log(`peer-cluster: closing the link to ${this.peer.id}: ${(error as Error).message}`);
      this.#ws.terminate();
      this.#goDown({ reason: 'error', detail: 'sent a malformed frame' });
      return;
    }
    switch (frame.type) {
      case FrameType.Call:
        this.#serve(frame.id, frame.method, frame.args);
        return;
      case FrameType.Reply:
        this.#pending.resolve(frame.id, frame.value);
        return;
      case FrameType.ReplyError:
        this.#pending.reject(frame.id, frame.error);
        return;
      case FrameType.Message:
        this.#owner.message(this.peer.id, frame.topic, frame.payload);
        return;
      case FrameType.Ping:
        // The other end needs a frame from this one between two of its PINGs, unless a call or
        // a reply (or this end's own PING) already was one.
        if (!this.#sentSincePing) this.#write(PONG);
        this.#sentSincePing = false;
        return;
      case FrameType.Pong:
        return;
      case FrameType.Leaving:
        this.leaving = true;
        this.#owner.linkLeaving(this);
        return;
    }
  }

  /**
   * A frame whose header is sound and whose body this process cannot decode (a value nested deeper
   * than its stack takes, say): that call, reply or message fails, alone.
   */
  #undecodable(type: FrameType, id: number, problem: string): void {
    const why = problem.replace(/^Malformed frame body \(type \d+\): /, '');
    switch (type) {
      case FrameType.Call:
        this.#replyError(id, new RangeError(`the call's arguments could not be decoded here: ${why}`));
        return;
      case FrameType.Reply:
      case FrameType.ReplyError:
        this.#pending.fail(
          id,
          new FrameError(`the reply from ${this.peer.id} could not be decoded here: ${why}`),
        );
        return;
      default:
        this.#owner.log(
          `peer-cluster: a message from ${this.peer.id} could not be decoded, and was dropped: ${why}`,
        );
    }
  }

  /**
   * Text after the handshake. The one legitimate case: the dialer gave up its handshake (its
   * timeout, on a loaded machine) after this end, the acceptor, had already sent its welcome and
   * taken the link up. The dialer then sends its refusal and closes: the link goes down saying
   * so. Any other text is a protocol error.
   */
  #lateRefusal(data: Buffer): void {
    let refusal: ReturnType<typeof refusalIn>;
    try {
      refusal = data.length <= MAX_HANDSHAKE_MESSAGE ? refusalIn(JSON.parse(data.toString())) : undefined;
    } catch {
      refusal = undefined;
    }
    // The node logs the link going down, with this detail.
    if (!refusal)
      this.#owner.log(
        `peer-cluster: closing the link to ${this.peer.id}: a text message after the handshake`,
      );
    this.#ws.terminate();
    this.#goDown(
      refusal
        ? {
            reason: 'handshake',
            detail: `gave up its handshake after this node had accepted it (${refusal.reason}: ${refusal.detail})`,
          }
        : { reason: 'error', detail: 'sent a malformed frame' },
    );
  }

  #serve(id: number, method: string, args: unknown[]): void {
    let result: unknown;
    if (args.length > MAX_CALL_ARGS) {
      // Spread, a decoded sparse array of length 2^32 - 1 (32 bytes on the wire) would make V8
      // allocate every argument and abort the process.
      this.#replyError(
        id,
        new RangeError(`a call takes at most ${MAX_CALL_ARGS} arguments, got ${args.length}`),
      );
      return;
    }
    try {
      result = this.#owner.handlers.get(method)(...args);
    } catch (error) {
      this.#replyError(id, error);
      return;
    }
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as Promise<unknown>).then === 'function'
    ) {
      this.#inbound++;
      try {
        (result as Promise<unknown>).then(
          (value) => {
            this.#inbound--;
            this.#reply(id, value);
          },
          (error) => {
            this.#inbound--;
            this.#replyError(id, error);
          },
        );
      } catch (error) {
        // A thenable whose then() throws.
        this.#inbound--;
        this.#replyError(id, error);
      }
      return;
    }
    this.#reply(id, result);
  }

  #reply(id: number, value: unknown): void {
    if (this.down) return;
    let frame: Buffer;
    try {
      frame = encodeReply(id, value);
    } catch (error) {
      this.#replyError(
        id,
        new TypeError(
          `the handler's result cannot be sent as a structured clone: ${(error as Error).message}`,
        ),
      );
      return;
    }
    if (frame.length > this.#limit) {
      const { problem } = this.#tooBig(frame, "the handler's result", value);
      this.#replyError(id, new RangeError(`The handler's result ${problem}. ${TOO_BIG_HINT}`));
      return;
    }
    this.#write(frame);
  }

  /**
   * A frame larger than the other end accepts would make it close the link (ws's 1009), which
   * fails every call in flight on it; so the one call, reply or message fails, alone, with this.
   */
  #tooBig(frame: Buffer, what: string, value: unknown): InvalidOptionsError {
    const max = this.#limit;
    const whose =
      max < this.#owner.maxPayload
        ? `${this.peer.id} takes in one frame (its maxPayload)`
        : 'a link carries in one frame (maxPayload)';
    // Not "64 KiB, more than the 64 KiB": a size just over the limit is said in bytes.
    const [have, limit] =
      size(frame.length) === size(max)
        ? [`${frame.length} bytes`, `${max} bytes`]
        : [size(frame.length), size(max)];
    return new InvalidOptionsError(
      what,
      value,
      `is ${have} once encoded, more than the ${limit} ${whose}`,
      TOO_BIG_HINT,
    );
  }

  #replyError(id: number, error: unknown): void {
    if (this.down) return;
    const serialized = serializeError(error);
    let frame = encodeReplyError(id, serialized);
    // An error too large for the other end (a megabyte message, a huge stack) is cut to fit: the
    // other end would close the link on it, failing every call on it.
    for (const keep of [4096, 512, 0]) {
      if (frame.length <= this.#limit) break;
      const cut = (text: string) =>
        text.length > keep ? `${text.slice(0, keep)}… (cut: ${text.length} characters in all)` : text;
      frame = encodeReplyError(id, {
        name: cut(serialized.name),
        message: cut(serialized.message),
        ...(keep > 0 && serialized.stack !== undefined && { stack: cut(serialized.stack) }),
        ...(serialized.code !== undefined && { code: cut(serialized.code) }),
      });
    }
    this.#write(frame);
  }
}

/**
 * One timer per node for the heartbeats of all its links; it runs while there are links, and
 * ticks when the wall clock is a multiple of the interval (see the top of this file).
 */
export class Heartbeats {
  readonly interval: number;
  readonly timeout: number;
  /**
   * How long after the tick that last heard a link the link is declared silent: at the first tick
   * at least `timeout` later. Ticks are an interval apart on the wall clock, but each runs a
   * little late, by a different few ms: compared with `timeout` itself, a tick that ran later
   * than the one it is measured from fell short by those ms half the time, and the link was
   * declared down a whole interval later (2 s + 1 s instead of 2 s + 0.5 s with the harness's
   * defaults). Half an interval short of that tick absorbs the timers' lateness.
   */
  readonly silentAfter: number;
  readonly #links = new Set<Link>();
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;
  readonly #onStall: (() => void) | undefined;
  /** The #lastTick of the stall last reported. */
  #stallSeen = -1;

  /**
   * `onStall`: this process was stalled (paused, its loop blocked) long enough that the other
   * nodes may have declared it down; they back off from a node that fell silent, so it is the one
   * to relink. Called when a late tick or a link going down shows it, and only once per stall.
   */
  constructor(options: { interval: number; timeout: number }, onStall?: () => void) {
    this.interval = options.interval;
    this.timeout = options.timeout;
    this.silentAfter =
      Math.ceil(options.timeout / options.interval) * options.interval - options.interval / 2;
    this.#onStall = onStall;
  }

  add(link: Link): void {
    this.#links.add(link);
    if (this.#timer === undefined) {
      this.#lastTick = Date.now();
      this.#schedule(this.#lastTick);
    }
  }

  delete(link: Link): void {
    // A link that goes down as this process resumes (the other end closed it meanwhile) may be
    // read before the late tick: the last one would stop the timer, and the stall go unseen.
    if (this.#timer !== undefined && this.#stalled(Date.now())) this.#stall();
    this.#links.delete(link);
    if (this.#links.size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  tick(now: number): void {
    // A late tick means this process itself was stalled: see Link.tick. Late: well past the
    // interval, and early enough that a stall as long as the timeout always counts (a threshold
    // of half the timeout, as before, counted every tick as late when the interval was longer,
    // and no silent node was ever declared down).
    const stalled = this.#stalled(now);
    if (stalled) this.#stall();
    this.#lastTick = now;
    for (const link of this.#links) link.tick(now, stalled);
    if (this.#links.size > 0) this.#schedule(now);
    else this.#timer = undefined;
  }

  #stalled(now: number): boolean {
    return now - this.#lastTick > (this.interval + this.timeout) / 2;
  }

  /** Reports a stall once: the late tick and the links going down see the same one. */
  #stall(): void {
    if (this.#stallSeen === this.#lastTick) return;
    this.#stallSeen = this.#lastTick;
    this.#onStall?.();
  }

  #schedule(now: number): void {
    const interval = this.interval;
    const next = (Math.floor(now / interval) + 1) * interval;
    this.#timer = setTimeout(tickAll, next - now, this);
    this.#timer.unref();
  }
}

function tickAll(heartbeats: Heartbeats): void {
  heartbeats.tick(Date.now());
}

const TOO_BIG_HINT =
  'Send it in parts (nodes started with startNode() may be given a larger maxPayload, all alike).';

/** How errors name a call's arguments and a message's payload (built only for an error). */
function callOption(method: string): string {
  return `call(node, ${JSON.stringify(method)}, ...args)`;
}

function sendOption(topic: string): string {
  return `send(node, ${JSON.stringify(topic)}, payload)`;
}

function size(bytes: number): string {
  const [value, unit] =
    bytes >= 1024 * 1024
      ? [bytes / 1024 / 1024, 'MiB']
      : bytes >= 1024
        ? [bytes / 1024, 'KiB']
        : [bytes, 'bytes'];
  return `${value.toFixed(1).replace(/\.0$/, '')} ${unit}`;
}

/** Frames per write in a burst (see #write). */
const CORK_FRAMES = 32;
/**
 * Bytes queued for the other end beyond which its calls wait until they have gone out (#write).
 * Above any burst of calls and replies.
 */
const WRITE_HIGH_WATER = 8 * 1024 * 1024;
/**
 * Bytes of calls waiting (#write) beyond which the link is closed (or twice the largest frame, if
 * more): a node that sends calls and does not read their replies makes this end queue without end.
 */
const DEFERRED_LIMIT = 64 * 1024 * 1024;
/** More arguments than any call has: V8 itself takes at most ≈65 535 in a call. */
const MAX_CALL_ARGS = 65_535;

/** A fresh one each time: what a nodedown hands its listeners is theirs. */
function left(): NodeDownInfo {
  return { reason: 'left', detail: 'left the cluster' };
}

/** Why a link the other end closed (or whose connection ended) went down, from its close code. */
function closedThere(code: number, reason: string): NodeDownInfo {
  const detail = `closed the link (code ${code}${reason ? `, ${reason}` : ''})`;
  switch (code) {
    case 1006:
      // No close frame came, the socket just ended (what a killed process's does).
      return {
        reason: 'dropped',
        detail:
          'dropped the connection without closing the link (code 1006): its process died or was killed, or the connection was cut',
      };
    case CLOSE_LEAVING:
      return left();
    case CLOSE_BLOCKED:
      // A node that is stopping refuses a link as it does a blocked one (Node's #install).
      if (reason === 'stopping') return { reason: 'left', detail };
      // Said from this end: the other one blocks it (its own line says it blocks this one).
      return {
        reason: 'blocked',
        detail: 'blocks this node (a partition, or node.block()), and closed the link',
      };
    case 1000:
      if (reason === 'disconnect') return { reason: 'disconnected', detail };
      if (reason === 'undiscovered')
        return {
          reason: 'undiscovered',
          detail: `${detail}: its healer's strategy no longer discovers this node`,
        };
      return { reason: 'closed', detail };
    // A malformed frame (ws's 1002, 1007), one too large (1009), or one of ours (4007).
    case 1002:
    case 1007:
    case 1009:
    case CLOSE_BAD_FRAME:
      return { reason: 'error', detail };
    default:
      return { reason: 'closed', detail };
  }
}

function endBurst(link: Link, socket: Socket): void {
  link.endBurst(socket);
}
