import { type EventEmitter, errorMonitor } from 'node:events';

/**
 * `emitter.emit(event, ...args)` for events that peer-cluster's own code paths raise (a link's
 * receiver, a heartbeat timer, a handshake's end, a peer's control channel, a healer's refresh):
 * a listener that throws must not unwind through them (a link would stop being read, a timer would
 * stop ticking, a boot would never settle), nor keep the listeners after it from running.
 *
 * Each listener runs as `emit` would run it (in order, with the emitter as `this`, `once` ones
 * removed, on a copy of the list so that a listener may add or remove listeners). An error one
 * throws is thrown again on its own, from a microtask: an uncaught exception with the listener's
 * stack, as with a plain emitter, and the test runner reports it as the user's error. As `emit`
 * does, an `error` goes to the `errorMonitor` listeners first.
 */
export function notify(emitter: EventEmitter, event: string | symbol, ...args: unknown[]): void {
  const listeners = emitter.rawListeners(event); // a copy
  if (event === 'error') listeners.unshift(...emitter.rawListeners(errorMonitor));
  for (const listener of listeners) {
    try {
      Reflect.apply(listener, emitter, args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
