// The peer runtime as one file. Every peer imports the link layer (ws, the healer) before it
// can report ready; as ~100 separate ES modules that costs about twice what one bundled file
// does, and it is paid once per peer. So the test process bundles the runtime once with esbuild
// into a content-keyed cache file (shared by every test process of the machine), and peers start
// from that. Any trouble building it falls back to the plain `dist/peer/runtime.js`.
//
// The bundle is a CommonJS function run by a tiny generated loader (`runtime-<key>.cjs`, the file a
// peer process starts) through `vm.Script` with a V8 code cache: no ES module loader on the way,
// and no compiling of what the first peer already compiled. The cache is written by the first
// peer once it is ready (so it holds every function the boot ran), beside the bundle; a cache V8
// rejects is only slower, and is replaced. It is written once more, fuller, by the first peer that
// links to FULLER_CACHE_LINKS nodes: by then it has also run the code of links, RPC and healing at
// scale, which a peer of a large cluster otherwise compiles for itself (≈3–6 % of a 50-peer start).
// A 3-peer start from it is ≈1–3 ms quicker too, but writing it at 2 links, so that small clusters
// get it, measured worse for both (bench/README.md, thirteenth session). A cache is
// a snapshot of what is compiled at that moment, so the fuller one is taken early in a peer's
// life, before V8 drops the bytecode of boot functions that no longer run.
//
// Node 20 drops a script's dynamic-import callback when the script comes from a code cache, so
// nothing in the cached bundle may run `import()` itself: apps and strategy modules are imported
// through the loader (a real CommonJS file, see loaderHook in protocol.ts), and evaluate(), whose
// functions may `import()`, is a second small bundle the loader requires on first use.
//
// ws loads http, https, tls and zlib when it loads; links are WebSocket framing over plain TCP
// without permessage-deflate or an HTTP upgrade (link/listener.ts), so in the bundle those builtins
// load on first use instead (`http` alone was ≈2 ms of every peer's start). Its optional native add-ons
// (bufferutil) are looked for at load, a search through every node_modules up the tree: when they
// are not installed where the bundle is built, the bundle knows it already.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeAtomically } from './atomic-write.js';
import { LOADER_HOOK } from './protocol.js';
import { outsideTests } from './test-scope.js';
import { loadEsbuild } from './typescript.js';

export const PLAIN_RUNTIME = fileURLToPath(new URL('./runtime.js', import.meta.url));
const EVALUATE = fileURLToPath(new URL('./evaluate.js', import.meta.url));
const DIST = fileURLToPath(new URL('../', import.meta.url));

/** Links of a peer at which the loader writes the fuller code cache (see the top of this file). */
export const FULLER_CACHE_LINKS = 8;

/** Builtins ws requires at load and links never use. */
const LAZY_BUILTINS = ['http', 'https', 'tls', 'zlib'];
/** ws's optional native add-ons. */
const OPTIONAL_ADDONS = ['bufferutil', 'utf-8-validate'];

/** Which of ws's optional add-ons resolve from ws (part of the bundle's key). */
function installedAddons(): string[] {
  try {
    const fromWs = createRequire(createRequire(import.meta.url).resolve('ws'));
    return OPTIONAL_ADDONS.filter((name) => {
      try {
        fromWs.resolve(name);
        return true;
      } catch {
        return false;
      }
    });
  } catch {
    return OPTIONAL_ADDONS;
  }
}

let entry: Promise<string> | undefined;

/** The file a peer process runs: the bundled runtime's loader, or the plain runtime. */
export function runtimeEntry(): Promise<string> {
  // Kept for the process's life: made outside the test's async context, which it would keep.
  entry ??= outsideTests(() => bundle().catch(() => PLAIN_RUNTIME));
  return entry;
}

async function bundle(): Promise<string> {
  const key = inputsKey();
  const dir = cacheDir();
  const target = join(dir, `runtime-${key}.cjs`);
  const body = join(dir, `runtime-${key}.bundle.js`);
  const evaluate = join(dir, `runtime-${key}.evaluate.cjs`);
  // The loader is written last: if it is there, so is the rest (unless someone removed files since:
  // then they are built again). Its mtime says when a test process last used this key (see prune).
  if (existsSync(target) && existsSync(body) && existsSync(evaluate)) {
    const now = new Date();
    void utimes(target, now, now).catch(() => {});
    return target;
  }
  const esbuild = loadEsbuild();
  const out = await esbuild.build({
    entryPoints: { runtime: PLAIN_RUNTIME, evaluate: EVALUATE },
    outdir: dir,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    write: false,
    logLevel: 'silent',
    // Less to parse in every peer; identifiers stay, so stack traces still read.
    minifyWhitespace: true,
    minifySyntax: true,
    // ws's optional native add-ons stay optional (see optionalAddons); CommonJS inside the bundle may still require().
    external: [...OPTIONAL_ADDONS, evaluate],
    // As in an ES module bundle, `import.meta.url` is the bundle's own URL.
    define: { 'import.meta.url': '__pcMetaUrl' },
    plugins: [lazyBuiltins(), optionalAddons(), separateEvaluate(evaluate)],
  });
  // Core's dist changed while we bundled (a rebuild): this bundle is of neither state, keep none.
  if (inputsKey() !== key) return PLAIN_RUNTIME;
  const output = (name: string) => out.outputFiles.find((f) => f.path === join(dir, `${name}.js`))!.text;
  await writeAtomically(evaluate, output('evaluate'));
  await writeAtomically(body, `(function (require, __pcMetaUrl) {${output('runtime')}\n})`);
  await writeAtomically(target, loaderSource(body));
  void prune(dir, key).catch(() => {});
  return target;
}

/** How long a key's files stay after the last test process that used them started. */
const STALE_MS = 7 * 24 * 3600_000;

/**
 * Removes the files of other keys (other builds of core) that no test process used for a week.
 * @internal Exported for its test.
 */
export async function prune(dir: string, key: string): Promise<void> {
  const files = new Map<string, { names: string[]; used: number }>();
  for (const name of await readdir(dir)) {
    const match = /^runtime-([0-9a-f]{16})[.-]/.exec(name);
    if (!match || match[1] === key) continue;
    const entry = files.get(match[1]!) ?? { names: [], used: 0 };
    files.set(match[1]!, entry);
    entry.names.push(name);
    entry.used = Math.max(entry.used, (await stat(join(dir, name))).mtimeMs);
  }
  for (const { names, used } of files.values()) {
    if (Date.now() - used > STALE_MS)
      await Promise.all(names.map((name) => rm(join(dir, name), { force: true })));
  }
}

/** An esbuild plugin: an optional add-on that is not installed fails to load at once, without a search. */
function optionalAddons() {
  const missing = OPTIONAL_ADDONS.filter((name) => !installedAddons().includes(name));
  return {
    name: 'peer-cluster-optional-addons',
    setup(build: PluginBuild) {
      if (missing.length === 0) return;
      build.onResolve({ filter: new RegExp(`^(${missing.join('|')})$`) }, (args) => ({
        path: args.path,
        namespace: 'missing-addon',
      }));
      build.onLoad({ filter: /.*/, namespace: 'missing-addon' }, (args) => ({
        loader: 'js',
        contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}'`)}), { code: 'MODULE_NOT_FOUND' });`,
      }));
    },
  };
}

/** An esbuild plugin: the runtime's evaluate module is the second bundle, required on first use. */
function separateEvaluate(file: string) {
  return {
    name: 'peer-cluster-separate-evaluate',
    setup(build: PluginBuild) {
      build.onResolve({ filter: /^\.\/evaluate\.js$/ }, (args) =>
        args.kind === 'entry-point' ? undefined : { path: 'evaluate', namespace: 'separate' },
      );
      build.onLoad({ filter: /.*/, namespace: 'separate' }, () => ({
        loader: 'js',
        contents: `let m;
exports.evaluate = (...args) => (m ??= require(${JSON.stringify(file)})).evaluate(...args);`,
      }));
    },
  };
}

/** The part of esbuild's plugin API used here (esbuild itself is imported only when bundling). */
interface PluginBuild {
  onResolve(
    options: { filter: RegExp },
    callback: (args: {
      path: string;
      kind: string;
      namespace: string;
    }) => { path: string; namespace?: string; external?: boolean } | undefined,
  ): void;
  onLoad(
    options: { filter: RegExp; namespace: string },
    callback: (args: { path: string }) => { contents: string; loader: 'js' },
  ): void;
}

/** An esbuild plugin: `require('https')` and the like give an object that loads the builtin on first use. */
function lazyBuiltins() {
  return {
    name: 'peer-cluster-lazy-builtins',
    setup(build: PluginBuild) {
      const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
      build.onResolve({ filter }, (args) =>
        // The lazy module's own require() is the real builtin.
        args.namespace === 'lazy-builtin'
          ? { path: args.path, external: true }
          : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
      );
      // Its keys, as the Node that bundles (the peers' Node: its version is in the bundle's key) has
      // them: asking for one it lacks (ws looks for http.websocketMask at load) loads nothing.
      const keysOf = (name: string) =>
        JSON.stringify(Object.keys(createRequire(import.meta.url)(`node:${name}`) as object));
      build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
        loader: 'js',
        contents: `let m;
const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));
const keys = new Set(${keysOf(args.path)});
module.exports = new Proxy({}, {
  get: (_, k) => (typeof k === 'string' && !keys.has(k) ? undefined : load()[k]),
  has: (_, k) => (typeof k === 'string' ? keys.has(k) : k in load()),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, k) => {
    const d = Object.getOwnPropertyDescriptor(load(), k);
    return d && { ...d, configurable: true };
  },
});`,
      }));
    },
  };
}

/**
 * The file a peer starts: reads the bundle and its code cache, runs it, and writes the cache once
 * the runtime is ready if there was none (or V8 rejected it). Falls back to the plain runtime when
 * the bundle cannot be read or compiled. Only builtins, and no crypto: a string hash keys the cache
 * by node flags, which V8 checks a cache against.
 */
function loaderSource(body: string): string {
  return `'use strict';
// Generated by @peer-cluster/core (runtime-bundle.ts): starts the bundled peer runtime.
const fs = require('fs');
const vm = require('vm');
const started = Date.now();
const body = ${JSON.stringify(body)};
let flags = 0;
for (const c of process.execArgv.join('\\0')) flags = (Math.imul(flags, 31) + c.charCodeAt(0)) | 0;
const cacheFile = body.replace(/\\.bundle\\.js$/, '') + (flags ? '-' + (flags >>> 0).toString(36) : '') + '.v8cache';
const fullerMarker = cacheFile + '.fuller';
let script;
let cached;
let run;
let links = 0;
try {
  try {
    cached = fs.readFileSync(cacheFile);
  } catch {}
  script = new vm.Script(fs.readFileSync(body, 'utf8'), { filename: body, cachedData: cached });
  run = script.runInThisContext();
} catch {}
if (run) {
  const fresh = cached === undefined || script.cachedDataRejected;
  globalThis[Symbol.for(${JSON.stringify(LOADER_HOOK)})] = {
    // A script from a code cache cannot import() on Node 20: this file imports for it.
    import: (specifier) => import(specifier),
    ready() {
      if (fresh) setImmediate(save);
    },
    linked() {
      if (++links === ${FULLER_CACHE_LINKS}) setImmediate(saveFuller);
    },
  };
  run(require, ${JSON.stringify(pathToFileURL(body).href)});
} else {
  import(${JSON.stringify(pathToFileURL(PLAIN_RUNTIME).href)});
}

/**
 * Writes the code cache, one peer at a time: the lock is a file created exclusively, holding the
 * writer's pid. A writer may be killed while it writes (a cluster stopped just after ready): a lock
 * whose writer is gone, or older than 10 s, is taken over, and one whose writer lives is looked at
 * again a little later, in case that writer dies before it is done.
 */
function save(tries = 3) {
  if (tries === 0) return;
  const lock = cacheFile + '.lock';
  let fd;
  try {
    fd = fs.openSync(lock, 'wx');
  } catch {
    try {
      const holder = Number(fs.readFileSync(lock, 'utf8'));
      if ((holder > 0 && !alive(holder)) || Date.now() - fs.statSync(lock).mtimeMs > 10000) {
        fs.unlinkSync(lock);
        save(tries - 1);
        return;
      }
    } catch {}
    setTimeout(() => {
      if (!savedSince(started)) save(tries - 1);
    }, 250).unref();
    return;
  }
  try {
    fs.writeSync(fd, String(process.pid));
    // Another peer wrote one since this one started (maybe the fuller one): keep it.
    if (savedSince(started)) return;
    write();
    // A new cache (V8 rejected the old one): the fuller one is to be written again.
    try {
      fs.unlinkSync(fullerMarker);
    } catch {}
  } catch {
  } finally {
    fs.closeSync(fd);
    try {
      fs.unlinkSync(lock);
    } catch {}
  }
}

/** Writes the fuller cache, once per cache file: the marker, created exclusively, says who does. */
function saveFuller() {
  try {
    fs.closeSync(fs.openSync(fullerMarker, 'wx'));
  } catch {
    return;
  }
  try {
    write();
  } catch {}
}

function write() {
  const temp = cacheFile + '.' + process.pid;
  fs.writeFileSync(temp, script.createCachedData());
  fs.renameSync(temp, cacheFile);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Whether another peer wrote the cache since this one started. */
function savedSince(time) {
  try {
    return fs.statSync(cacheFile).mtimeMs >= time;
  } catch {
    return false;
  }
}
`;
}

/** A hash of what goes into the bundle: core's compiled files and the bundled packages' versions. */
function inputsKey(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    // A plain comparison: localeCompare would load ICU's collator (≈10 ms) in the test process.
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) hash.update(path).update(readFileSync(path));
    }
  };
  walk(DIST);
  const require = createRequire(import.meta.url);
  for (const pkg of ['ws']) {
    try {
      // The package.json of the copy that resolves from here (not every package exports it).
      for (let dir = dirname(require.resolve(pkg)); dirname(dir) !== dir; dir = dirname(dir)) {
        const file = join(dir, 'package.json');
        if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).name === pkg) {
          hash.update(readFileSync(file));
          break;
        }
      }
    } catch {}
  }
  hash.update(installedAddons().join(','));
  hash.update(process.version);
  return hash.digest('hex').slice(0, 16);
}

/** core's cache directory: node_modules/.cache/peer-cluster of the nearest node_modules up from dist. */
export function cacheDir(): string {
  for (let dir = DIST; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'peer-cluster');
    if (dirname(dir) === dir) return join(DIST, '.cache');
  }
}
