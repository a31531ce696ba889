// The real vitest CLI on a fixture project that installed the packed packages: several files and
// describes with usePeers at file level and in describes, the fixture form, a docblock's options;
// under every pool, and with isolation off.
import { beforeAll, describe, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { expectPassRun, VITEST_BIN, vitestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await vitestProject();
}, 240_000);

const runs: [string, string[]][] = [
  ['forks (the default pool)', []],
  ['threads', ['--pool=threads']],
  ['vmThreads', ['--pool=vmThreads']],
  ['vmForks', ['--pool=vmForks']],
  ['forks without isolation', ['--no-isolate']],
];

describe.each(runs)('vitest run, %s', (_label, args) => {
  test('passes, and every cluster kept to itself', { timeout: 180_000 }, async () => {
    const out = project.outDir('pass');
    const result = await project.run([VITEST_BIN, 'run', ...args], {
      env: { E2E_SUITE: 'pass', E2E_OUT: out, E2E_MEET: '1' },
    });
    await expectPassRun(result, out);
  });
});
