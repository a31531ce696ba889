// The `stop` suite of the plugins' fixture projects: test files whose clusters run apps whose stop
// is slow or never ends (fixture-apps/slow-stop.mjs), run by the real jest or vitest CLI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliResult, FixtureProject } from './fixture-project.js';
import { waitForNoPeers } from './procs.js';

/**
 * Runs `command` (the runner's CLI and its arguments; the suite's `files` come last) in `project`,
 * with these cluster options, on `node` if given; then checks that no peer of the clusters the
 * test files recorded (`records`) is left.
 */
export async function runStopSuite(
  project: FixtureProject,
  command: string[],
  files: string[],
  options: Record<string, unknown>,
  records: string[],
  node?: string,
): Promise<CliResult> {
  const out = project.outDir('stop');
  const result = await project.run([...command, ...files.map((f) => `stop/${f}`)], {
    ...(node && { node }),
    env: { E2E_SUITE: 'stop', E2E_OUT: out, E2E_OPTIONS: JSON.stringify(options) },
  });
  for (const name of records) {
    const { cluster } = JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8')) as { cluster?: string };
    if (cluster) await waitForNoPeers({ cluster });
  }
  return result;
}

/**
 * The line that says a peer was killed, and whose stop held it up: at stopTimeout, or earlier for
 * the runner's timeout of the test or hook that stops it (`within`).
 */
export const killedLine = (ms: number, within = `stopTimeout \\(${ms} ms\\)`): RegExp =>
  new RegExp(
    `peer-cluster: peer-\\d did not stop within ${within}, so it was killed\\. The stop of its app \\./slow-stop\\.mjs had not ended`,
    'g',
  );
