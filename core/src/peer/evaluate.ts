// Inside a peer: run the source of a function the test passed to `peer.evaluate(fn, arg)`.
// Only the source travels (like Playwright's page.evaluate), so a name the function captured
// from the test's scope is not defined here; the error says so instead of a bare ReferenceError.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { AppContext } from '../types.js';

// Test runners rewrite parts of the test's source before it runs, and `fn.toString()` shows the
// rewritten code: Vitest turns `import()` into `__vite_ssr_dynamic_import__()`, CommonJS
// transforms (Jest) turn it into `require()`. Give the function what those rewrites expect.
const require = createRequire(join(process.cwd(), 'noop.js'));
const scope = {
  __vite_ssr_dynamic_import__: (specifier: string) => import(specifier),
  require,
};

function compile(source: string): unknown {
  try {
    return new Function(...Object.keys(scope), `return (${source}\n);`)(...Object.values(scope));
  } catch (first) {
    // A method shorthand (`run(ctx) { … }`) is not an expression on its own.
    try {
      const holder = new Function(...Object.keys(scope), `return ({ ${source}\n });`)(
        ...Object.values(scope),
      ) as Record<string, unknown>;
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
      error.message =
        `evaluate() sends the function's source, not its closure: \`${name}\` is not defined in the peer; ` +
        `pass it as the argument: peer.evaluate((ctx, ${name}) => …, ${name}).`;
    }
    throw error;
  }
}
