// Bundles the entry points of @peer-cluster/core that a test process imports (`.`, `./harness`,
// `./errors`) into dist/bundle/, after `tsc -b`. Vitest runs every test file in a fresh worker,
// which imports them again: as ≈35 separate ES modules (and all of valibot) that cost ≈20 ms of
// CPU more per file than a few bundled ones (measured in bench/README.md, sixteenth session).
//
// The entries share their modules through chunks (code splitting), so the classes and the state of
// the harness are one copy whichever entry a user imports; what core loads on first use only (the
// cluster code, the link layer) stays in chunks of its own, loaded as late as before. Everything
// else keeps running from tsc's output: the peer runtime (bundled at run time, see
// peer/runtime-bundle.ts), the registry daemon, the CLI and `./peer`, which apps import in peers.
// Core finds those files from `import.meta.url`, so each bundled module's `import.meta.url` is
// made its own file's URL in dist/, as if it had not been bundled.
//
// Run by `npm run build` (and so by `npm install`) and by `npm run typecheck`, after `tsc -b`.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, encode } from '@jridgewell/sourcemap-codec';
import { init, parse } from 'es-module-lexer';
import { build } from 'esbuild';

await init;

const CORE = join(dirname(fileURLToPath(import.meta.url)), '..', 'core');
const DIST = join(CORE, 'dist');
const OUT = join(DIST, 'bundle');

/** The bundled entries: name in dist/bundle → tsc's output it starts from. */
const ENTRIES = { index: 'index.js', harness: 'harness/index.js', errors: 'public-errors.js' };

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
        b.onResolve({ filter: /^valibot$/ }, (args) => ({
          path: fileURLToPath(import.meta.resolve('valibot', `file://${args.resolveDir}/`)),
        }));
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

// valibot's lines map to nothing: a source map may only name files that core's package ships.
function ownSourcesOnly(text) {
  const map = JSON.parse(text);
  const own = map.sources.map((source) => source.startsWith('../../src/'));
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
mkdirSync(OUT, { recursive: true });
const written = new Set();
for (const file of outputFiles) {
  const text = file.path.endsWith('.map') ? ownSourcesOnly(file.text) : file.text;
  written.add(basename(file.path));
  if (!existsSync(file.path) || readFileSync(file.path, 'utf8') !== text) writeFileSync(file.path, text);
}
for (const name of readdirSync(OUT)) if (!written.has(name)) rmSync(join(OUT, name));
// The bundle is as new as the build it comes from (the tests check that; see global-setup.ts).
const now = new Date();
utimesSync(join(OUT, 'index.js'), now, now);
