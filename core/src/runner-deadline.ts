// The runner's timeout for the test or hook running now, when the runner's environment tells it
// (Jest's does, from its test events): a stop of a cluster the test started itself, in a test or a
// hook whose timeout would run out before stopTimeout, kills its peers in time to say so, instead
// of leaving the user only the runner's "Exceeded timeout". Read through the harness's state on
// the test's global, which every copy of core in the test's realm sees.

/** The test or hook running now, and when the runner will fail it. */
export interface RunnerDeadline {
  /** Epoch ms (the harness's real clock) at which the runner fails it. */
  readonly at: number;
  /** Its timeout, in ms, as the runner gave it. */
  readonly timeout: number;
  /** What it is, for messages: `test`, `afterEach hook`. */
  readonly what: string;
  /** Whether it still runs: a stop it did not await is not bound by it once it has ended. */
  running(): boolean;
}

const HARNESS_KEY = Symbol.for('peer-cluster');

/** The deadline of the test or hook running now, if a runner's environment tells it. */
export function runnerDeadline(): RunnerDeadline | undefined {
  const state = (globalThis as { [HARNESS_KEY]?: { runnerDeadline?: () => RunnerDeadline | undefined } })[
    HARNESS_KEY
  ];
  try {
    return state?.runnerDeadline?.();
  } catch {
    return undefined;
  }
}

/**
 * The time kept, before a runner's deadline, for the kill to land and the stop to resolve: a fifth
 * of its timeout, between 250 ms and 1 s.
 */
export function killRoom(timeout: number): number {
  return Math.min(1000, Math.max(250, timeout / 5));
}
