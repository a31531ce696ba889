// In the test process: turn the declared app paths into what a peer imports, before it is
// spawned, so a missing app fails fast with the path and the root it was resolved from.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PeerBootError } from '../errors.js';
import type { BootApp } from './protocol.js';
import { compileTypeScript, TYPESCRIPT } from './typescript.js';

const EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function locate(app: string, root: string): string | undefined {
  const path = resolve(root, app);
  if (isFile(path)) return path;
  for (const ext of EXTENSIONS) if (isFile(path + ext)) return path + ext;
  if (existsSync(path))
    for (const ext of EXTENSIONS) if (isFile(join(path, `index${ext}`))) return join(path, `index${ext}`);
  // A bare specifier: an app shipped by a package of the project.
  if (!app.startsWith('.') && !isAbsolute(app)) {
    try {
      return createRequire(join(root, 'noop.js')).resolve(app);
    } catch {}
  }
  return undefined;
}

export async function resolveApps(apps: string[], root: string, peer: string): Promise<BootApp[]> {
  return Promise.all(
    apps.map(async (name) => {
      const file = locate(name, root);
      if (!file) {
        throw new PeerBootError({
          peer,
          phase: 'app',
          app: name,
          reason: `the app module was not found: ${resolve(root, name)} (resolved "${name}" from root ${root}). Check the path, or set \`root\`.`,
        });
      }
      if (!TYPESCRIPT.test(file)) return { name, url: pathToFileURL(file).href };
      try {
        return { name, url: pathToFileURL(await compileTypeScript(file)).href };
      } catch (error) {
        throw new PeerBootError({
          peer,
          phase: 'app',
          app: name,
          reason: `the TypeScript app ${file} could not be compiled: ${(error as Error).message}`,
          cause: error,
        });
      }
    }),
  );
}
