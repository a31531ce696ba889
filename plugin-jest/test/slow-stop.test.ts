// Apps whose stop is slow, or never ends (slow-stop.mjs), under the real jest CLI: whatever stops
// the cluster, the user reads peer-cluster's own line about the peer it killed, never only Jest's
// "Exceeded timeout of 5000 ms for a hook"; a stop within stopTimeout fails nothing; no peer is
// left, and the tests after it run. Short stopTimeouts against shorter runner timeouts keep it fast.
import { beforeAll, expect, test } from 'vitest';
import type { CliResult, FixtureProject } from '../../test-support/fixture-project.js';
import { killedLine as killed, runStopSuite } from '../../test-support/stop-suite.js';
import { JEST, jestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

/** Runs the `stop` suite's `files` under jest `args` with these cluster options (stop-suite.ts). */
const runStop = (
  files: string[],
  options: Record<string, unknown>,
  args: string[],
  records: string[],
): Promise<CliResult> => runStopSuite(project, [...JEST, ...args], files, options, records);

/** `within` of a killed line for a stop cut short before the timeout of the test or hook. */
const cutShort = (ms: number, what: string, timeout: number) =>
  `the \\d+ ms the ${what}'s timeout \\(${timeout} ms\\) left it of its stopTimeout \\(${ms} ms\\)`;

test("usePeers' afterAll waits for stopTimeout, not for Jest's timeout, and says whom it killed", {
  timeout: 120_000,
}, async () => {
  // A 300 ms testTimeout (the hooks' default too) against an 800 ms stopTimeout.
  const result = await runStop(
    ['describe'],
    { stopTimeout: 800 },
    ['--testTimeout=300'],
    ['describe', 'describe-next'],
  );
  expect(result.output.match(killed(800))).toHaveLength(2);
  expect(result.output).not.toMatch(/Exceeded timeout/);
  expect(result.output).toMatch(/Tests:\s+2 passed, 2 total/);
  expect(result.code, result.output).toBe(0);
});

test('a slow stop within stopTimeout passes quietly, however short Jest’s timeout', {
  timeout: 120_000,
}, async () => {
  const result = await runStop(
    ['describe'],
    { stopTimeout: 3000, env: { STOP_MS: 400 } },
    ['--testTimeout=200'],
    ['describe', 'describe-next'],
  );
  expect(result.output).not.toMatch(/did not stop|Exceeded timeout/);
  expect(result.code, result.output).toBe(0);
});

test("a stop that hangs in a test's own afterEach, or in the test, is cut short before Jest's default timeout, which the default stopTimeout equals", {
  timeout: 120_000,
}, async () => {
  // Jest's own default testTimeout (the project sets 60 s), which its hooks get too.
  const result = await runStop(
    ['after-each', 'in-test'],
    { count: 1 },
    ['--testTimeout=5000'],
    ['after-each', 'after-each-next', 'in-test'],
  );
  expect(result.output).not.toMatch(/Exceeded timeout/);
  // Each of the three clusters' one peer: what was killed, and how long its hook or test left it.
  expect(
    result.output.match(
      killed(5000, `(${cutShort(5000, 'afterEach hook', 5000)}|${cutShort(5000, 'test', 5000)})`),
    ),
  ).toHaveLength(3);
  expect(result.output).toMatch(/Tests:\s+4 passed, 4 total/);
  expect(result.code, result.output).toBe(0);
});

test('a stop in a hook whose timeout is shorter than stopTimeout is killed before that timeout, and says so', {
  timeout: 120_000,
}, async () => {
  // A 3 s testTimeout (the afterEach's too) against a 6 s stopTimeout: the kill has 600 ms (a
  // fifth) to land before Jest's timeout, where a loaded 2-core machine took up to ~120 ms.
  const result = await runStop(
    ['after-each'],
    { count: 1, stopTimeout: 6000 },
    ['--testTimeout=3000'],
    ['after-each', 'after-each-next'],
  );
  expect(result.output).not.toMatch(/Exceeded timeout/);
  expect(result.output.match(killed(6000, cutShort(6000, 'afterEach hook', 3000)))).toHaveLength(2);
  expect(result.output).toContain(
    'Give the afterEach hook a timeout longer than stopTimeout, or a shorter stopTimeout.',
  );
  // The first cluster was gone before the next test began (it checks), which passed.
  expect(result.output).toMatch(/Tests:\s+2 passed, 2 total/);
  expect(result.code, result.output).toBe(0);
});
