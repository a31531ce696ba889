// Waiting on peers: a condition re-checked on every change they report (links, state), never
// polled, with a timeout that names what did not happen.

import { clearTimeout, now as clockNow, setTimeout } from '../clock.js';
import type { InFlight } from './channel.js';
import { currentTestScope, type TestScope } from './test-scope.js';

export interface WaitOptions<T> {
  /** A value ends the wait; undefined keeps waiting; a throw rejects it. */
  check: () => T | undefined;
  /** Call `test` on every change; returns how to stop. */
  subscribe: (test: () => void) => () => void;
  timeout: number;
  onTimeout: () => Error;
}

export function waitUntil<T>({ check, subscribe, timeout, onTimeout }: WaitOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let unsubscribe = () => {};
    const finish = () => {
      clearTimeout(timer);
      unsubscribe();
    };
    const test = () => {
      let value: T | undefined;
      try {
        value = check();
      } catch (error) {
        finish();
        reject(error);
        return;
      }
      if (value !== undefined) {
        finish();
        resolve(value);
      }
    };
    const timer = setTimeout(() => {
      finish();
      reject(onTimeout());
    }, timeout);
    unsubscribe = subscribe(test);
    test();
  });
}

/** The waits in progress on one peer or cluster, for failure reports (see InFlight). */
export class PendingWaits {
  readonly #waits = new Set<{
    what: string;
    since: number;
    scope: TestScope | undefined;
    detail: () => string;
  }>();

  /** Tracks `wait` while it runs; `detail` says how it stands when a report asks. */
  track<T>(what: string, detail: () => string, wait: () => Promise<T>): Promise<T> {
    const entry = { what, since: clockNow(), scope: currentTestScope(), detail };
    this.#waits.add(entry);
    const done = () => this.#waits.delete(entry);
    return wait().finally(done);
  }

  list(): InFlight[] {
    return [...this.#waits].map(({ what, since, scope, detail }) => {
      let now: string;
      try {
        now = detail();
      } catch (error) {
        now = `(${error instanceof Error ? error.message : String(error)})`;
      }
      return { what, since, scope, detail: now };
    });
  }
}
