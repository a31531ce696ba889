// The runner's timeout for the test or hook running now, when the runner's environment tells it
// (Jest's does, from its test events): a stop of a cluster the test started itself, in a test or a
// hook whose timeout would run out before stopTimeout, kills its peers in time to say so, instead
// of leaving the user only the runner's "Exceeded timeout". Where the runner tells only when it
// gives up on the test (Vitest aborts the test's `context.signal`), the stop kills its peers then,
// and says so. Read through the harness's state on the test's global, which every copy of core in
// the test's realm sees.

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

interface RunnerState {
  runnerDeadline?: () => RunnerDeadline | undefined;
  runnerSignal?: () => AbortSignal | undefined;
}

function runnerState(): RunnerState | undefined {
  return (globalThis as { [HARNESS_KEY]?: RunnerState })[HARNESS_KEY];
}

/** The deadline of the test or hook running now, if a runner's environment tells it. */
export function runnerDeadline(): RunnerDeadline | undefined {
  try {
    return runnerState()?.runnerDeadline?.();
  } catch {
    return undefined;
  }
}

/**
 * The signal the runner aborts when it gives up on the test running now (its timeout, or one of
 * its hooks', or a cancelled run), if a runner's environment gives one and it is not aborted yet.
 */
export function runnerSignal(): AbortSignal | undefined {
  try {
    const signal = runnerState()?.runnerSignal?.();
    return signal && !signal.aborted ? signal : undefined;
  } catch {
    return undefined;
  }
}

/** Why the runner aborted: the first line of its reason (`Test timed out in 5000ms.`). */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  const text =
    reason instanceof Error || (typeof reason === 'object' && reason !== null && 'message' in reason)
      ? String((reason as { message: unknown }).message)
      : String(reason);
  return text.split('\n')[0]!.trim() || 'aborted';
}

/**
 * The time kept, before a runner's deadline, for the kill to land and the stop to resolve: a fifth
 * of its timeout, between 250 ms and 1 s.
 */
export function killRoom(timeout: number): number {
  return Math.min(1000, Math.max(250, timeout / 5));
}
