// The few places where the plugin reaches into Vitest's runner.
import {
  environmentClusterOptions,
  type HarnessState,
  harnessState,
  type PeerClusterOptions,
} from '@peer-cluster/core/harness';

/** What Vitest's worker state holds of the config (what the plugin reads of it). */
interface WorkerConfig {
  root?: string;
  environmentOptions?: Record<string, unknown> | null;
}

/** What Vitest's worker state holds (what the plugin reads of it). */
interface WorkerState {
  config?: WorkerConfig;
  /**
   * The task running now: a test (from its beforeEach to its afterEach), else its suite or file;
   * the file being collected, which has no result until it runs.
   */
  current?: { type?: string; name?: string; result?: unknown };
  /** Vitest 4 and 5: adds a listener (5 returns how to remove it); Vitest 3: a promise. */
  onCancel?: ((listener: (reason: string) => unknown) => unknown) | Promise<string>;
}

function workerState(): WorkerState | undefined {
  return (globalThis as { __vitest_worker__?: WorkerState }).__vitest_worker__;
}

function workerConfig(): WorkerConfig | undefined {
  return workerState()?.config;
}

/**
 * Calls `listener` when Vitest cancels the run (a bail, or a rerun in watch mode) while this
 * worker runs a file; returns how to stop listening.
 */
export function onRunCancelled(listener: () => void): () => void {
  // Vitest 4 keeps what onCancel is given until the worker exits (across files with
  // --no-isolate), and offers no way to take it back: once unwatched, `heard` lets go of the
  // listener and what it holds.
  let listening: (() => void) | undefined = listener;
  const heard = () => listening?.();
  const onCancel = workerState()?.onCancel;
  let off: unknown;
  if (typeof onCancel === 'function') off = onCancel(heard);
  else if (onCancel && typeof onCancel.then === 'function') void onCancel.then(heard, () => {});
  return () => {
    listening = undefined;
    if (typeof off === 'function') off();
  };
}

/** The name of the test running now, if one is. */
export function runningTest(): string | undefined {
  const current = workerState()?.current;
  return current?.type === 'test' ? (current.name ?? '') : undefined;
}

/** Whether Vitest is collecting the running file, when it can tell (a task with no result yet). */
export function collecting(): boolean | undefined {
  const current = workerState()?.current;
  return current ? current.result === undefined : undefined;
}

/** Add an error to a failed task's result, so the reporters print it with the test's failure. */
export function attachToFailedTest(
  task: { result?: { errors?: unknown[] } | undefined },
  error: Error,
): void {
  if (!task.result) return;
  task.result.errors ??= [];
  // Reporters read serialized errors; a plain object keeps every field across the worker boundary.
  task.result.errors.push({ name: error.name, message: error.message, stack: error.stack });
}

/** Vitest's project root (what `apps` resolve from), or the working directory outside Vitest. */
export function projectRoot(): string {
  return workerConfig()?.root ?? process.cwd();
}

/**
 * `environmentOptions['peer-cluster']` (of the config, or a file's comment), checked; a relative
 * `root` only when given the project `root` it resolves from.
 */
export function peerClusterOptions(
  options: Record<string, unknown> | null | undefined,
  root?: string,
  /** Where else they may come from: the environment's own options may be a file's comment too. */
  alsoFrom?: string,
): PeerClusterOptions | undefined {
  return environmentClusterOptions(
    options,
    'environmentOptions',
    "Set it in test.environmentOptions of your Vitest config, or with a file's @vitest-environment-options comment.",
    alsoFrom,
    root,
  );
}

/** What the environment's options may come from besides the config (Vitest names the file). */
export const FILE_COMMENT =
  'the @vitest-environment-options comment of the test file Vitest failed to run, which it merges into environmentOptions';

/**
 * The harness state of the running file: the one its peer-cluster environment set up, or, in a
 * file that runs in another environment (jsdom, say), one with the config's
 * `environmentOptions['peer-cluster']`, as the environment would have had.
 */
export function fileState(): HarnessState {
  const state = harnessState(globalThis);
  if (!state.configured) {
    state.options = peerClusterOptions(workerConfig()?.environmentOptions, projectRoot());
    state.configured = true;
  }
  if (state.checkRoot) {
    state.checkRoot(projectRoot());
    state.checkRoot = undefined;
  }
  return state;
}

/**
 * The 'vitest' module of the running test file: what Vitest puts on the global before it runs a
 * file (the module behind `import.meta.vitest`), in the file's own realm (the vm pools run each
 * file in a context of its own). Not imported: Vitest 3 loads this package as the environment
 * before its worker state exists, and evaluating 'vitest' then fails every file with "Vitest failed
 * to access its internal state".
 */
export function vitestApi(what: string): typeof import('vitest') {
  const api = (globalThis as { __vitest_index__?: typeof import('vitest') }).__vitest_index__;
  if (!api) {
    throw new Error(
      `${what} must be called while Vitest runs a test file (in the file, or in one of its describes and hooks).`,
    );
  }
  return api;
}
