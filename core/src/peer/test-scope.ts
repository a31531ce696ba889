// Which test started a request or a wait, for failure reports. Tests that run concurrently share
// their scope's cluster and overlap in time, so the time a call began cannot tell whose it is: a
// runner plugin runs each such test inside withTestScope, and what the test starts, in its own
// async chain, carries the test's scope (AsyncLocalStorage: promises and timers inherit it).
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';

/** One attempt of one test, as a plugin entered it. */
export interface TestScope {
  /** The attempt has ended: what it left pending is no longer awaited by it. */
  ended: boolean;
}

const scopes = new AsyncLocalStorage<TestScope>();

/**
 * Runs `run` (a test attempt, its hooks included) as a scope of its own, unless it already runs in
 * one that has not ended (a plugin's nested wrappers of the same attempt).
 */
export async function withTestScope<T>(run: () => Promise<T> | T): Promise<T> {
  if (scopes.getStore()?.ended === false) return run();
  const scope: TestScope = { ended: false };
  try {
    return await scopes.run(scope, run);
  } finally {
    scope.ended = true;
  }
}

/** Runs `run` in `scope`, returning what it returns; the caller says when the scope has ended. */
export function runInTestScope<T>(scope: TestScope, run: () => T): T {
  return scopes.run(scope, run);
}

/** The scope of the test whose async chain runs now, if a plugin entered one. */
export function currentTestScope(): TestScope | undefined {
  return scopes.getStore();
}

/**
 * The async context this module was loaded in: a runner's environment setup, outside every test
 * and hook (the harness loads it there).
 */
const outside = new AsyncResource('peer-cluster.outside-tests');

/**
 * Runs `run` outside the test or hook that runs now, for what outlives it (the process's registry
 * connection). A socket or timer keeps the async context it was made in for as long as it lives,
 * and Jest's holds the running hook, through which the test file's whole sandbox stayed reachable
 * after the file ended (`jest --detectLeaks`: "Your test suite is leaking memory").
 */
export function outsideTests<T>(run: () => T): T {
  return outside.runInAsyncScope(run);
}
