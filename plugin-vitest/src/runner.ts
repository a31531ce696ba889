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
