// The few places where the plugin reaches into Vitest's runner.

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
  const worker = (globalThis as { __vitest_worker__?: { config?: { root?: string } } }).__vitest_worker__;
  return worker?.config?.root ?? process.cwd();
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
