// The real vitest CLI on a fixture project that installed the packed packages: several files and
// describes with usePeers at file level and in describes, the fixture form, a docblock's options;
// under every pool, and with isolation off.
import { beforeAll, describe, expect, test } from 'vitest';
import { type FixtureProject, readRecords } from '../../test-support/fixture-project.js';
import { waitForNoPeers } from '../../test-support/procs.js';
import { VITEST_BIN, vitestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await vitestProject();
}, 240_000);

const runs: [string, string[]][] = [
  ['forks (the default pool)', []],
  ['threads', ['--pool=threads']],
  ['vmThreads', ['--pool=vmThreads']],
  ['forks without isolation', ['--no-isolate']],
];

describe.each(runs)('vitest run, %s', (_label, args) => {
  test('passes, and every cluster kept to itself', { timeout: 180_000 }, async () => {
    const out = project.outDir('pass');
    const result = await project.run([VITEST_BIN, 'run', ...args], {
      env: { E2E_SUITE: 'pass', E2E_OUT: out, E2E_MEET: '1' },
    });
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
    // files wait for each other with their clusters up: meetAnotherWorker in record.ts).
    const all = Object.values(seen);
    expect(
      all.some((a) => all.some((b) => a.worker !== b.worker && a.since <= b.at && b.since <= a.at)),
    ).toBe(true);
    const clusters = all.map((r) => r.cluster);
    expect(new Set(clusters).size).toBe(clusters.length);
    for (const cluster of clusters) await waitForNoPeers({ cluster, timeout: 3000 });
  });
});
