// TypeScript apps without a `tsx` start per peer (+150–220 ms each): each app is bundled with
// esbuild (local files bundled, packages left as imports) into a content-hash file under the
// nearest node_modules/.cache, so bare imports still resolve from the project and the peers just
// import JS. Beside each build, a manifest lists the files it was made of with their mtime and
// size: a later test process whose inputs are unchanged reuses the build without loading esbuild.
// A build during which one of its files changed gets no manifest (it may hold the old text).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeAtomically } from './atomic-write.js';

export const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;

const compiled = new Map<string, Promise<string>>();

/** The path of a JS build of the TypeScript module at `file` (memoized per content in this process). */
export async function compileTypeScript(file: string): Promise<string> {
  const { mtimeMs, size } = await stat(file);
  const key = `${file}\0${mtimeMs}\0${size}`;
  let result = compiled.get(key);
  if (!result) {
    result = cached(file).then((hit) => hit ?? build(file));
    compiled.set(key, result);
    result.catch(() => compiled.delete(key));
  }
  return result;
}

async function build(file: string): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = loadEsbuild();
  } catch (error) {
    // Without esbuild, a Node that strips types itself can import the source directly.
    if ((process.features as { typescript?: unknown }).typescript) return file;
    throw error;
  }
  // Coarse file-system clocks stamp a write up to a tick (≤10 ms) early: a little margin.
  const started = Date.now() - 20;
  const out = await esbuild.build({
    entryPoints: [file],
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    sourcemap: 'inline',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // The build lives in the cache, but the app's `new URL('./data.json', import.meta.url)` means
    // its own folder. (Every bundled file sees the entry's location.)
    define: {
      'import.meta.url': JSON.stringify(pathToFileURL(file).href),
      'import.meta.filename': JSON.stringify(file),
      'import.meta.dirname': JSON.stringify(dirname(file)),
    },
  });
  const code = out.outputFiles[0]!.text;
  const hash = createHash('sha256').update(file).update('\0').update(code).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(dirname(file)), 'node_modules', '.cache', 'peer-cluster');
  const target = join(dir, `${hash}.mjs`);
  if (!existsSync(target)) await writeAtomically(target, code);
  const inputs = await Promise.all(
    Object.keys(out.metafile!.inputs).map(async (input) => {
      const path = resolve(input);
      const { mtimeMs, size } = await stat(path);
      return { path, mtimeMs, size };
    }),
  );
  // A file changed while esbuild read the sources: this build may hold the old text under the new
  // mtime, so no manifest: the next process builds again.
  if (inputs.every((input) => input.mtimeMs < started)) {
    await writeAtomically(manifestPath(file), JSON.stringify({ output: target, inputs } satisfies Manifest));
  }
  return target;
}

interface Manifest {
  output: string;
  inputs: { path: string; mtimeMs: number; size: number }[];
}

function manifestPath(file: string): string {
  const key = createHash('sha256')
    .update(`${file}\0${process.versions.node.split('.')[0]}`)
    .digest('hex');
  return join(
    cacheRoot(dirname(file)),
    'node_modules',
    '.cache',
    'peer-cluster',
    `${key.slice(0, 16)}.inputs.json`,
  );
}

/** The build of an earlier process, if none of the files it was made of changed since. */
async function cached(file: string): Promise<string | undefined> {
  try {
    const manifest = JSON.parse(await readFile(manifestPath(file), 'utf8')) as Manifest;
    const unchanged = await Promise.all(
      manifest.inputs.map(async (input) => {
        const now = await stat(input.path);
        return now.mtimeMs === input.mtimeMs && now.size === input.size;
      }),
    );
    return unchanged.every(Boolean) && existsSync(manifest.output) ? manifest.output : undefined;
  } catch {
    return undefined;
  }
}

/** The nearest ancestor with a node_modules folder (so the build's bare imports resolve), else `from`. */
function cacheRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/**
 * esbuild through require(): it is a CommonJS package, and import() of it costs ≈3× as much
 * (≈35 against ≈12 ms here), paid by the first TypeScript peer of every test process.
 */
export function loadEsbuild(): typeof import('esbuild') {
  return createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
}
