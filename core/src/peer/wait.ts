// Waiting on peers: a condition re-checked on every change they report (links, state), never
// polled, with a timeout that names what did not happen.

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
