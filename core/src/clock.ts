// The harness's own clock and timers. A test may fake timers (Vitest's vi.useFakeTimers replaces
// setTimeout, Date and node:timers on the global): the harness's timeouts, heartbeat waits and
// report times must still run on real time. They are taken the first time core loads in a process,
// which is when a runner's environment is set up, before any test code runs, and kept on
// `process` (which every realm and copy of core in the process shares), so that modules loaded
// later, on first use, take the same real ones.
interface Clock {
  now: () => number;
  setTimeout: typeof globalThis.setTimeout;
  clearTimeout: typeof globalThis.clearTimeout;
}

const KEY = Symbol.for('peer-cluster.clock');
const holder = process as unknown as { [KEY]?: Clock };
holder[KEY] ??= {
  now: Date.now,
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
};
const clock = holder[KEY];

/** Epoch ms, real whatever the test did to Date. */
export const now: () => number = clock.now;
export const setTimeout: typeof globalThis.setTimeout = clock.setTimeout;
export const clearTimeout: typeof globalThis.clearTimeout = clock.clearTimeout;
