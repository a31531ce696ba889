// Bundles what a test process imports, after `tsc -b`: the entry points of @peer-cluster/core
// (`.`, `./harness`, `./errors`, `./registry`) into core/dist/bundle/, and the Vitest environment package into
// plugin-vitest/dist/bundle.js. Vitest runs every test file in a fresh worker, which imports them
// again: as ≈40 separate ES modules (and all of valibot) they cost every worker ≈35 ms more CPU
// than a few bundled ones (bench/README.md, sixteenth session).
//
// Core's entries share their modules through chunks (code splitting), so the classes and the state
// of the harness are one copy whichever entry a user imports; what core loads on first use only
// (the cluster code, the link layer) stays in chunks of its own, loaded as late as before.
// Everything else keeps running from tsc's output: the peer runtime (bundled at run time, see
// peer/runtime-bundle.ts), the registry daemon, the CLI and `./peer`, which apps import in peers.
// Core finds those files from `import.meta.url`, so each bundled module's `import.meta.url` is
// made its own file's URL in dist/, as if it had not been bundled. The Vitest package's modules
// are all in its dist/, beside its bundle, and import core by its package name.
//
// Run by `npm run build` (and so by `npm install`) and by `npm run typecheck`, after `tsc -b`.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, encode } from '@jridgewell/sourcemap-codec';
import { init, parse } from 'es-module-lexer';
import { build } from 'esbuild';

await init;

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(REPO, 'core', 'dist');
const OUT = join(DIST, 'bundle');
const VITEST_DIST = join(REPO, 'plugin-vitest', 'dist');

/** The bundled entries: name in dist/bundle → tsc's output it starts from. */
const ENTRIES = {
  index: 'index.js',
  harness: 'harness/index.js',
  errors: 'public-errors.js',
  registry: 'registry/index.js',
};

const distModule = /[\\/]core[\\/]dist[\\/].*\.js$/;

const { outputFiles } = await build({
  entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, join(DIST, file)])),
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.11',
  // Core's dependencies stay packages of their own (the user's node_modules decides their copy),
  // except valibot, of which core uses a small part.
  packages: 'external',
  plugins: [
    {
      name: 'inline-valibot',
      setup(b) {
        // The repository's copy (npm workspaces hoist it to the root, beside this script), which the
        // bundle is built from: Node 20 resolves from another place only behind a flag.
        const valibot = fileURLToPath(import.meta.resolve('valibot'));
        b.onResolve({ filter: /^valibot$/ }, () => ({ path: valibot }));
      },
    },
    {
      name: 'own-import-meta-url',
      setup(b) {
        b.onLoad({ filter: distModule }, (args) => {
          const source = readFileSync(args.path, 'utf8');
          // `import.meta` as code, not in a string or a comment (es-module-lexer tells them apart).
          const metas = parse(source)[0].filter((i) => i.d === -2 && source.startsWith('.url', i.se));
          if (metas.length === 0) return undefined;
          // Every output file is in dist/bundle/, so `../<path in dist>` is the module's own file.
          const own = `new URL(${JSON.stringify(`../${relative(DIST, args.path).split(sep).join('/')}`)}, import.meta.url).href`;
          let contents = source;
          for (const meta of metas.reverse())
            contents = contents.slice(0, meta.ss) + own + contents.slice(meta.se + 4);
          return {
            contents,
            loader: 'js',
            resolveDir: dirname(args.path),
          };
        });
      },
    },
  ],
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  // Class names stay what they are (an error's `name`, and the `instanceof` of copies, use them).
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  write: false,
});

// valibot's lines map to nothing: a source map may only name files that the package ships (`src`).
function ownSourcesOnly(text, src) {
  const map = JSON.parse(text);
  const own = map.sources.map((source) => source.startsWith(src));
  if (own.every(Boolean)) return text;
  // Old source index → new one, for the sources kept.
  const index = new Map();
  for (const [i, kept] of own.entries()) if (kept) index.set(i, index.size);
  map.sources = map.sources.filter((_, i) => own[i]);
  const lines = decode(map.mappings).map((line) =>
    line.map((segment) =>
      segment.length === 1 || !index.has(segment[1])
        ? [segment[0]]
        : [segment[0], index.get(segment[1]), ...segment.slice(2)],
    ),
  );
  map.mappings = encode(lines);
  return JSON.stringify(map);
}

// Only what changed is written, so that a test run importing the bundle meanwhile (the bench
// builds it too) does not see it go; a chunk's name is the hash of its content.
function writeChanged(outputFiles, src) {
  const written = new Set();
  for (const file of outputFiles) {
    const text = file.path.endsWith('.map') ? ownSourcesOnly(file.text, src) : file.text;
    written.add(file.path);
    mkdirSync(dirname(file.path), { recursive: true });
    if (!existsSync(file.path) || readFileSync(file.path, 'utf8') !== text) writeFileSync(file.path, text);
  }
  return written;
}

const written = writeChanged(outputFiles, '../../src/');
for (const name of readdirSync(OUT)) if (!written.has(join(OUT, name))) rmSync(join(OUT, name));

const plugin = await build({
  entryPoints: [join(VITEST_DIST, 'index.js')],
  outfile: join(VITEST_DIST, 'bundle.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.11',
  packages: 'external',
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  write: false,
});
writeChanged(plugin.outputFiles, '../src/');

// The bundles are as new as the build they come from (the tests check that; see global-setup.ts).
const now = new Date();
utimesSync(join(OUT, 'index.js'), now, now);
utimesSync(join(VITEST_DIST, 'bundle.js'), now, now);
