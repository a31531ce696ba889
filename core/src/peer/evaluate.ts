// Inside a peer: run the source of a function the test passed to `peer.evaluate(fn, arg)`.
// Only the source travels (like Playwright's page.evaluate), so a name the function captured
// from the test's scope is not defined here; the error says so instead of a bare ReferenceError.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppContext } from '../types.js';

// Test runners rewrite parts of the test's source before it runs, and `fn.toString()` shows the
// rewritten code: Vitest turns `import()` into `__vite_ssr_dynamic_import__()`, CommonJS
// transforms (Jest with ts-jest or Babel) into `require()`, wrapped in their interop helpers
// (TypeScript's `__importStar(require(…))` with esModuleInterop, Babel's
// `_interopRequireWildcard`), and TypeScript's async functions compiled below ES2017
// (`__awaiter`): helpers defined at the top of the test file, so not in the function's source.
// Give the function what those rewrites expect.
const require = createRequire(join(process.cwd(), 'noop.js'));
// `import('./x.js')` resolves from the peer's root (its working directory), as `require` does and
// as apps do: not from this file, in a cache folder the user knows nothing of.
const ROOT_URL = pathToFileURL(join(process.cwd(), 'noop.js')).href;
const importFromRoot = (specifier: string) =>
  import(
    typeof specifier === 'string' && (specifier.startsWith('./') || specifier.startsWith('../'))
      ? new URL(specifier, ROOT_URL).href
      : specifier
  );
/** A dynamic `import(` in a function's source (not a method or property named import). */
const DYNAMIC_IMPORT = /(?<![\w$.])import\s*\(/g;
type Module = Record<string, unknown> & { __esModule?: boolean };
const importStar = (mod: Module) =>
  mod?.__esModule
    ? mod
    : { ...(typeof mod === 'object' || typeof mod === 'function' ? mod : {}), default: mod };
const importDefault = (mod: Module) => (mod?.__esModule ? mod : { default: mod });
/** Runs a generator that yields promises as an async function would (TypeScript's __awaiter below ES2017). */
function awaiter(thisArg: unknown, args: unknown, _P: unknown, body: (...a: unknown[]) => Generator) {
  return new Promise((resolve, reject) => {
    const it = body.apply(thisArg, (args as unknown[]) ?? []);
    const step = (next: () => IteratorResult<unknown>) => {
      let result: IteratorResult<unknown>;
      try {
        result = next();
      } catch (error) {
        reject(error);
        return;
      }
      if (result.done) resolve(result.value);
      else
        Promise.resolve(result.value).then(
          (value) => step(() => it.next(value)),
          (error) => step(() => it.throw(error)),
        );
    };
    step(() => it.next());
  });
}
const scope = {
  __vite_ssr_dynamic_import__: importFromRoot,
  __peer_cluster_import__: importFromRoot,
  require,
  __importStar: importStar,
  __importDefault: importDefault,
  _interopRequireWildcard: importStar,
  _interopRequireDefault: importDefault,
  __awaiter: awaiter,
};

// Coverage instruments the functions it measures (istanbul, behind Jest's `--coverage` and
// Vitest's istanbul provider): a function defined in a module under coverage counts itself with
// `cov_<hash>().s[0]++`, a call to its module's counter. In the peer, such a counter counts into
// nothing: whatever is read from it is itself, and it is 0 as a number.
const counters: unknown = new Proxy(() => {}, {
  get: (_target, key) => (key === Symbol.toPrimitive ? () => 0 : counters),
  set: () => true,
  apply: () => counters,
});
const COVERAGE_COUNTER = /\bcov_[0-9a-z]+(?=\(\))/g;

function compile(written: string): unknown {
  const source = written.replace(DYNAMIC_IMPORT, '__peer_cluster_import__(');
  const names = [...Object.keys(scope), ...new Set(source.match(COVERAGE_COUNTER))];
  const values = names.map((name) => (name in scope ? scope[name as keyof typeof scope] : () => counters));
  try {
    return new Function(...names, `return (${source}\n);`)(...values);
  } catch (first) {
    // A method shorthand (`run(ctx) { … }`) is not an expression on its own.
    try {
      const holder = new Function(...names, `return ({ ${source}\n });`)(...values) as Record<
        string,
        unknown
      >;
      return Object.values(holder)[0];
    } catch {
      const error = new SyntaxError(
        `evaluate() could not compile the function's source (${(first as Error).message}). Pass an arrow function or a function expression.`,
      );
      throw error;
    }
  }
}

export async function evaluate(source: string, ctx: AppContext, arg: unknown): Promise<unknown> {
  const fn = compile(source);
  if (typeof fn !== 'function')
    throw new TypeError('evaluate() needs a function: peer.evaluate((ctx, arg) => …, arg)');
  try {
    return await fn(ctx, arg);
  } catch (error) {
    const name =
      error instanceof ReferenceError ? /^(\S+) is not defined$/.exec(error.message)?.[1] : undefined;
    if (name && error instanceof ReferenceError) {
      error.message = /^__vite_ssr_import_\d+__$/.test(name)
        ? "evaluate() sends the function's source, not its closure: it uses a binding the test file " +
          `imports (Vitest rewrote it as \`${name}\`), which is not defined in the peer; import it inside ` +
          "the function instead: peer.evaluate(async (ctx) => { const { x } = await import('…'); … })."
        : name === '__vite_ssr_import_meta__'
          ? "evaluate() sends the function's source, not its closure: it uses the test file's import.meta " +
            '(Vitest rewrote it as `__vite_ssr_import_meta__`), which is not defined in the peer; pass what ' +
            'you need of it as the argument: peer.evaluate((ctx, url) => …, import.meta.url).'
          : `evaluate() sends the function's source, not its closure: \`${name}\` is not defined in the peer; ` +
            `pass it as the argument: peer.evaluate((ctx, ${name}) => …, ${name}).`;
    }
    throw error;
  }
}
