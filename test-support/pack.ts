// Packs the publishable packages the way npm would publish them, so the end-to-end tests install
// what users install. Packed once per content: the tarballs live in `.e2e/packs/<hash>/`, keyed
// by a hash of each package's package.json and dist, so a repeated run with an unchanged build
// costs one hash. Parallel test files race safely: each packs into its own temporary directory
// and the first to rename it into place wins.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const E2E_DIR = join(REPO, '.e2e');

/** The workspaces the e2e fixture projects install, by package name. */
export const PACKAGES = {
  '@peer-cluster/core': 'core',
  '@peer-cluster/strategy-local-registry': 'strategies/local-registry',
  '@peer-cluster/strategy-static-hosts': 'strategies/static-hosts',
  '@peer-cluster/strategy-dns': 'strategies/dns',
  'vitest-environment-peer-cluster': 'plugin-vitest',
  'jest-environment-peer-cluster': 'plugin-jest',
} as const;

export type PackageName = keyof typeof PACKAGES;

export interface Packs {
  /** Content hash of every packed package together. */
  hash: string;
  /** Absolute tarball path by package name. */
  tarballs: Record<PackageName, string>;
}

let packing: Promise<Packs> | undefined;

/** Pack every package (or reuse the packs of an identical build). Memoized per process. */
export function pack(): Promise<Packs> {
  packing ??= packOnce();
  return packing;
}

async function packOnce(): Promise<Packs> {
  const hash = contentHash();
  const dir = join(E2E_DIR, 'packs', hash);
  if (!existsSync(join(dir, 'done.json'))) {
    const tmp = join(E2E_DIR, 'packs', `tmp-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    for (const workspace of Object.values(PACKAGES)) {
      // --ignore-scripts: the root's `prepare` builds; the e2e tests run on an existing build.
      await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', tmp], {
        cwd: join(REPO, workspace),
        env: npmEnv(),
      });
    }
    await writeFile(join(tmp, 'done.json'), '{}\n');
    try {
      await rename(tmp, dir);
    } catch {
      // Another test process packed the same content first.
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
  const tarballs = {} as Record<PackageName, string>;
  for (const name of Object.keys(PACKAGES) as PackageName[]) {
    const prefix = `${name.replace('@', '').replace('/', '-')}-`;
    const file = files.find((f) => f.startsWith(prefix) && /^\d/.test(f.slice(prefix.length)));
    if (!file)
      throw new Error(`npm pack produced no tarball for ${name} in ${dir} (found ${files.join(', ')})`);
    tarballs[name] = join(dir, file);
  }
  useAndPrune(dir, /^[0-9a-f]{16}$/);
  return { hash, tarballs };
}

/** Packs and installs of other content unused this long are removed (each is tens of MB). */
const STALE_MS = 12 * 3600_000;

/**
 * Marks `dir` as used now, and removes its siblings named like it (`pattern`) that no run has used
 * for STALE_MS: every change to the packages or a fixture makes a new pack and a new install, and
 * the old ones would otherwise pile up in `.e2e/` (gigabytes after a day of work).
 */
export function useAndPrune(dir: string, pattern: RegExp): void {
  const now = Date.now();
  try {
    utimesSync(dir, now / 1000, now / 1000);
  } catch {}
  const parent = join(dir, '..');
  for (const name of readdirSync(parent)) {
    const path = join(parent, name);
    if (path === dir || !pattern.test(name)) continue;
    try {
      if (now - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by a parallel run meanwhile.
    }
  }
}

function contentHash(): string {
  const hash = createHash('sha256');
  for (const workspace of Object.values(PACKAGES)) {
    const root = join(REPO, workspace);
    hash.update(`${workspace}\0`);
    hash.update(readFileSync(join(root, 'package.json')));
    const dist = join(root, 'dist');
    if (!existsSync(dist))
      throw new Error(`${workspace} is not built (no ${dist}): run \`npx tsc -b\` first.`);
    for (const file of walk(dist)) {
      if (file.endsWith('.tsbuildinfo')) continue;
      hash.update(`${relative(root, file)}\0`);
      hash.update(readFileSync(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

/** npm's environment without what a surrounding test runner or npm script put there. */
export function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(VITEST|JEST|npm_|NODE_OPTIONS$|NODE_ENV$|TEST$)/i.test(key)) continue;
    env[key] = value;
  }
  return env;
}
