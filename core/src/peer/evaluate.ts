// Inside a peer: run the source of a function the test passed to `peer.evaluate(fn, arg)`.
// Only the source travels (like Playwright's page.evaluate), so a name the function captured
// from the test's scope is not defined here; the error says so instead of a bare ReferenceError.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { init as initLexer, parse as parseModule } from 'es-module-lexer';
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
const importFromRoot = (specifier: string) => {
  const relative =
    typeof specifier === 'string' && (specifier.startsWith('./') || specifier.startsWith('../'));
  return import(relative ? new URL(specifier, ROOT_URL).href : specifier).catch((error: unknown) => {
    throw explainImport(error, specifier, relative);
  });
};

/** Node's import errors name this cache folder's file as the importer, and know nothing of TypeScript apps. */
function explainImport(error: unknown, specifier: string, relative: boolean): unknown {
  const { code } = (error ?? {}) as { code?: unknown };
  if (!(error instanceof Error)) return error;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?tsx?$/.test(specifier))
    error.message +=
      ": evaluate() does not compile TypeScript; reach .ts code through an app's handlers (ctx.cluster.handle), and call them with peer.call";
  else if (code === 'ERR_MODULE_NOT_FOUND' && relative)
    error.message += ` (evaluate() resolves a relative import(${JSON.stringify(specifier)}) from the peer's root, ${process.cwd()})`;
  return error;
}
/**
 * The source with each dynamic `import(` in its code made a call of `to`. es-module-lexer finds
 * them: it knows strings, template text, comments and regular expressions, so a function that
 * returns `'import(x)'` returns that, and a method or property named import is left alone.
 */
export async function rewriteImports(source: string, to: string): Promise<string> {
  if (!source.includes('import')) return source;
  await initLexer;
  let imports: readonly { d: number; ss: number }[];
  try {
    [imports] = parseModule(source);
  } catch {
    // What the lexer cannot read does not compile either: compile() says so.
    return source;
  }
  let out = '';
  let copied = 0;
  for (const { d, ss } of imports) {
    // d: the `(` of a dynamic import; -1 for a static import, -2 for import.meta.
    if (d < 0) continue;
    out += `${source.slice(copied, ss)}${to}`;
    copied = ss + 'import'.length;
  }
  return out + source.slice(copied);
}
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

function compile(source: string): unknown {
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
  const fn = compile(await rewriteImports(source, '__peer_cluster_import__'));
  if (typeof fn !== 'function')
    throw new TypeError('evaluate() needs a function: peer.evaluate((ctx, arg) => …, arg)');
  try {
    return await fn(ctx, arg);
  } catch (error) {
    const name =
      error instanceof ReferenceError ? /^(\S+) is not defined$/.exec(error.message)?.[1] : undefined;
    if (name && error instanceof ReferenceError) error.message = notDefined(name);
    throw error;
  }
}

const CLOSURE = "evaluate() sends the function's source, not its closure:";
const IMPORT_INSIDE =
  "import it inside the function instead: peer.evaluate(async (ctx) => { const { x } = await import('…'); … }).";
/** The helpers TypeScript (tslib) emits for syntax it compiles down; __awaiter and the import helpers are given above. */
const TS_HELPERS =
  /^__(extends|assign|rest|decorate|param|esDecorate|runInitializers|propKey|setFunctionName|metadata|generator|exportStar|values|read|spread|spreadArrays|spreadArray|await|asyncGenerator|asyncDelegator|asyncValues|makeTemplateObject|classPrivateField(Get|Set|In)|createBinding|addDisposableResource|disposeResources)$/;
/**
 * What Babel emits for syntax it compiles down: its helpers, and the `_ref` an async function's
 * body is hoisted into (outside the function, so not in its source).
 */
const BABEL_HELPERS =
  /^_(ref\d*|asyncToGenerator|objectSpread2?|objectWithoutProperties(Loose)?|defineProperty|createClass|classCallCheck|createForOfIteratorHelper(Loose)?|regeneratorRuntime|regenerator\w*|toConsumableArray|slicedToArray|classPrivate\w+|asyncIterator|awaitAsyncGenerator|wrapAsyncGenerator|extends|typeof|toPropertyKey|toPrimitive|inherits|callSuper|possibleConstructorReturn|getPrototypeOf|setPrototypeOf|assertThisInitialized|taggedTemplateLiteral\w*|arrayLikeToArray|iterableToArray|unsupportedIterableToArray|nonIterableSpread|nonIterableRest|arrayWithHoles|arrayWithoutHoles|iterableToArrayLimit)$/;

/** Why `name` is not defined when the function ran in the peer, and what to do. */
function notDefined(name: string): string {
  if (/^__vite_ssr_import_\d+__$/.test(name) || /^__vi_import_\d+__$/.test(name))
    return `${CLOSURE} it uses a binding the test file imports (Vitest rewrote it as \`${name}\`), which is not defined in the peer; ${IMPORT_INSIDE}`;
  if (name === '__vite_ssr_import_meta__')
    return (
      `${CLOSURE} it uses the test file's import.meta (Vitest rewrote it as \`__vite_ssr_import_meta__\`), which is not defined in the peer; pass what ` +
      'you need of it as the argument: peer.evaluate((ctx, url) => …, import.meta.url).'
    );
  if (TS_HELPERS.test(name))
    return (
      `evaluate() sends the function's source as the test's compiler left it: \`${name}\` is a helper TypeScript (ts-jest) ` +
      'added to the test file for syntax it compiled for an older target, and it is not defined in the peer. Compile the tests ' +
      'for ES2022 or later (the `target` of the tsconfig ts-jest uses), or leave that syntax out of the function.'
    );
  if (BABEL_HELPERS.test(name))
    return (
      `evaluate() sends the function's source as the test's compiler left it: \`${name}\` is a helper (or a hoisted async body) ` +
      "Babel added to the test file for syntax it compiled for an older target, and it is not defined in the peer. Set @babel/preset-env's " +
      "`targets: { node: 'current' }` (as Jest's docs do), or leave that syntax out of the function."
    );
  if (/^[\w$]+_\d+$/.test(name))
    return `${CLOSURE} \`${name}\` is not defined in the peer. If it is a module the test file imports (TypeScript's CommonJS output names them so), ${IMPORT_INSIDE} Else pass it as the argument: peer.evaluate((ctx, ${name}) => …, ${name}).`;
  return `${CLOSURE} \`${name}\` is not defined in the peer; pass it as the argument: peer.evaluate((ctx, ${name}) => …, ${name}) (a module the test file imports: import it inside the function).`;
}
