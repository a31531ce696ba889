// Frame decoding is what an authenticated but broken (or hostile) peer reaches: whatever bytes
// arrive, decode returns a frame or throws a FrameError, never anything else.

import v8 from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encodeCall,
  encodeMessage,
  encodeReply,
  encodeReplyError,
  FrameError,
  FrameType,
  LEAVING,
  LONG_STRING,
  PING,
  PONG,
} from '../dist/link/frame.js';

function decodesOrFrameError(bytes: Uint8Array): void {
  try {
    const frame = decode(bytes);
    expect(Object.values(FrameType)).toContain(frame.type);
  } catch (error) {
    if (!(error instanceof FrameError)) throw error;
  }
}

describe('frame decode', () => {
  it('round-trips every frame type', () => {
    expect(decode(PING)).toEqual({ type: FrameType.Ping });
    expect(decode(PONG)).toEqual({ type: FrameType.Pong });
    expect(decode(LEAVING)).toEqual({ type: FrameType.Leaving });
    const args = [new Map([[1, new Set(['x'])]]), 10n, new Date(0), new Uint16Array([7])];
    expect(decode(encodeCall(42, 'm', args))).toEqual({ type: FrameType.Call, id: 42, method: 'm', args });
    expect(decode(encodeReply(2 ** 32 - 1, { a: [1] }))).toEqual({
      type: FrameType.Reply,
      id: 2 ** 32 - 1,
      value: { a: [1] },
    });
    const error = { name: 'E', message: 'm', stack: 's' };
    expect(decode(encodeReplyError(3, error))).toEqual({ type: FrameType.ReplyError, id: 3, error });
    expect(decode(encodeMessage('t', null))).toEqual({ type: FrameType.Message, topic: 't', payload: null });
  });

  it('sends plain data as JSON, and a value holding a long string as a V8 clone', () => {
    const body = (frame: Buffer) => frame[1];
    const JSON_BODY = 1;
    const V8_BODY = 2;
    const short = 'é'.repeat(LONG_STRING - 1);
    const long = 'é'.repeat(LONG_STRING);
    expect(body(encodeReply(1, { a: [short] }))).toBe(JSON_BODY);
    expect(body(encodeCall(1, 'm', [1, short]))).toBe(JSON_BODY);
    expect(body(encodeReply(1, { a: [long] }))).toBe(V8_BODY);
    expect(body(encodeCall(1, 'm', [1, long]))).toBe(V8_BODY);
    expect(body(encodeMessage('t', [long]))).toBe(V8_BODY);
    // Either way the other end gets the same value.
    expect(decode(encodeReply(1, { a: [long, short] }))).toEqual({
      type: FrameType.Reply,
      id: 1,
      value: { a: [long, short] },
    });
    expect(decode(encodeMessage('t', long))).toEqual({ type: FrameType.Message, topic: 't', payload: long });
  });

  it('round-trips arbitrary values (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 32 - 1 }), fc.string(), fc.array(fc.jsonValue()), (id, method, args) => {
        const frame = decode(encodeCall(id, method, args));
        expect(frame).toEqual({ type: FrameType.Call, id, method, args: structuredClone(args) });
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes never throw anything but FrameError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => decodesOrFrameError(bytes)),
      {
        numRuns: 5000,
      },
    );
  });

  it('random bytes after a valid header never throw anything but FrameError (property)', () => {
    const headers = [1, 2, 3].map((body) => Buffer.from([4, body, 1, 0, 0, 0]));
    fc.assert(
      fc.property(fc.constantFrom(...headers), fc.uint8Array({ maxLength: 256 }), (header, tail) =>
        decodesOrFrameError(Buffer.concat([header, tail])),
      ),
      { numRuns: 5000 },
    );
  });

  it('round-trips anything structured clone can carry, exactly as structuredClone would (property)', () => {
    const value = fc.anything({
      withMap: true,
      withSet: true,
      withDate: true,
      withBigInt: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withBoxedValues: false,
      withObjectString: true,
    });
    fc.assert(
      fc.property(value, (v) => {
        const frame = decode(encodeReply(1, v));
        expect(frame).toEqual({ type: FrameType.Reply, id: 1, value: structuredClone(v) });
      }),
      { numRuns: 2000 },
    );
  });

  it('gives typed arrays, Buffers and DataViews bytes of their own, as structuredClone does (a Buffer stays one)', () => {
    const values = [
      new Uint8Array([1, 2, 3]),
      new Float64Array([1.5, -2.5]),
      new BigInt64Array([5n]),
      Buffer.from('abc'),
      new DataView(new Uint8Array([9, 8]).buffer),
      new Uint16Array([1, 2, 3, 4]).subarray(1, 3),
    ];
    const frame = decode(encodeCall(7, 'm', [...values, 'x'.repeat(LONG_STRING)]));
    if (frame.type !== FrameType.Call) throw new Error('not a call');
    values.forEach((sent, i) => {
      const got = frame.args[i] as NodeJS.ArrayBufferView;
      // Not a view into the frame: its buffer is its bytes, and nothing else.
      expect(got.buffer.byteLength).toBe(sent.byteLength);
      expect(got.byteOffset).toBe(0);
      expect(got).toEqual(sent);
      expect(got.constructor).toBe(sent.constructor);
    });
  });

  it('keeps shared references, -0, undefined and holes as structured clones do', () => {
    const shared = { x: 1 };
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    const holey = [1, , 3];
    const frame = decode(encodeCall(1, 'm', [shared, shared, -0, undefined, holey, { u: undefined }]));
    const args = (frame as { args: unknown[] }).args;
    expect(args[0]).toBe(args[1]);
    expect(Object.is(args[2], -0)).toBe(true);
    expect(args).toHaveLength(6);
    expect(3 in args).toBe(true);
    expect(1 in (args[4] as unknown[])).toBe(false);
    expect(Object.hasOwn(args[5] as object, 'u')).toBe(true);
  });

  it('keeps shared and cyclic references in replies and messages, from the top level down', () => {
    const shared = { x: 1 };
    const reply = decode(encodeReply(1, { a: shared, b: [shared] })) as { value: any };
    expect(reply.value.a).toBe(reply.value.b[0]);
    const pair = decode(encodeReply(1, [shared, shared])) as { value: any };
    expect(pair.value[0]).toBe(pair.value[1]);
    const message = decode(encodeMessage('t', { a: shared, b: shared })) as { payload: any };
    expect(message.payload.a).toBe(message.payload.b);
    const across = decode(encodeCall(1, 'm', [shared, { in: shared }])) as { args: any[] };
    expect(across.args[0]).toBe(across.args[1].in);
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const looped = decode(encodeReply(1, cyclic)) as { value: any };
    expect(looped.value.self).toBe(looped.value);
  });

  it('corrupted and truncated valid frames never throw anything but FrameError (property)', () => {
    const samples = [
      encodeCall(7, 'method', [{ a: new Map([[1, 2n]]) }, new Float32Array([1.5]), 'text']),
      encodeReply(9, { deep: [[[new Date(1)]]] }),
      encodeReplyError(1, { name: 'Error', message: 'x' }),
      encodeMessage('topic', new Set([1, 'a'])),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        (sample, flips, cut) => {
          const bytes = Buffer.from(sample);
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          decodesOrFrameError(bytes);
          decodesOrFrameError(bytes.subarray(0, cut % (bytes.length + 1)));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('rejects well-formed bodies of the wrong shape', () => {
    const json = (type: number, value: unknown) =>
      Buffer.concat([Buffer.from([type, 1, 0, 0, 0, 0]), Buffer.from(JSON.stringify(value))]);
    const clone = (type: number, value: unknown) =>
      Buffer.concat([Buffer.from([type, 2, 0, 0, 0, 0]), v8.serialize(value)]);
    expect(() => decode(json(FrameType.Call, 'not an array'))).toThrow(FrameError);
    expect(() => decode(clone(FrameType.Call, [1, []]))).toThrow(FrameError);
    expect(() => decode(json(FrameType.ReplyError, { name: 1 }))).toThrow(FrameError);
    expect(() => decode(clone(FrameType.Message, ['t']))).toThrow(FrameError);
    expect(() => decode(json(99, null))).toThrow(/Unknown frame type/);
    expect(() => decode(Buffer.from([1, 0, 0, 0, 0, 0, 9]))).toThrow(/control frame/);
    expect(() => decode(Buffer.from([5, 3, 0, 0, 0, 0, 9]))).toThrow(FrameError);
    expect(() => decode(Buffer.from([5, 7, 0, 0, 0, 0]))).toThrow(/encoding/);
  });
});
