// The published declarations, as a demanding TypeScript project installs them: the packed
// packages, compiled with the strictest options and without skipLibCheck, under each module
// resolution a project may have (fixtures/consumer/tsconfig.json says which options and why).
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { NEWEST_VITEST } from '../../plugin-vitest/test/project.js';
import { killWhenTestEnds } from '../../test-support/children.js';
import { fixtureProject } from '../../test-support/fixture-project.js';
import { npmEnv, type PackageName, pack } from '../../test-support/pack.js';

const run = promisify(execFile);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * [project, --module, --moduleResolution, other flags]. Each is a program of its own that checks
 * @types/node and more (seconds of CPU), so one per thing that can break: bundler resolves our
 * packages as nodenext does for an ES module, and nodenext in CommonJS as node16 does before
 * TypeScript 5.8.
 */
const CASES: [string, string, string, string[]][] = [
  // An app alone with its `@peer-cluster/core/peer` import: the Node types come with core.
  ['app', 'nodenext', 'nodenext', []],
  ['esm', 'nodenext', 'nodenext', []],
  // The jest plugin's .d.cts import core, an ES module, from CommonJS.
  ['cjs', 'node16', 'node16', []],
  // node10 through typesVersions, and a lib without es2022's ErrorOptions.
  ['node10', 'commonjs', 'node10', ['--lib', 'es2021']],
];

const SOURCE = fileURLToPath(new URL('./fixtures/consumer', import.meta.url));
const PACKAGES: PackageName[] = [
  '@peer-cluster/core',
  '@peer-cluster/strategy-local-registry',
  '@peer-cluster/strategy-static-hosts',
  '@peer-cluster/strategy-dns',
  'vitest-environment-peer-cluster',
  'jest-environment-peer-cluster',
];

/**
 * Runs the cases in `dir`, two at a time (each is a tsc of its own); what failed, with tsc's output.
 * A tsc has no time limit of its own: one alone took ≈25 s on 2 CPUs beside two spinning processes,
 * and in a whole loaded run two of them were killed at a former 60 s limit (their output empty,
 * nothing wrong with the types). The test's timeout bounds them; one still running when the test
 * ends is killed then.
 */
async function typecheck(dir: string, cases: typeof CASES, compiler = tsc): Promise<string> {
  const failures: string[] = [];
  const queue = [...cases];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [name, module, resolution, flags] = next;
      const args = [
        '-p',
        `tsconfig.${name}.json`,
        '--module',
        module,
        '--moduleResolution',
        resolution,
        ...flags,
      ];
      const tscRun = run(process.execPath, [compiler, ...args, '--pretty', 'false'], { cwd: dir });
      killWhenTestEnds(tscRun.child);
      await tscRun.catch((error) =>
        failures.push(
          `tsc ${args.join(' ')}${error.signal ? ` (killed by ${error.signal})` : ''}:\n${error.stdout}${error.stderr}`,
        ),
      );
    }
  };
  await Promise.all([worker(), worker()]);
  return failures.join('\n');
}

it('the packed declarations compile in a strict consumer under every module resolution', async () => {
  const project = await fixtureProject(SOURCE, PACKAGES);
  expect(await typecheck(project.dir, CASES)).toBe('');
}, 480_000);

/** A project outside the repository with the packed `packages` and `dependencies` installed. */
async function installed(
  packages: PackageName[],
  dependencies: Record<string, string>,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const { tarballs } = await pack();
  const dir = mkdtempSync(join(tmpdir(), 'peer-cluster-types-'));
  try {
    cpSync(SOURCE, dir, { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        type: 'module',
        dependencies: {
          ...dependencies,
          ...Object.fromEntries(packages.map((name) => [name, `file:${tarballs[name]}`])),
        },
      }),
    );
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', '--loglevel=error'],
      { cwd: dir, env: npmEnv(), timeout: 180_000 },
    );
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

it('core and the strategies compile with TypeScript 5.0, the oldest the README names', async () => {
  // valibot's declarations need 5.1, so no public entry may reach them: the registry's request
  // types are written out (registry/protocol.ts), not inferred from its schemas. The @types/node
  // of Node 20.11, which 5.0 compiles (the newest no longer does).
  const strategies = PACKAGES.filter((name) => name.startsWith('@peer-cluster/'));
  await installed(strategies, { typescript: '5.0.4', '@types/node': '20.11.30' }, async (dir) => {
    const oldest = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
    const cases = CASES.filter(([name]) => name === 'app' || name === 'node10');
    expect(await typecheck(dir, cases, oldest)).toBe('');
  });
}, 240_000);

it("the Vitest plugin's declarations compile with the newest Vitest of its peer range", async () => {
  // Vitest 5 has no `vitest/environments`, where 3.2 and 4 export their Environment type. Outside
  // the repository, where TypeScript would find the repository's Vitest 4 above the project's 5.
  const packages = PACKAGES.filter((name) => name !== 'jest-environment-peer-cluster');
  await installed(packages, { vitest: NEWEST_VITEST }, async (dir) => {
    expect(await typecheck(dir, [['vitest', 'nodenext', 'nodenext', []]])).toBe('');
  });
}, 240_000);
