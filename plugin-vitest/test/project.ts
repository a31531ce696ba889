// The installed Vitest fixture project, shared by the e2e test files of this folder.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import {
  type CliResult,
  type FixtureProject,
  fixtureProject,
  readRecords,
  VITEST_BIN,
} from '../../test-support/fixture-project.js';
import { waitForNoPeers } from '../../test-support/procs.js';

export { VITEST_BIN };

const SOURCE = fileURLToPath(new URL('./fixtures/project', import.meta.url));
const PACKAGES = [
  '@peer-cluster/core',
  '@peer-cluster/strategy-local-registry',
  'vitest-environment-peer-cluster',
] as const;

/** The project, run with the repository's Vitest (VITEST_BIN). */
export function vitestProject(): Promise<FixtureProject> {
  return fixtureProject(SOURCE, [...PACKAGES]);
}

/** The oldest Vitest the peer range admits, installed into its own copy of the project. */
export const OLDEST_VITEST = '3.2.0';

/** The same project with Vitest OLDEST_VITEST installed in it; run it with `vitestBin(project)`. */
export function oldestVitestProject(): Promise<FixtureProject> {
  return fixtureProject(SOURCE, [...PACKAGES], {
    dependencies: { vitest: OLDEST_VITEST },
    variant: 'vitest3',
  });
}

/** The Vitest CLI a project installed for itself. */
export function vitestBin(project: FixtureProject): string {
  return join(project.dir, 'node_modules', 'vitest', 'vitest.mjs');
}

/** What a run of the `pass` suite (E2E_SUITE=pass, records in `out`) must show. */
export async function expectPassRun(result: CliResult, out: string): Promise<void> {
  expect(result.output).toMatch(/Tests\s+14 passed \(14\)/);
  expect(result.code, result.output).toBe(0);
  // Passing tests stay quiet.
  expect(result.output).not.toContain('PeerClusterReport');

  const seen = readRecords(out);
  expect(Object.keys(seen).sort()).toEqual([
    'describes-first',
    'describes-second',
    'docblock',
    'file-level',
    'file-level-inner',
    'fixture-test',
  ]);
  for (const [name, r] of Object.entries(seen)) {
    // Each peer owns the port it was leased: a collision would have answered with another name.
    expect(r.answers, name).toEqual(r.names);
    // Links stay inside the cluster.
    for (const [i, links] of r.links.entries()) {
      expect(links.sort(), `${name} ${r.names[i]}`).toEqual(r.nodeIds.filter((_, j) => j !== i).sort());
    }
    // Per-suite cleanup: a scope never sees another scope's cluster still tracked.
    expect(r.tracked, name).toBeLessThanOrEqual(2);
  }
  // Files ran in parallel workers: clusters of different workers were up at the same time (two
  // files wait for each other with their clusters up: meetAnotherWorker in record.cjs).
  const all = Object.values(seen);
  expect(all.some((a) => all.some((b) => a.worker !== b.worker && a.since <= b.at && b.since <= a.at))).toBe(
    true,
  );
  const clusters = all.map((r) => r.cluster);
  expect(new Set(clusters).size).toBe(clusters.length);
  for (const cluster of clusters) await waitForNoPeers({ cluster, timeout: 3000 });
}
