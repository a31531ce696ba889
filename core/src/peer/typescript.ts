// TypeScript apps without a `tsx` start per peer (+150–220 ms each): each TypeScript file an app
// reaches is compiled with esbuild into a file of its own under the nearest node_modules/.cache,
// named after its path, so a module imported by two apps (or by an app and a strategy module) is
// one module in the peer, as it would be in JavaScript. Each output imports the outputs of the
// TypeScript files it imports, every other local file where it is (a JavaScript module shared with
// a JavaScript app is then the same module), and packages by their bare name, resolved from the
// project as before. Beside each app's build, a manifest lists the sources of its whole import
// graph with their mtime and size, and the outputs with a hash of their text: a later test
// process whose inputs are unchanged reuses the build without loading esbuild. A build during
// which one of its files changed gets no manifest (it may hold the old text).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { writeAtomically } from './atomic-write.js';
import { cacheDir as coreCacheDir } from './runtime-bundle.js';
import { outsideTests } from './test-scope.js';

export const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;

/** Sources compiled to a JS file of their own: TypeScript, and JSX, which Node cannot load either. */
const COMPILED = /\.(ts|mts|cts|tsx|jsx)$/;

/** Part of every output's and manifest's name: a new layout of the outputs never reads an old one. */
const LAYOUT = '3';
const NODE_MAJOR = process.versions.node.split('.')[0]!;

interface Manifest {
  output: string;
  /** Every source of the app's import graph (and any file esbuild bundled into an output). */
  inputs: Stamp[];
  /** Every output of the graph, with a hash of its text. */
  outputs: { path: string; hash: string }[];
}

/** Manifests this process wrote or checked: their outputs are known good, only the inputs need a look. */
const known = new Map<string, Manifest>();
const pending = new Map<string, Promise<string>>();

/**
 * The path of a JS build of the TypeScript module at `file`. Compiled from its real path, as Node
 * would load it: esbuild reports real paths, so a path through a symlink (a symlinked root, a
 * workspace link, macOS's /tmp) would otherwise not match its own imports.
 */
export function compileTypeScript(file: string): Promise<string> {
  return realpath(file).then(compileRealPath, () => compileRealPath(file));
}

function compileRealPath(file: string): Promise<string> {
  let result = pending.get(file);
  if (!result) {
    result = cached(file).then((hit) => hit ?? build(file));
    pending.set(file, result);
    const done = () => pending.delete(file);
    result.then(done, done);
  }
  return result;
}

/** The build of this or an earlier process, if none of the files it was made of changed since. */
async function cached(file: string): Promise<string | undefined> {
  let manifest = known.get(file);
  const checked = manifest !== undefined;
  try {
    manifest ??= JSON.parse(await readFile(manifestPath(file), 'utf8')) as Manifest;
    const unchanged = await Promise.all([
      ...manifest.inputs.map(same),
      // Outputs are named after their source, not their content: a process that compiled an older
      // text of a source could have written its output after ours. Hashing the few outputs costs
      // less than a millisecond.
      ...(checked
        ? []
        : manifest.outputs.map(async (output) => hash(await readFile(output.path, 'utf8')) === output.hash)),
    ]);
    if (unchanged.every(Boolean)) {
      known.set(file, manifest);
      return manifest.output;
    }
  } catch {}
  known.delete(file);
  return undefined;
}

interface Stamp {
  path: string;
  mtimeMs: number;
  size: number;
}

/** One compiled file, as also recorded beside its output (`<output>.json`) for later processes. */
interface Compiled {
  source: string;
  output: string;
  hash: string;
  /** The sources it imports that are compiled too. */
  imports: string[];
  /** The files its text was made of (the source, and any file esbuild bundled into it), as they were. */
  inputs: Stamp[];
}

/** One compile per source text in this process: apps sharing a module compile it once. */
const compiledFiles = new Map<string, Promise<Compiled>>();

async function build(entry: string): Promise<string> {
  // Folders are listed afresh for each build: a tsconfig may have appeared since the last one.
  tsconfigsIn.clear();
  // Coarse file-system clocks stamp a write up to a tick (≤10 ms) early: a little margin.
  const started = Date.now() - 20;
  // The graph, compiled wave by wave: the entry, then the files it imports, then theirs (cycles
  // included: an output names the output of what it imports by path, compiled or not yet). A wave
  // is one esbuild build: a build costs ≈1–3 ms more than the files it compiles.
  const graph = new Map<string, Compiled>();
  try {
    for (let wave = [entry]; wave.length > 0; ) {
      for (const compiled of await compileWave(wave)) graph.set(compiled.source, compiled);
      wave = [...new Set([...graph.values()].flatMap((c) => c.imports))].filter((s) => !graph.has(s));
    }
  } catch (error) {
    if (!(error instanceof EsbuildMissing)) throw error;
    // Without esbuild, a Node that strips types itself can import the source directly.
    if ((process.features as { typescript?: unknown }).typescript) return entry;
    throw error.cause;
  }
  const files = [...graph.values()];
  const inputs = [...new Map(files.flatMap((f) => f.inputs).map((i) => [i.path, i])).values()];
  const manifest: Manifest = {
    output: outputPath(entry),
    inputs,
    outputs: files.map((f) => ({ path: f.output, hash: f.hash })),
  };
  // A file changed while esbuild read the sources: this build may hold the old text under the new
  // mtime, so no manifest: the next process builds again.
  if (inputs.every((input) => input.mtimeMs < started)) {
    await writeAtomically(manifestPath(entry), JSON.stringify(manifest));
    known.set(entry, manifest);
  }
  return manifest.output;
}

/**
 * Compiles the sources (or makes the proxies of JSON files) once per text in this process, unless
 * an earlier process left an output for the same text: after an edit, only the edited files are
 * compiled again.
 */
async function compileWave(sources: string[]): Promise<Compiled[]> {
  const keys = await Promise.all(
    sources.map(async (source) => {
      const { mtimeMs, size } = await stat(source);
      return `${source}\0${mtimeMs}\0${size}`;
    }),
  );
  const settle = new Map<string, (compiled: Promise<Compiled>) => void>();
  const results = keys.map((key, i) => {
    let compiled = compiledFiles.get(key);
    if (!compiled) {
      // Kept for the process's life: made outside the test's async context, which it would keep.
      compiled = outsideTests(() => new Promise<Compiled>((resolve) => settle.set(sources[i]!, resolve)));
      compiledFiles.set(key, compiled);
      compiled.catch(() => compiledFiles.delete(key));
    }
    return compiled;
  });
  const fresh = [...settle.keys()];
  const records = await Promise.all(fresh.map(reusable));
  const rest = fresh.filter((source, i) => {
    if (records[i]) settle.get(source)!(Promise.resolve(records[i]));
    return !records[i];
  });
  for (const source of rest.filter((s) => s.endsWith('.json'))) settle.get(source)!(jsonProxy(source));
  const typescript = rest.filter((s) => !s.endsWith('.json'));
  for (const batch of batches(typescript)) {
    const compiled = compileSources(batch);
    for (const source of batch) settle.get(source)!(compiled.then((all) => all.get(source)!));
  }
  return Promise.all(results);
}

/** Splits the sources where two would have the same output path in one esbuild build (`x.ts`, `x.mts`). */
function batches(sources: string[]): string[][] {
  const out: { names: Set<string>; sources: string[] }[] = [];
  for (const source of sources) {
    const name = source.replace(/\.\w+$/, '');
    let batch = out.find((b) => !b.names.has(name));
    if (!batch) {
      batch = { names: new Set(), sources: [] };
      out.push(batch);
    }
    batch.names.add(name);
    batch.sources.push(source);
  }
  return out.map((b) => b.sources);
}

/** The record an earlier process left beside the output of `source`, if its inputs and output are as recorded. */
async function reusable(source: string): Promise<Compiled | undefined> {
  try {
    const record = JSON.parse(await readFile(`${outputPath(source)}.json`, 'utf8')) as Compiled;
    const unchanged = await Promise.all([
      ...record.inputs.map(same),
      readFile(record.output, 'utf8').then((text) => hash(text) === record.hash),
    ]);
    return unchanged.every(Boolean) && record.source === source ? record : undefined;
  } catch {
    return undefined;
  }
}

async function same(input: Stamp): Promise<boolean> {
  const now = await stat(input.path);
  return now.mtimeMs === input.mtimeMs && now.size === input.size;
}

/**
 * Writes an output (unless it already holds this text, as after another process compiled the
 * same), then its record, unless one of its inputs changed since `started` (the text may be older).
 */
async function finish(
  source: string,
  text: string,
  imports: string[],
  inputPaths: string[],
  started: number,
): Promise<Compiled> {
  const output = outputPath(source);
  const current = await readFile(output, 'utf8').catch(() => undefined);
  if (current !== text) await writeAtomically(output, text);
  const inputs = await Promise.all(
    inputPaths.map(async (path) => {
      const { mtimeMs, size } = await stat(path);
      return { path, mtimeMs, size };
    }),
  );
  const compiled: Compiled = { source, output, hash: hash(text), imports, inputs };
  if (inputs.every((input) => input.mtimeMs < started)) {
    await writeAtomically(`${output}.json`, JSON.stringify(compiled));
  }
  return compiled;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * What `import.meta.url`, `filename` and `dirname` become: the output lives in the cache, but
 * the app's `new URL('./data.json', import.meta.url)` means its own folder. One build compiles
 * many files, so `define` names this object, which each output declares on a first line of its own.
 */
const META = '__peer_cluster_import_meta__';

/** Compiles TypeScript (or JSX) sources in one esbuild build, each to an output of its own. */
async function compileSources(sources: string[]): Promise<Map<string, Compiled>> {
  const started = Date.now() - 20;
  const imports = new Map(sources.map((source) => [source, new Set<string>()]));
  // esbuild's service process, started by the first build, lives on: outside the test's context.
  const out = await outsideTests(() =>
    esbuild().build({
      entryPoints: sources,
      // Bundling, for its resolver (tsconfig paths, `./x.js` meaning `./x.ts`, folders); every
      // import stays an import (see importsInPlace).
      bundle: true,
      packages: 'external',
      format: 'esm',
      platform: 'node',
      target: `node${NODE_MAJOR}`,
      // esbuild dates them from Node 21 (they came in 20.10): without this, `with { type: 'json' }`
      // would be dropped from the imports of a JSON file on Node 20.
      supported: { 'import-attributes': true },
      // Not written there: the outputs go to outputPath(). esbuild needs a place to name them.
      outdir: cacheDir(dirname(sources[0]!)),
      sourcemap: 'external',
      sourcesContent: false,
      write: false,
      metafile: true,
      logLevel: 'silent',
      define: {
        'import.meta.url': `${META}.url`,
        'import.meta.filename': `${META}.filename`,
        'import.meta.dirname': `${META}.dirname`,
      },
      plugins: [importsInPlace(imports)],
    }),
  );
  const texts = new Map(out.outputFiles.map((f) => [f.path, f.text]));
  const compiled = await Promise.all(
    Object.entries(out.metafile!.outputs)
      .filter(([, meta]) => meta.entryPoint !== undefined)
      .map(async ([path, meta]) => {
        const source = resolve(meta.entryPoint!);
        const built = resolve(path);
        let code = texts.get(built)!;
        const map = JSON.parse(texts.get(`${built}.map`)!) as { sources: string[]; mappings: string };
        if (code.includes(META)) {
          const where = { url: pathToFileURL(source).href, filename: source, dirname: dirname(source) };
          code = `const ${META} = ${JSON.stringify(where)};\n${code}`;
          // One generated line more at the top.
          map.mappings = `;${map.mappings}`;
        }
        // Absolute sources: a stack trace under --enable-source-maps names the real file, wherever
        // the cache is (and through a symlinked node_modules).
        map.sources = map.sources.map((s) => pathToFileURL(resolve(dirname(built), s)).href);
        // 'external' writes no sourceMappingURL comment: it is appended here, inline.
        const text = `${code}//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
        // The tsconfig files that may apply are inputs too: a change of `paths`, `jsx` or
        // decorators changes the output as surely as a change of the source.
        const inputs = [
          ...Object.keys(meta.inputs).map((input) => resolve(input)),
          ...tsconfigsAbove(source),
        ];
        return finish(source, text, [...(imports.get(source) ?? [])], inputs, started);
      }),
  );
  return new Map(compiled.map((c) => [c.source, c]));
}

const tsconfigsIn = new Map<string, string[]>();

/**
 * The `tsconfig*.json` files of the source's folder and every folder above it: the nearest one is
 * what esbuild applies, and its `extends` usually names a sibling (`./tsconfig.base.json`).
 */
function tsconfigsAbove(source: string): string[] {
  const found: string[] = [];
  for (let dir = dirname(source); ; dir = dirname(dir)) {
    let names = tsconfigsIn.get(dir);
    if (!names) {
      try {
        names = readdirSync(dir)
          .filter((name) => /^tsconfig.*\.json$/.test(name))
          .map((name) => join(dir, name));
      } catch {
        names = [];
      }
      tsconfigsIn.set(dir, names);
    }
    found.push(...names);
    if (dirname(dir) === dir) return found;
  }
}

/**
 * Rewrites every import of the file being compiled so that nothing is bundled into its output: a
 * TypeScript (or JSX) file becomes its output's URL, a JSON file imported without `with { type:
 * 'json' }` (as bundlers allow) a small module that imports it with, any other local file its own
 * URL (so it is the very module a JavaScript app importing it gets), and a package or builtin
 * stays as written. `require()` calls are left to esbuild, which bundles a local file they name,
 * as before: they have no module to share with.
 */
function importsInPlace(imports: Map<string, Set<string>>): Plugin {
  const RESOLVING = Symbol('resolving');
  return {
    name: 'peer-cluster-imports-in-place',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === RESOLVING) return undefined;
        if (args.kind === 'entry-point' || args.kind === 'require-call' || args.kind === 'require-resolve') {
          return undefined;
        }
        // An import in a file bundled for a require() call is bundled with it, as before.
        const mine = imports.get(args.importer);
        if (!mine) return undefined;
        const found = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          with: args.with,
          pluginData: RESOLVING,
        });
        // Unresolved: esbuild's own resolution reports it as it would have.
        if (found.errors.length > 0) return undefined;
        if (found.external || found.namespace !== 'file') return { path: args.path, external: true };
        const json = found.path.endsWith('.json') && args.with.type !== 'json';
        if (json || COMPILED.test(found.path)) {
          mine.add(found.path);
          return { path: pathToFileURL(outputPath(found.path)).href, external: true };
        }
        return { path: pathToFileURL(found.path).href + found.suffix, external: true };
      });
    },
  };
}

/** A module exporting what esbuild would let TypeScript import from the JSON file: the value, and its keys. */
async function jsonProxy(source: string): Promise<Compiled> {
  const started = Date.now() - 20;
  let keys: string[] = [];
  try {
    const value: unknown = JSON.parse(await readFile(source, 'utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      keys = Object.keys(value).filter((key) => /^[A-Za-z_$][\w$]*$/.test(key) && key !== 'default');
    }
  } catch {}
  // Invalid JSON: Node says so when the peer imports it.
  const names = keys.map((key, i) => `_${i} as ${JSON.stringify(key)}`);
  const text = [
    `import json from ${JSON.stringify(pathToFileURL(source).href)} with { type: 'json' };`,
    'export default json;',
    ...(keys.length > 0
      ? [`const { ${keys.map((key, i) => `${JSON.stringify(key)}: _${i}`).join(', ')} } = json;`]
      : []),
    ...(keys.length > 0 ? [`export { ${names.join(', ')} };`] : []),
  ].join('\n');
  return finish(source, `${text}\n`, [], [source], started);
}

/**
 * Where the output of `source` goes: named after its path (so any output importing it can name it
 * before it is compiled), in the cache of the nearest node_modules of the source itself (so its
 * bare imports resolve as they would from the source).
 */
function outputPath(source: string): string {
  const key = createHash('sha256').update(`${LAYOUT}\0${source}\0${NODE_MAJOR}`).digest('hex');
  return join(cacheDir(dirname(source)), `${basename(source).replace(/\.\w+$/, '')}-${key.slice(0, 16)}.mjs`);
}

function manifestPath(file: string): string {
  const key = createHash('sha256').update(`${LAYOUT}\0${file}\0${NODE_MAJOR}`).digest('hex');
  return join(cacheDir(dirname(file)), `${key.slice(0, 16)}.inputs.json`);
}

const cacheDirs = new Map<string, string>();

/**
 * The cache under the nearest ancestor with a node_modules folder (so bare imports resolve). Apps
 * with none above them (kept outside any project) share core's own cache, rather than getting a
 * node_modules folder made in each of their source folders.
 */
function cacheDir(from: string): string {
  let dir = cacheDirs.get(from);
  if (!dir) {
    const root = cacheRoot(from);
    dir = root === undefined ? coreCacheDir() : join(root, 'node_modules', '.cache', 'peer-cluster');
    cacheDirs.set(from, dir);
  }
  return dir;
}

function cacheRoot(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** esbuild could not be loaded (say, its platform's binary, an optional dependency, was not installed). */
class EsbuildMissing extends Error {}

let loaded: typeof import('esbuild') | undefined;

function esbuild(): typeof import('esbuild') {
  try {
    loaded ??= loadEsbuild();
    return loaded;
  } catch (error) {
    throw new EsbuildMissing('esbuild could not be loaded', { cause: error });
  }
}

/**
 * esbuild through require(): it is a CommonJS package, and import() of it costs ≈3× as much
 * (≈35 against ≈12 ms here), paid by the first TypeScript peer of every test process.
 */
export function loadEsbuild(): typeof import('esbuild') {
  return createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
}
