// The frames two linked nodes exchange once the handshake is done. Each is one binary WebSocket
// message: a V8 serialization header, the frame type and a call id as varints, then (for calls,
// replies and messages) one structured clone. Writing the header with the same serializer as
// the value avoids a concat per frame on the call path.

import v8 from 'node:v8';
import { PeerClusterError, type SerializedError } from '../errors.js';

export enum FrameType {
  Ping = 1,
  Pong = 2,
  Leaving = 3,
  Call = 4,
  Reply = 5,
  ReplyError = 6,
  Message = 7,
}

export type Frame =
  | { type: FrameType.Ping | FrameType.Pong | FrameType.Leaving }
  | { type: FrameType.Call; id: number; method: string; args: unknown[] }
  | { type: FrameType.Reply; id: number; value: unknown }
  | { type: FrameType.ReplyError; id: number; error: SerializedError }
  | { type: FrameType.Message; topic: string; payload: unknown };

/** A frame that could not be decoded: the peer is broken or hostile; its link is closed. */
export class FrameError extends PeerClusterError {}

function encode(type: FrameType, id: number, value: unknown, hasValue: boolean): Buffer {
  const ser = new v8.DefaultSerializer();
  ser.writeHeader();
  ser.writeUint32(type);
  ser.writeUint32(id);
  if (hasValue) ser.writeValue(value);
  return ser.releaseBuffer();
}

export const PING: Buffer = encode(FrameType.Ping, 0, undefined, false);
export const PONG: Buffer = encode(FrameType.Pong, 0, undefined, false);
export const LEAVING: Buffer = encode(FrameType.Leaving, 0, undefined, false);

/** Throws a DataCloneError when an argument cannot be cloned (a function, a socket...). */
export function encodeCall(id: number, method: string, args: unknown[]): Buffer {
  return encode(FrameType.Call, id, [method, args], true);
}

export function encodeReply(id: number, value: unknown): Buffer {
  return encode(FrameType.Reply, id, value, true);
}

export function encodeReplyError(id: number, error: SerializedError): Buffer {
  return encode(FrameType.ReplyError, id, error, true);
}

export function encodeMessage(topic: string, payload: unknown): Buffer {
  return encode(FrameType.Message, 0, [topic, payload], true);
}

/** Decode one frame; anything malformed throws a FrameError and nothing else. */
export function decode(data: Uint8Array): Frame {
  let type: number;
  let id: number;
  let value: unknown;
  let der: v8.Deserializer;
  try {
    der = new v8.DefaultDeserializer(data);
    der.readHeader();
    type = der.readUint32();
    id = der.readUint32();
  } catch (error) {
    throw new FrameError(`Malformed frame header: ${(error as Error)?.message ?? error}`);
  }
  switch (type) {
    case FrameType.Ping:
    case FrameType.Pong:
    case FrameType.Leaving:
      return { type };
  }
  try {
    value = der.readValue();
  } catch (error) {
    throw new FrameError(`Malformed frame body (type ${type}): ${(error as Error)?.message ?? error}`);
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
    default:
      throw new FrameError(`Unknown frame type ${type}`);
  }
  throw new FrameError(`Malformed frame body (type ${type})`);
}

function isSerializedError(value: unknown): value is SerializedError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.message === 'string' &&
    (v.stack === undefined || typeof v.stack === 'string')
  );
}
