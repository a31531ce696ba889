// The peer runtime as one file. Every peer imports the link layer (ws, zod, the healer) before it
// can report ready; as ~100 separate ES modules that costs about twice what one bundled file
// does, and it is paid once per peer. So the test process bundles the runtime once with esbuild
// into a content-keyed cache file (shared by every test process of the machine), and peers start
// from that. Any trouble building it falls back to the plain `dist/peer/runtime.js`.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PLAIN_RUNTIME = fileURLToPath(new URL('./runtime.js', import.meta.url));
const DIST = fileURLToPath(new URL('../', import.meta.url));

let entry: Promise<string> | undefined;

/** The file a peer process runs: the bundled runtime, or the plain one. */
export function runtimeEntry(): Promise<string> {
  entry ??= bundle().catch(() => PLAIN_RUNTIME);
  return entry;
}

async function bundle(): Promise<string> {
  const key = inputsKey();
  const target = join(cacheDir(), `runtime-${key}.mjs`);
  if (existsSync(target)) return target;
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [PLAIN_RUNTIME],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    write: false,
    logLevel: 'silent',
    // Less to parse in every peer; identifiers stay, so stack traces still read.
    minifyWhitespace: true,
    minifySyntax: true,
    // ws's optional native add-ons stay optional; CommonJS inside the bundle may still require().
    external: ['bufferutil', 'utf-8-validate'],
    banner: {
      js: "import { createRequire as __pcRequire } from 'node:module'; const require = __pcRequire(import.meta.url);",
    },
  });
  // Core's dist changed while we bundled (a rebuild): this bundle is of neither state, keep none.
  if (inputsKey() !== key) return PLAIN_RUNTIME;
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, out.outputFiles[0]!.text);
  await rename(temp, target);
  return target;
}

/** A hash of what goes into the bundle: core's compiled files and the bundled packages' versions. */
function inputsKey(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) hash.update(path).update(readFileSync(path));
    }
  };
  walk(DIST);
  const require = createRequire(import.meta.url);
  for (const pkg of ['ws', 'zod']) {
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
  hash.update(process.version);
  return hash.digest('hex').slice(0, 16);
}

function cacheDir(): string {
  for (let dir = DIST; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'peer-cluster');
    if (dirname(dir) === dir) return join(DIST, '.cache');
  }
}
