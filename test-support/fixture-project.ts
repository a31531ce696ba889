// A fixture project for the end-to-end tests: a copy of `<plugin>/test/fixtures/<name>/` under
// `.e2e/`, with the packed packages installed the way a user would install them, and the real
// runner CLIs run in it. Vitest and Jest themselves resolve from the repository's node_modules
// (`.e2e/` is inside the repository), so only our packages and their dependencies are installed.
// One install per content (fixture files + packs), reused by every test and every later run.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rename } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { killWhenTestEnds } from './children.js';
import { E2E_DIR, npmEnv, type PackageName, pack, REPO, useAndPrune, walk } from './pack.js';

const run = promisify(execFile);

export const VITEST_BIN = join(REPO, 'node_modules/vitest/vitest.mjs');
export const JEST_BIN = join(REPO, 'node_modules/jest/bin/jest.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** Everything written so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves when the CLI has exited (never rejects). */
  done: Promise<CliResult>;
  /** SIGKILL the CLI's whole process group (the runner and its workers; never the peers, which have their own). */
  killGroup(): void;
}

export interface FixtureProject {
  dir: string;
  /** A fresh directory inside the project where the fixture tests write what they observed. */
  outDir(label: string): string;
  /** Start `node <args>` in the project, in its own process group, SIGKILLed when the test ends. */
  start(args: string[], options?: CliOptions): RunningCli;
  /** Run `node <args>` in the project to completion; kills it after `timeout` ms. */
  run(args: string[], options?: CliOptions & { timeout?: number }): Promise<CliResult>;
}

export interface CliOptions {
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** The `node` binary to run: this one's unless given (see nodeRelease). */
  node?: string;
}

/**
 * Install the fixture `source` (an absolute directory) with the given packed packages, or reuse
 * an identical install. Its package.json, if any, is kept and gets the tarballs as dependencies.
 */
/** Apps copied into every fixture project's root, so Vitest's and Jest's fixtures share one copy. */
const SHARED_APPS = join(REPO, 'test-support', 'fixture-apps');

export async function fixtureProject(
  source: string,
  packages: PackageName[],
  options: {
    /** Installed into the project besides the packs (`{ vitest: '3.2.0' }`: that runner's own copy). */
    dependencies?: Record<string, string>;
    /** Tells the installs of one source apart (`vitest3`). */
    variant?: string;
  } = {},
): Promise<FixtureProject> {
  const packs = await pack();
  const files = walk(source).filter((f) => !f.includes('/node_modules/'));
  const hash = createHash('sha256')
    .update(packs.hash)
    .update(JSON.stringify(options.dependencies ?? {}));
  for (const file of files) hash.update(`${relative(source, file)}\0`).update(readFileSync(file));
  for (const file of walk(SHARED_APPS))
    hash.update(`shared/${relative(SHARED_APPS, file)}\0`).update(readFileSync(file));
  // `plugin-vitest-project` for plugin-vitest/test/fixtures/project.
  const name = [relative(REPO, source).split('/')[0], source.split('/').pop(), options.variant]
    .filter(Boolean)
    .join('-');
  const dir = join(E2E_DIR, `${name}-${hash.digest('hex').slice(0, 12)}`);

  await installOnce(dir, async (into) => {
    cpSync(source, into, { recursive: true });
    // Apps every fixture project has, whatever its runner (at the project's root).
    cpSync(SHARED_APPS, into, { recursive: true });
    const manifestPath = join(into, 'package.json');
    const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : {};
    manifest.name ??= `e2e-${name}`;
    manifest.private = true;
    manifest.dependencies = {
      ...manifest.dependencies,
      ...options.dependencies,
      ...Object.fromEntries(packages.map((p) => [p, `file:${packs.tarballs[p]}`])),
    };
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    // --legacy-peer-deps: vitest and jest are peers, resolved from the repository, not reinstalled.
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--ignore-scripts',
        '--legacy-peer-deps',
        '--no-package-lock',
        '--loglevel=error',
      ],
      { cwd: into, env: npmEnv(), timeout: 180_000 },
    );
  });

  useAndPrune(dir, new RegExp(`^${name}-[0-9a-f]{12}$`));

  let outs = 0;
  const project: FixtureProject = {
    dir,
    outDir(label) {
      const out = join(dir, 'out', `${label}-${process.pid}-${++outs}`);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      return out;
    },
    start(args, options = {}) {
      return startCli(dir, [...(options.nodeArgs ?? []), ...args], options.env ?? {}, options.node);
    },
    async run(args, options = {}) {
      const cli = project.start(args, options);
      const timer = setTimeout(() => cli.killGroup(), options.timeout ?? 120_000);
      try {
        return await cli.done;
      } finally {
        clearTimeout(timer);
        // Whatever the runner left in its group (a stuck worker) goes with it.
        cli.killGroup();
      }
    },
  };
  return project;
}

const installed = (dir: string) => existsSync(join(dir, '.installed'));

/**
 * Run `install` into a temporary directory and rename it to `dir`, once: parallel test files
 * wanting the same install wait for the first one (a lock directory holding its pid).
 */
export async function installOnce(dir: string, install: (into: string) => Promise<void>): Promise<void> {
  mkdirSync(E2E_DIR, { recursive: true });
  const lock = `${dir}.lock`;
  for (;;) {
    if (installed(dir)) return;
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      if (lockIsStale(lock)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      await changeIn(E2E_DIR, 200_000);
    }
  }
  try {
    if (installed(dir)) return;
    const tmp = await mkdtemp(`${dir}-tmp-`);
    await install(tmp);
    writeFileSync(join(tmp, '.installed'), `${new Date().toISOString()}\n`);
    rmSync(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function lockIsStale(lock: string): boolean {
  try {
    process.kill(Number(readFileSync(join(lock, 'pid'), 'utf8')), 0);
    return false;
  } catch (error) {
    // ENOENT: the lock was just created and has no pid yet, or was just removed.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Resolves on the next change in `dir` (or after `timeout` ms, for a lock owner that died). */
function changeIn(dir: string, timeout: number): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir, () => done());
    const timer = setTimeout(() => done(), timeout);
    function done() {
      clearTimeout(timer);
      watcher.close();
      resolve();
    }
  });
}

/**
 * Resolves with the parsed `<name>.json` records once all exist in `out`; rejects if the CLI
 * exits first or `timeout` ms pass, with its output (the reason is usually there).
 */
export function waitForRecords<T = Record<string, any>>(
  out: string,
  names: string[],
  cli: RunningCli,
  timeout = 60_000,
): Promise<T[]> {
  const paths = names.map((n) => join(out, `${n}.json`));
  const read = (): T[] | undefined => {
    try {
      return paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as T);
    } catch {
      // Missing, or caught half-written: wait for the next change.
      return undefined;
    }
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error, value?: T[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watcher.close();
      if (error) reject(error);
      else resolve(value!);
    };
    const check = () => {
      const records = read();
      if (records) finish(undefined, records);
    };
    const watcher = watch(out, check);
    const timer = setTimeout(
      () =>
        finish(new Error(`No ${names.join(', ')} in ${out} after ${timeout} ms. Output:\n${cli.output()}`)),
      timeout,
    );
    void cli.done.then(() => {
      check();
      finish(new Error(`The CLI exited before writing ${names.join(', ')}. Output:\n${cli.output()}`));
    });
    check();
  });
}

/** Start `node <args>` in `cwd`, in its own process group, SIGKILLed when the test ends. */
const SETPRIV = '/usr/bin/setpriv';

export function startCli(
  cwd: string,
  args: string[],
  extraEnv: Record<string, string>,
  node = process.execPath,
): RunningCli {
  const env: NodeJS.ProcessEnv = { ...npmEnv(), NO_COLOR: '1', FORCE_COLOR: '0', CI: '1', ...extraEnv };
  delete env.TERM;
  // Killed by the kernel when the test process that started it dies, as peers are: an aborted run
  // (Ctrl-C of the outer vitest) runs no hook, and a runner left alive would keep its peers alive.
  // setpriv execs node in place (same pid, same group).
  const [command, argv] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', node, ...args]]
    : [node, args];
  const child = spawn(command, argv, {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The runner's peers die with it (parent-death signal, group watchdog): its group is enough.
  killWhenTestEnds(child, { group: true });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    output += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    output += chunk;
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, output }));
    child.on('error', (error) =>
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}${error.message}`, output }),
    );
  });
  return {
    child,
    output: () => output,
    done,
    killGroup() {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    },
  };
}

/** What a fixture test records about its cluster (see the fixture projects' record.ts / record.cjs). */
export interface ClusterRecord {
  cluster: string;
  names: string[];
  ports: number[];
  answers: string[];
  nodeIds: string[];
  links: string[][];
  /** `pid/threadId` of the worker that ran the file. */
  worker: string;
  workerPid: number;
  /** `process.version` of the runner's worker, then of each peer. */
  nodeVersions: string[];
  tracked: number;
  /** The cluster was live from `since` (its first event) at least until `at`. */
  since: number;
  at: number;
}

/** Every record a run wrote into `out`, by name. */
export function readRecords(out: string): Record<string, ClusterRecord> {
  return Object.fromEntries(
    readdirSync(out)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(out, f), 'utf8'))]),
  );
}
