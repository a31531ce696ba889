// `jest --json` writes its results to stdout: peers echoing their output (`logs: 'inherit'`) must
// not write there, or the results no longer parse. Their lines go to stderr, with Jest's own; and
// so they do with `--useStderr`, where Jest writes everything, the tests' console too, to stderr.
// With `--silent`, Jest gives the tests a console that drops everything: the peers echo nothing,
// and what they printed is in the report of a failed test, as without it.
import { beforeAll, expect, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { JEST, jestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

const config = {
  testEnvironment: 'peer-cluster',
  testEnvironmentOptions: { 'peer-cluster': { apps: ['./app.mjs'], logs: 'inherit' } },
  testMatch: ['<rootDir>/pass/cjs-describes.test.js', '<rootDir>/pass/docblock.test.js'],
  transform: {},
};

test.each([
  ['--json', 'in band', ['--runInBand']],
  ['--json', 'in workers', ['--maxWorkers=2']],
  ['--useStderr', 'in band', ['--runInBand']],
  ['--useStderr', 'in workers', ['--maxWorkers=2']],
])(
  'jest %s %s with logs: inherit: the peers echo their stdout to stderr, none to stdout',
  { timeout: 120_000 },
  async (flag, _label, args) => {
    const result = await project.run([...JEST, flag, ...args, '--config', JSON.stringify(config)]);
    expect(result.code, result.output).toBe(0);
    if (flag === '--json')
      expect(JSON.parse(result.stdout)).toMatchObject({ success: true, numPassedTests: 5 });
    expect(result.stdout).not.toContain('[peer-');
    expect(result.stderr).toMatch(/\[peer-1\] peer-1 listening on \d+/);
  },
);

test.each([
  ['without --silent', [], true],
  ['with --silent', ['--silent'], false],
])(
  'jest %s, logs: inherit: the peers echo as the tests’ console does; a failed test’s report has their logs',
  { timeout: 120_000 },
  async (_label, args, echoes) => {
    const failing = { ...config, testMatch: ['<rootDir>/fail/**/*.test.js'] };
    const result = await project.run([...JEST, ...args, '--config', JSON.stringify(failing)]);
    expect(result.code, result.output).toBe(1);
    expect(result.output.includes('[peer-1] shout: quiet-marker')).toBe(echoes);
    expect(result.output.includes('[peer-1] complaint: quiet-marker')).toBe(echoes);
    expect(result.output).toMatch(/PeerClusterReport: peer-cluster: what the peers did around this failure/);
    expect(result.output).toMatch(/peer-1 \| shout: loud-marker/);
    expect(result.output).toMatch(/peer-1 ! complaint: loud-marker/);
  },
);
