// A mistake in testEnvironmentOptions['peer-cluster'], seen through the real jest CLI: reported as
// the config's (named by its path there), not as the usePeers of each test file that uses it.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { peerProcesses } from '../../test-support/procs.js';
import { JEST, jestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

/** The project's peers still running (the run is over: Jest stopped whatever it started). */
function peersOf(project: FixtureProject) {
  return peerProcesses().filter((p) => p.cmd.includes(project.dir));
}

function config(testEnvironmentOptions: object): string {
  return JSON.stringify({
    testEnvironment: 'peer-cluster',
    testEnvironmentOptions,
    testMatch: ['<rootDir>/pass/cjs-describes.test.js'],
    transform: {},
  });
}

test('a misspelt option names the config’s entry, and no peer starts', { timeout: 120_000 }, async () => {
  const result = await project.run([...JEST, '--config', config({ 'peer-cluster': { app: ['./app.mjs'] } })]);
  expect(result.code).toBe(1);
  expect(result.output).toContain(
    "InvalidOptionsError: Invalid option `testEnvironmentOptions['peer-cluster'].app`: is not an option",
  );
  expect(result.output).not.toMatch(/did not exit/);
  expect(peersOf(project)).toEqual([]);
});

test('a misspelt peer-cluster key is an error, not peers booted without their apps', {
  timeout: 120_000,
}, async () => {
  const result = await project.run([...JEST, '--config', config({ peerCluster: { apps: ['./app.mjs'] } })]);
  expect(result.code).toBe(1);
  expect(result.output).toContain(
    "Invalid option `testEnvironmentOptions.peerCluster`: looks like a misspelling of 'peer-cluster'",
  );
  expect(peersOf(project)).toEqual([]);
});

test('a root that does not exist names the config’s entry', { timeout: 120_000 }, async () => {
  const options = { apps: ['./app.mjs'], root: 'no-such-dir' };
  const result = await project.run([...JEST, '--config', config({ 'peer-cluster': options })]);
  expect(result.code).toBe(1);
  // Named as written, with the project root it resolved against (Jest's rootDir).
  expect(result.output).toContain(
    "Invalid option `testEnvironmentOptions['peer-cluster'].root`: must be an existing directory, and " +
      `no-such-dir (resolved against ${project.dir}: ${join(project.dir, 'no-such-dir')}) does not exist`,
  );
  expect(result.output).toContain('(got "no-such-dir")');
  expect(peersOf(project)).toEqual([]);
});

test('a TypeScript app that does not compile says where, without esbuild’s error objects', {
  timeout: 120_000,
}, async () => {
  // Written at run time (a change of the fixture would reinstall the project), one per run.
  const app = `broken-app-${process.pid}.ts`;
  await writeFile(join(project.dir, app), 'export const start = () => {\n  const x: number = ;\n};\n');
  try {
    const result = await project.run([
      ...JEST,
      '--config',
      config({ 'peer-cluster': { apps: [`./${app}`] } }),
    ]);
    expect(result.code).toBe(1);
    // Each peer compiles the app; the report names whichever failed first.
    expect(result.output).toMatch(/PeerBootError: Peer peer-[12] failed to boot in app /);
    expect(result.output).toContain(`failed to boot in app ./${app}: the TypeScript app`);
    expect(result.output).toContain(`${app}:2:20: ERROR: Unexpected ";"`);
    // esbuild's `errors` made Jest print it as an AggregateError, every field of each message.
    expect(result.output).not.toContain('Errors contained in AggregateError');
    expect(result.output).not.toContain('"pluginName"');
    expect(peersOf(project)).toEqual([]);
  } finally {
    await rm(join(project.dir, app), { force: true });
  }
});

test('a bootTimeout or stopTimeout near the longest Node.js timer does not fail the hooks at once', {
  timeout: 120_000,
}, async () => {
  // The hooks get the peers' timeouts plus some slack, which must not pass Node's longest timer:
  // Jest's own timer would then fire after 1 ms, failing the beforeAll ("Exceeded timeout").
  const options = { apps: ['./app.mjs'], bootTimeout: 2 ** 31 - 1, stopTimeout: 1.5e9 };
  const result = await project.run([...JEST, '--config', config({ 'peer-cluster': options })]);
  expect(result.output).not.toContain('Exceeded timeout');
  expect(result.output).not.toContain('TimeoutOverflowWarning');
  expect(result.code).toBe(0);
  expect(peersOf(project)).toEqual([]);
});
