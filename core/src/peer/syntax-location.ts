// Where a JavaScript app's SyntaxError is. Node shows the file, the line and a caret only when it
// prints an uncaught error itself; the error that require() or import() of an ES module throws
// carries none of them (`SyntaxError: Unexpected token ';'`, then loader frames). esbuild, which
// core already ships for TypeScript apps, parses the app and the local modules it imports and
// says where. Only a failed boot pays for it.
import { resolve } from 'node:path';
import { outsideTests } from './test-scope.js';
import { loadEsbuild } from './typescript.js';

/** `file:line:column: message`, the line and a caret; undefined when esbuild finds nothing wrong. */
export async function locateSyntaxError(file: string, cwd: string): Promise<string | undefined> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = loadEsbuild();
  } catch {
    return undefined;
  }
  try {
    // esbuild's service process, started by the first build, lives on: outside the test's context.
    await outsideTests(() =>
      esbuild.build({
        entryPoints: [file],
        absWorkingDir: cwd,
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        write: false,
        logLevel: 'silent',
      }),
    );
    return undefined;
  } catch (error) {
    const messages = (error as { errors?: import('esbuild').Message[] }).errors ?? [];
    // Parse errors only: an import esbuild cannot follow is not what V8 choked on.
    const parse = messages.find(
      (m) => m.location && !/^(Could not resolve|No loader is configured)/.test(m.text),
    );
    if (!parse?.location) return undefined;
    const { line, column, lineText } = parse.location;
    return `${resolve(cwd, parse.location.file)}:${line}:${column + 1}: ${parse.text}\n    ${lineText}\n    ${' '.repeat(column)}^`;
  }
}
