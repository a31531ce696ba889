// `jest --json` writes its results to stdout: peers echoing their output (`logs: 'inherit'`) must
// not write there, or the results no longer parse. Their lines go to stderr, with Jest's own.
import { beforeAll, expect, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { JEST, jestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

test.each([
  ['in band', ['--runInBand']],
  ['in workers', ['--maxWorkers=2']],
])(
  'jest --json %s with logs: inherit: stdout is the results alone',
  { timeout: 120_000 },
  async (_label, args) => {
    const config = {
      testEnvironment: 'peer-cluster',
      testEnvironmentOptions: { 'peer-cluster': { apps: ['./app.mjs'], logs: 'inherit' } },
      testMatch: ['<rootDir>/pass/cjs-describes.test.js', '<rootDir>/pass/docblock.test.js'],
      transform: {},
    };
    const result = await project.run([...JEST, '--json', ...args, '--config', JSON.stringify(config)]);
    expect(result.code, result.output).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ success: true, numPassedTests: 5 });
    expect(result.stderr).toMatch(/\[peer-1\] peer-1 listening on \d+/);
  },
);
