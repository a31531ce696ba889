// In the test process: turn the declared app paths (and the strategy's module) into what a peer
// imports, before it is spawned, so a missing app fails fast with the path and the root it was resolved from.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { editDistance } from '../edit-distance.js';
import { PeerBootError } from '../errors.js';
import type { Strategy } from '../types.js';
import type { BootApp, BootStrategy } from './protocol.js';
import { strategyCaps } from './strategy-host.js';
import { compileTypeScript, TYPESCRIPT } from './typescript.js';

const EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `./x.js` names `./x.ts` when only that exists, as in a TypeScript import (`.mjs` → `.mts`…). */
const TS_FOR_JS: Record<string, string> = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts' };

/** The file of the app `app` resolves to from `root`, or undefined when there is none. */
export function locate(app: string, root: string): string | undefined {
  const path = resolve(root, app);
  if (isFile(path)) return path;
  const ts = TS_FOR_JS[extname(path)];
  if (ts && isFile(path.slice(0, -extname(path).length) + ts))
    return path.slice(0, -extname(path).length) + ts;
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

export interface LocatedApp {
  /** As the user wrote it. */
  name: string;
  file: string;
}

/** Finds every app's file, synchronously: a missing app fails before anything is spawned. */
export function locateApps(apps: string[], root: string, peer: string): LocatedApp[] {
  return apps.map((name) => {
    const file = locate(name, root);
    if (!file) {
      const missing = missingApp(name, root);
      throw new PeerBootError({
        peer,
        phase: 'app',
        app: name,
        reason: `the app module was not found: ${missing.where} (resolved "${name}" from root ${root}).${missing.folder ? '' : ` ${missing.guess ?? 'Check the path, or set `root`.'}`}`,
      });
    }
    return { name, file };
  });
}

/**
 * Why `locate` found no app `name` from `root`: `where`, the path it looked at, or that it is a
 * `folder` without an index file; `guess`, a module of that folder the name may have meant.
 */
export function missingApp(
  name: string,
  root: string,
): { where: string; folder: boolean; guess: string | undefined } {
  const path = resolve(root, name);
  // `apps: ['./src']`: a folder is an app only through its index file.
  if (isDirectory(path))
    return {
      where: `${path} is a folder without an index file (index${EXTENSIONS.join(', index')}): name the app's module in it`,
      folder: true,
      guess: undefined,
    };
  return { where: path, folder: false, guess: nearby(path, root) };
}

/** `Did you mean ./src/counter.ts?` for a misspelt app: a module of its folder within two edits. */
function nearby(path: string, root: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return undefined;
  }
  const stem = (file: string) => basename(file, extname(file)).toLowerCase();
  const [best] = names
    .filter((file) => EXTENSIONS.includes(extname(file)) && isFile(join(dirname(path), file)))
    .map((file) => ({ file, d: editDistance(stem(path), stem(file)) }))
    .filter(({ d }) => d <= 2)
    .sort((a, b) => a.d - b.d);
  if (!best) return undefined;
  const found = relative(root, join(dirname(path), best.file));
  return `Did you mean ${found.startsWith('..') || isAbsolute(found) ? join(dirname(path), best.file) : `./${found}`}?`;
}

/**
 * The cause a failed compile passes on. Not esbuild's own failure: its message (in the reason
 * already) says what and where, and its `errors` array of plain objects makes it an aggregate
 * error to Jest, which prints every field of each one under the report.
 */
function compileCause(error: unknown): { cause?: unknown } {
  const buildFailure = error instanceof Error && Array.isArray((error as { errors?: unknown }).errors);
  return buildFailure ? {} : { cause: error };
}

/** What the runtime imports for each app: the file itself, or its compiled JS for TypeScript. */
export async function resolveApps(apps: LocatedApp[], peer: string): Promise<BootApp[]> {
  return Promise.all(
    apps.map(async ({ name, file }) => {
      if (!TYPESCRIPT.test(file)) return { name, url: pathToFileURL(file).href };
      try {
        return { name, url: pathToFileURL(await compileTypeScript(file)).href };
      } catch (error) {
        throw new PeerBootError({
          peer,
          phase: 'app',
          app: name,
          reason: `the TypeScript app ${file} could not be compiled: ${(error as Error).message}`,
          ...compileCause(error),
        });
      }
    }),
  );
}

/**
 * How the peer gets the cluster's strategy: re-created from its spec, or answered by the test
 * process. A spec module written in TypeScript (a strategy factory in a test helper, loaded through
 * Vitest's transform) is compiled like an app, since the peer imports plain JS.
 */
export async function bootStrategy(strategy: Strategy | undefined, peer: string): Promise<BootStrategy> {
  if (!strategy) return { kind: 'none' };
  if (!strategy.spec) return { kind: 'inline', name: strategy.name, caps: strategyCaps(strategy) };
  const { spec } = strategy;
  if (!spec.module.startsWith('file:') || !TYPESCRIPT.test(spec.module)) return { kind: 'spec', spec };
  const file = fileURLToPath(spec.module);
  try {
    return { kind: 'spec', spec: { ...spec, module: pathToFileURL(await compileTypeScript(file)).href } };
  } catch (error) {
    throw new PeerBootError({
      peer,
      phase: 'node',
      reason: `the TypeScript module of strategy "${strategy.name}" (${file}) could not be compiled: ${(error as Error).message}`,
      ...compileCause(error),
    });
  }
}
