// The published declarations, as a demanding TypeScript project installs them: the packed
// packages, compiled with the strictest options and without skipLibCheck, under each module
// resolution a project may have (fixtures/consumer/tsconfig.json says which options and why).
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { fixtureProject } from '../../test-support/fixture-project.js';

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

it('the packed declarations compile in a strict consumer under every module resolution', async () => {
  const project = await fixtureProject(fileURLToPath(new URL('./fixtures/consumer', import.meta.url)), [
    '@peer-cluster/core',
    '@peer-cluster/strategy-local-registry',
    '@peer-cluster/strategy-static-hosts',
    '@peer-cluster/strategy-dns',
    'vitest-environment-peer-cluster',
    'jest-environment-peer-cluster',
  ]);
  const failures: string[] = [];
  // Two at a time: each is a tsc of its own.
  const queue = [...CASES];
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
      await run(process.execPath, [tsc, ...args, '--pretty', 'false'], {
        cwd: project.dir,
        timeout: 60_000,
      }).catch((error) => failures.push(`tsc ${args.join(' ')}:\n${error.stdout}${error.stderr}`));
    }
  };
  await Promise.all([worker(), worker()]);
  expect(failures.join('\n')).toBe('');
}, 240_000);
