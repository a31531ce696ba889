// A value that arrives over Node's IPC is built in Node's main realm. A test that runs in a vm
// context has an Object, Array, Map… of its own (Vitest's vmThreads and vmForks pools, where this
// module runs in that context too; Jest's sandbox, where it runs outside and the environment names
// the sandbox's global with adoptValuesInto), so such a value failed `instanceof Map`,
// `toStrictEqual` and `toEqual` with an Error in it. `adopt` rebuilds it with the test realm's
// classes; a value already of that realm is returned as it is, at the cost of one `instanceof`.
// What the harness builds and hands out (timeline events, log lines, arrays of peers…) it makes
// with realmObject and realmArray, which cost nothing unless the test's realm is not this module's.

/** What built-in an object is (`Map`, `Error`…), whatever its realm: `instanceof` sees only its own. */
export const tagOf = (value: object): string => Object.prototype.toString.call(value).slice(8, -1);

type Realm = typeof globalThis;
let realm: Realm = globalThis;

/** The global of the realm the test runs in, whose classes `adopt` uses (this module's by default). */
export function adoptValuesInto(global: Realm | undefined): void {
  realm = global ?? globalThis;
}

/**
 * `value`, a plain object the harness just built (its fields primitives), as an object of the test
 * realm: how the values the API hands out are made (timeline entries, log lines…). Under Jest that
 * costs one copy; elsewhere nothing.
 */
export function realmObject<T extends object>(value: T): T {
  return realm === globalThis ? value : Object.assign(new realm.Object() as T, value);
}

/** `items`, an array the harness just built, as an array of the test realm (its elements kept). */
export function realmArray<T>(items: T[]): T[] {
  if (realm === globalThis) return items;
  // concat, not Array.from: no iterator, and the copy is made by the receiver's realm.
  return realm.Array.prototype.concat.call(new realm.Array(), items) as T[];
}

/** `value` with every object in it made of the test realm's classes (shared references kept shared). */
export function adopt(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof realm.Object) return value;
  return rebuild(value, new Map());
}

function rebuild(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  const kind = tagOf(value);
  const own = <T>(copy: T): T => {
    seen.set(value, copy);
    return copy;
  };
  if (ArrayBuffer.isView(value)) {
    const Kind = (realm as unknown as Record<string, unknown>)[kind];
    if (kind === 'DataView' || typeof Kind !== 'function') return value;
    return own(
      new (Kind as new (from: ArrayLike<unknown>) => unknown)(value as unknown as ArrayLike<unknown>),
    );
  }
  switch (kind) {
    case 'Array': {
      const copy = own(new realm.Array((value as unknown[]).length));
      for (const key of Object.keys(value))
        copy[key as unknown as number] = rebuild((value as unknown[])[key as unknown as number], seen);
      return copy;
    }
    case 'Map': {
      const copy = own(new realm.Map());
      for (const [k, v] of value as Map<unknown, unknown>) copy.set(rebuild(k, seen), rebuild(v, seen));
      return copy;
    }
    case 'Set': {
      const copy = own(new realm.Set());
      for (const v of value as Set<unknown>) copy.add(rebuild(v, seen));
      return copy;
    }
    case 'Date':
      return own(new realm.Date((value as Date).getTime()));
    case 'RegExp':
      return own(new realm.RegExp((value as RegExp).source, (value as RegExp).flags));
    case 'ArrayBuffer':
      return own(new realm.Uint8Array(new Uint8Array(value as ArrayBuffer)).buffer);
    case 'Error': {
      const error = value as Error;
      const Named = (realm as unknown as Record<string, unknown>)[error.name];
      const Kind =
        typeof Named === 'function' && Named.prototype instanceof realm.Error ? Named : realm.Error;
      const copy = own(new (Kind as ErrorConstructor)(error.message));
      Object.defineProperty(copy, 'stack', { value: error.stack, writable: true, configurable: true });
      if ('cause' in error)
        Object.defineProperty(copy, 'cause', {
          value: rebuild(error.cause, seen),
          writable: true,
          configurable: true,
        });
      return copy;
    }
    case 'Object': {
      const copy = own(new realm.Object() as Record<string, unknown>);
      // defineProperty: an own `__proto__` key (JSON.parse makes them) is a field, not the prototype.
      for (const [k, v] of Object.entries(value))
        Object.defineProperty(copy, k, {
          value: rebuild(v, seen),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      return copy;
    }
    default:
      // Boxed primitives and whatever structured clone may add: left as they came.
      return value;
  }
}
