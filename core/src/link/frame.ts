// The frames two linked nodes exchange once the handshake is done. Each is one binary WebSocket
// message: a 6-byte header (type, body encoding, call id as uint32 LE) and a body.
//
// Bodies are structured clones. Most values that cross are small plain data, for which V8's
// serializer costs several times JSON (a serializer object per frame, a host-object hook), so a
// value that JSON round-trips *exactly* (plain objects and arrays, finite numbers other than -0,
// strings, booleans, null; no undefined, no shared or cyclic references) is sent as JSON, and
// anything else (Map, Set, Date, BigInt, typed arrays, Error, undefined...) as a V8 clone. The
// receiver cannot tell the difference.
//
// A long string is the exception: JSON escapes it and converts it to UTF-8 and back, character by
// character, where V8 copies it. From about 1 KiB on, a V8 clone is faster (measured on Node 20:
// 4 KiB of ASCII 9 µs against 13, 64 KiB 26 µs against 105; 64 KiB of non-ASCII 26 µs against
// 690; a 60 MiB string 83 ms against 375), so a value holding one is sent as a V8 clone.

import v8 from 'node:v8';
import { MAX_CAUSES, PeerClusterError, type SerializedError } from '../errors.js';

export enum FrameType {
  Ping = 1,
  Pong = 2,
  Leaving = 3,
  Call = 4,
  Reply = 5,
  ReplyError = 6,
  Message = 7,
}

enum Body {
  None = 0,
  Json = 1,
  V8 = 2,
  Undefined = 3,
}

const HEADER = 6;

export type Frame =
  | { type: FrameType.Ping | FrameType.Pong | FrameType.Leaving }
  | { type: FrameType.Call; id: number; method: string; args: unknown[] }
  | { type: FrameType.Reply; id: number; value: unknown }
  | { type: FrameType.ReplyError; id: number; error: SerializedError }
  | { type: FrameType.Message; topic: string; payload: unknown };

/** A frame that could not be decoded: the peer is broken or hostile; its link is closed. */
export class FrameError extends PeerClusterError {
  /**
   * Set when the header was sound and only the body could not be decoded (a value nested deeper
   * than this process's stack takes, say): the one call, reply or message fails, not the link.
   */
  frame?: { type: FrameType; id: number };
}

function header(buffer: Buffer, type: FrameType, body: Body, id: number): Buffer {
  buffer[0] = type;
  buffer[1] = body;
  buffer.writeUInt32LE(id, 2);
  return buffer;
}

/** `json`: the value round-trips through JSON exactly (see exactJson); else it is a V8 clone. */
function encode(type: FrameType, id: number, value: unknown, json: boolean): Buffer {
  if (json) {
    const text = JSON.stringify(value);
    const buffer = Buffer.allocUnsafe(HEADER + Buffer.byteLength(text));
    buffer.write(text, HEADER);
    return header(buffer, type, Body.Json, id);
  }
  const body = v8.serialize(value);
  const buffer = Buffer.allocUnsafe(HEADER + body.length);
  body.copy(buffer, HEADER);
  return header(buffer, type, Body.V8, id);
}

/**
 * `v8.deserialize`, except that a typed array, Buffer or DataView comes with bytes of its own, as
 * from `structuredClone`: V8's default makes it a view into the whole frame received (its
 * `.buffer` holds the frame's header and every other field), which code that reads `.buffer`
 * (`new Float32Array(x.buffer)`, `Buffer.from(x.buffer)`) would silently misread, and which keeps
 * the whole frame in memory for as long as the value lives.
 */
class OwnBytesDeserializer extends v8.DefaultDeserializer {
  // Node's hook for the views it serialized (not in @types/node).
  _readHostObject(): NodeJS.ArrayBufferView {
    const view = readHostObject.call(this);
    const own = new Uint8Array(view.byteLength);
    own.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    if (Buffer.isBuffer(view)) return Buffer.from(own.buffer);
    if (view instanceof DataView) return new DataView(own.buffer);
    const Typed = view.constructor as new (buffer: ArrayBuffer) => NodeJS.ArrayBufferView;
    return new Typed(own.buffer);
  }
}

const readHostObject = (
  v8.DefaultDeserializer.prototype as unknown as { _readHostObject(): NodeJS.ArrayBufferView }
)._readHostObject;

function deserialize(bytes: Buffer): unknown {
  const deserializer = new OwnBytesDeserializer(bytes);
  deserializer.readHeader();
  return deserializer.readValue();
}

const MAX_DEPTH = 16;

/** A string this long or longer is cheaper as a V8 clone than as JSON (see the top of this file). */
export const LONG_STRING = 1024;

/**
 * The objects one exactJson walk has met: a second meeting is a shared (or cyclic) reference,
 * which JSON would duplicate. The set is made only from the second object on (most values
 * hold one object, or none).
 */
interface Walk {
  first: object | undefined;
  seen: Set<object> | undefined;
}

function walk(): Walk {
  return { first: undefined, seen: undefined };
}

/**
 * Whether `value` goes as JSON: JSON round-trips it exactly as a structured clone would, and it
 * holds no long string.
 */
function exactJson(value: unknown, depth: number, met: Walk): boolean {
  switch (typeof value) {
    case 'string':
      return value.length < LONG_STRING;
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (depth > MAX_DEPTH) return false;
      if (met.first === undefined) met.first = value;
      else {
        met.seen ??= new Set([met.first]);
        if (met.seen.has(value)) return false;
        met.seen.add(value);
      }
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        const length = value.length;
        for (let i = 0; i < length; i++) {
          const item = value[i];
          if (item === undefined || !exactJson(item, depth + 1, met)) return false;
        }
        return Object.keys(value).length === length; // no named properties, which JSON drops
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false;
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || !exactJson(item, depth + 1, met)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function control(type: FrameType): Buffer {
  return header(Buffer.alloc(HEADER), type, Body.None, 0);
}

export const PING: Buffer = control(FrameType.Ping);
export const PONG: Buffer = control(FrameType.Pong);
export const LEAVING: Buffer = control(FrameType.Leaving);

/**
 * Throws V8's "could not be cloned" error when an argument cannot be cloned (a function, a
 * socket...). The arguments are walked, not the [method, args] pair: the pair is ours (a string
 * and a fresh array) and needs no check.
 */
export function encodeCall(id: number, method: string, args: unknown[]): Buffer {
  const met = walk();
  let json = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === undefined || !exactJson(arg, 2, met)) {
      json = false;
      break;
    }
  }
  return encode(FrameType.Call, id, [method, args], json);
}

export function encodeReply(id: number, value: unknown): Buffer {
  if (value === undefined) return header(Buffer.allocUnsafe(HEADER), FrameType.Reply, Body.Undefined, id);
  return encode(FrameType.Reply, id, value, exactJson(value, 0, walk()));
}

export function encodeReplyError(id: number, error: SerializedError): Buffer {
  return encode(FrameType.ReplyError, id, error, exactJson(error, 0, walk()));
}

export function encodeMessage(topic: string, payload: unknown): Buffer {
  return encode(
    FrameType.Message,
    0,
    [topic, payload],
    payload !== undefined && exactJson(payload, 1, walk()),
  );
}

/** Decode one frame; anything malformed throws a FrameError and nothing else. */
export function decode(bytes: Uint8Array): Frame {
  const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length < HEADER) throw new FrameError(`Frame too short (${data.length} bytes)`);
  const type = data[0]!;
  const body = data[1]!;
  const id = data.readUInt32LE(2);
  if (type === FrameType.Ping || type === FrameType.Pong || type === FrameType.Leaving) {
    if (body !== Body.None || data.length !== HEADER)
      throw new FrameError(`Malformed control frame (type ${type})`);
    return { type };
  }
  if (type < FrameType.Call || type > FrameType.Message) throw new FrameError(`Unknown frame type ${type}`);
  let value: unknown;
  try {
    switch (body) {
      case Body.Json:
        value = JSON.parse(data.toString('utf8', HEADER));
        break;
      case Body.V8:
        value = deserialize(data.subarray(HEADER));
        break;
      case Body.Undefined:
        if (data.length !== HEADER) throw new Error('trailing bytes');
        value = undefined;
        break;
      default:
        throw new Error(`unknown body encoding ${body}`);
    }
  } catch (error) {
    const failed = new FrameError(
      `Malformed frame body (type ${type}): ${(error as Error)?.message ?? error}`,
    );
    failed.frame = { type, id };
    throw failed;
  }
  switch (type) {
    case FrameType.Call:
      if (Array.isArray(value) && typeof value[0] === 'string' && Array.isArray(value[1])) {
        return { type, id, method: value[0], args: value[1] };
      }
      break;
    case FrameType.Reply:
      return { type, id, value };
    case FrameType.ReplyError:
      if (isSerializedError(value)) return { type, id, error: value };
      break;
    case FrameType.Message:
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string') {
        return { type, topic: value[0], payload: value[1] };
      }
      break;
  }
  throw new FrameError(`Malformed frame body (type ${type})`);
}

function isSerializedError(value: unknown, depth = 0): value is SerializedError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.message === 'string' &&
    (v.stack === undefined || typeof v.stack === 'string') &&
    (v.code === undefined || typeof v.code === 'string') &&
    (v.cause === undefined || (depth < MAX_CAUSES && isSerializedError(v.cause, depth + 1)))
  );
}
