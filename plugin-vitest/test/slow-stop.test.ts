// Apps whose stop is slow, or never ends (slow-stop.mjs), under the real vitest CLI: whatever
// stops the cluster, the user reads peer-cluster's own line about the peer it killed, never only
// Vitest's "Hook timed out"; a stop within stopTimeout fails nothing; no peer is left, and the
// tests after it run. Short stopTimeouts against shorter runner timeouts keep it fast.
import { beforeAll, expect, test } from 'vitest';
import type { CliResult, FixtureProject } from '../../test-support/fixture-project.js';
import { NODE_RELEASES, nodeRelease } from '../../test-support/node-release.js';
import { killedLine as killed, runStopSuite } from '../../test-support/stop-suite.js';
import {
  NEWEST_VITEST,
  NEWEST_VITEST_NODE,
  newestVitestProject,
  OLDEST_VITEST,
  oldestVitestProject,
  VITEST_BIN,
  vitestBin,
  vitestProject,
} from './project.js';

/** A fixture project, the Vitest CLI it runs and the Node that runs it (this one's by default). */
interface Runner {
  project: FixtureProject;
  bin: string;
  node?: string;
}

let runner: Runner;
beforeAll(async () => {
  runner = { project: await vitestProject(), bin: VITEST_BIN };
}, 240_000);

/** Runs the `stop` suite's `files` under vitest `args` with these cluster options (stop-suite.ts). */
const runStop = (
  files: string[],
  options: Record<string, unknown>,
  args: string[],
  records: string[],
  { project, bin, node }: Runner = runner,
): Promise<CliResult> => runStopSuite(project, [bin, 'run', ...args], files, options, records, node);

test("usePeers' afterAll and the fixture wait for stopTimeout, not for Vitest's timeouts, and say whom they killed", {
  timeout: 120_000,
}, async () => {
  // The fixture boots in its test, which must have the time for it: its stop outlasts it.
  const result = await runStop(
    ['describe', 'fixture'],
    { stopTimeout: 2500 },
    ['--hookTimeout=300', '--testTimeout=2000'],
    ['describe', 'describe-next', 'fixture', 'fixture-next'],
  );
  // Two peers in each file's cluster.
  expect(result.output.match(killed(2500))).toHaveLength(4);
  expect(result.output).not.toMatch(/timed out/);
  expect(result.output).toMatch(/Tests\s+4 passed \(4\)/);
  expect(result.code, result.output).toBe(0);
});

test('a slow stop within stopTimeout passes quietly, however short Vitest’s timeouts', {
  timeout: 120_000,
}, async () => {
  const result = await runStop(
    ['describe', 'fixture'],
    { stopTimeout: 6000, env: { STOP_MS: 2500 } },
    ['--hookTimeout=300', '--testTimeout=2000'],
    ['describe', 'describe-next', 'fixture', 'fixture-next'],
  );
  expect(result.output).not.toMatch(/did not stop|timed out/);
  expect(result.code, result.output).toBe(0);
});

// Vitest's running timeout is not public, but it aborts the test's context.signal when it gives up
// on it: the stop under way kills its peers then, and the kill line says why. How core finds the
// current test differs between Vitest 3.2 (and 4.0) and 4.1 on, hence each of the peer range.
const versions: [string, () => Promise<Runner>][] = [
  ['this Vitest', async () => runner],
  [
    OLDEST_VITEST,
    async () => {
      const project = await oldestVitestProject();
      return { project, bin: vitestBin(project) };
    },
  ],
  ...(NODE_RELEASES
    ? [
        [
          NEWEST_VITEST,
          async () => {
            const [project, node] = await Promise.all([
              newestVitestProject(),
              nodeRelease(NEWEST_VITEST_NODE),
            ]);
            return { project, bin: vitestBin(project), node };
          },
        ] as [string, () => Promise<Runner>],
      ]
    : []),
];

test.each(versions)(
  '%s: a stop that hangs in a test Vitest gives up on kills its peers then, and says why',
  {
    timeout: 300_000,
  },
  async (_version, get) => {
    const result = await runStop(
      ['in-test'],
      { count: 1 },
      ['--testTimeout=3000'],
      ['in-test', 'in-test-next'],
      await get(),
    );
    expect(result.output).toContain('Test timed out in 3000ms');
    const gaveUp =
      'the \\d+ ms of its stopTimeout \\(5000 ms\\) before the runner gave up on its test \\(Test timed out in 3000ms\\.\\)';
    expect(result.output.match(killed(5000, gaveUp))).toHaveLength(1);
    expect(result.output).toContain('Give the test or hook that stops it a timeout longer than stopTimeout');
    expect(result.output).toMatch(/Tests\s+1 failed \| 1 passed \(2\)/);
  },
);
