// The oldest Vitest of the peer range (3.2), installed into its own copy of the fixture project:
// the same suites pass under its four pools, and a failed test gets its report. Vitest 3 loads the
// environment package before its worker state exists, so the package must not evaluate 'vitest'
// at load (it did, and every file failed with "Vitest failed to access its internal state").
import { beforeAll, describe, expect, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import {
  expectConcurrentReport,
  expectFailReport,
  expectPassRun,
  OLDEST_VITEST,
  oldestVitestProject,
  POOLS,
  vitestBin,
} from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await oldestVitestProject();
}, 240_000);

// `--no-isolate` is left out: Vitest 3 itself fails some runs of it with "Terminating worker
// thread", with no environment at all (seen with 3.2.0 and 3.2.7).
describe.each(POOLS)(`vitest ${OLDEST_VITEST} run, %s`, (_label, args: string[]) => {
  test('passes, and every cluster kept to itself', { timeout: 180_000 }, async () => {
    const out = project.outDir('pass');
    const result = await project.run([vitestBin(project), 'run', ...args], {
      env: { E2E_SUITE: 'pass', E2E_OUT: out, E2E_MEET: '1' },
    });
    expect(result.output).toContain(`RUN  v${OLDEST_VITEST}`);
    await expectPassRun(result, out);
  });
});

test(`vitest ${OLDEST_VITEST}: a failing test gets the report`, { timeout: 120_000 }, async () => {
  const result = await project.run([vitestBin(project), 'run'], {
    env: { E2E_SUITE: 'fail', E2E_OUT: project.outDir('fail') },
  });
  expectFailReport(result, OLDEST_VITEST);
});

test(`vitest ${OLDEST_VITEST}: concurrent tests are told apart by time (no aroundEach)`, {
  timeout: 120_000,
}, async () => {
  const result = await project.run([vitestBin(project), 'run'], {
    env: { E2E_SUITE: 'concurrent', E2E_OUT: project.outDir('concurrent') },
  });
  expectConcurrentReport(result, { ownOnly: false });
});
