// What every e2e run of a fixture project's pass suite must show in the records its tests wrote
// (record.cjs): each cluster kept to itself, and, run in workers, two workers' clusters up at once.
import { expect } from 'vitest';
import { readRecords } from './fixture-project.js';
import { waitForNoPeers } from './procs.js';

export async function expectClustersKeptApart(
  out: string,
  names: string[],
  options: { inWorkers: boolean },
): Promise<void> {
  const seen = readRecords(out);
  expect(Object.keys(seen).sort()).toEqual([...names].sort());
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
  const all = Object.values(seen);
  if (options.inWorkers) {
    // Files ran in parallel workers: clusters of different workers were up at the same time (two
    // files wait for each other with their clusters up: meetAnotherWorker in record.cjs).
    expect(
      all.some((a) => all.some((b) => a.worker !== b.worker && a.since <= b.at && b.since <= a.at)),
    ).toBe(true);
  }
  const clusters = all.map((r) => r.cluster);
  expect(new Set(clusters).size).toBe(clusters.length);
  for (const cluster of clusters) await waitForNoPeers({ cluster, timeout: 3000 });
}

/** Every record in `out` says that the runner and each peer ran on Node `version` (`'24.21.0'`). */
export function expectRanOn(out: string, version: string): void {
  for (const [name, record] of Object.entries(readRecords(out))) {
    expect(new Set(record.nodeVersions), name).toEqual(new Set([`v${version}`]));
  }
}
