import { EventEmitter } from 'node:events';
import type { TypedEventEmitter } from './types.js';

/**
 * Node's EventEmitter as a base class typed by its events (types.ts says why not
 * `EventEmitter<T>`): `class Peer extends TypedEmitter<PeerEvents>`.
 */
export const TypedEmitter = EventEmitter as unknown as new <T extends Record<keyof T, any[]>>(options?: {
  captureRejections?: boolean | undefined;
}) => TypedEventEmitter<T>;
