// Apps whose stop is slow, or never ends (slow-stop.mjs), under the real vitest CLI: whatever
// stops the cluster, the user reads peer-cluster's own line about the peer it killed, never only
// Vitest's "Hook timed out"; a stop within stopTimeout fails nothing; no peer is left, and the
// tests after it run. Short stopTimeouts against shorter runner timeouts keep it fast.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import type { CliResult, FixtureProject } from '../../test-support/fixture-project.js';
import { waitForNoPeers } from '../../test-support/procs.js';
import { VITEST_BIN, vitestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await vitestProject();
}, 240_000);

/** Runs the `stop` suite's `files` with these cluster options; checks no peer of theirs is left. */
async function runStop(
  files: string[],
  options: Record<string, unknown>,
  args: string[],
  records: string[],
): Promise<CliResult> {
  const out = project.outDir('stop');
  const result = await project.run([VITEST_BIN, 'run', ...args, ...files.map((f) => `stop/${f}`)], {
    env: { E2E_SUITE: 'stop', E2E_OUT: out, E2E_OPTIONS: JSON.stringify(options) },
  });
  for (const name of records) {
    const { cluster } = JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8')) as { cluster?: string };
    if (cluster) await waitForNoPeers({ cluster });
  }
  return result;
}

/** The line that says a peer was killed, and whose stop held it up. */
const killed = (ms: number) =>
  new RegExp(
    `peer-cluster: peer-\\d did not stop within stopTimeout \\(${ms} ms\\), so it was killed\\. The stop of its app \\./slow-stop\\.mjs had not ended`,
    'g',
  );

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
