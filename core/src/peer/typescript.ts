// TypeScript apps without a `tsx` start per peer (+150–220 ms each): each app is bundled once per
// test process with esbuild (local files bundled, packages left as imports) into a content-hash
// file under the nearest node_modules/.cache, so bare imports still resolve from the project and
// the peers just import JS.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;

const compiled = new Map<string, Promise<string>>();

/** The path of a JS build of the TypeScript module at `file` (memoized per content in this process). */
export async function compileTypeScript(file: string): Promise<string> {
  const { mtimeMs, size } = await stat(file);
  const key = `${file}\0${mtimeMs}\0${size}`;
  let result = compiled.get(key);
  if (!result) {
    result = build(file);
    compiled.set(key, result);
    result.catch(() => compiled.delete(key));
  }
  return result;
}

async function build(file: string): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    // Without esbuild, a Node that strips types itself can import the source directly.
    if ((process.features as { typescript?: unknown }).typescript) return file;
    throw error;
  }
  const out = await esbuild.build({
    entryPoints: [file],
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    sourcemap: 'inline',
    write: false,
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
  if (!existsSync(target)) {
    await mkdir(dir, { recursive: true });
    // Other test processes may build the same file at once: rename so no one imports half of it.
    const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, code);
    await rename(temp, target);
  }
  return target;
}

/** The nearest ancestor with a node_modules folder (so the build's bare imports resolve), else `from`. */
function cacheRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}
