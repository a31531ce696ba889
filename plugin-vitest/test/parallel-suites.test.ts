// Parallel suites through the real vitest CLI: 8 test files with 5 peers each in 8 parallel
// workers, repeated (PARALLEL_SUITES_REPEAT: once in `npm test`, 20 times in `npm run stress`): no
// app port shared between clusters, no link across clusters, no lease left in the registry.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '@peer-cluster/core/registry';
import { beforeAll, expect, test } from 'vitest';
import {
  type ClusterRecord,
  type FixtureProject,
  waitForRecords,
} from '../../test-support/fixture-project.js';
import { waitForNoPeers } from '../../test-support/procs.js';
import { VITEST_BIN, vitestProject } from './project.js';

const FILES = 8;
const PEERS = 5;
const REPEAT = Number(process.env.PARALLEL_SUITES_REPEAT ?? 1);

let project: FixtureProject;
beforeAll(async () => {
  project = await vitestProject();
  // The same file eight times, written into the installed project rather than kept eight times.
  mkdirSync(join(project.dir, 'parallel'), { recursive: true });
  for (let i = 1; i <= FILES; i++) {
    writeFileSync(
      join(project.dir, 'parallel', `file-${i}.spec.ts`),
      `import { test } from 'vitest';
import { usePeers } from 'vitest-environment-peer-cluster';
import { describeCluster, record } from '../record.cjs';

const cluster = usePeers(${PEERS});

test('records its cluster', async () => {
  record('parallel-${i}', await describeCluster(cluster));
});
`,
    );
  }
}, 240_000);

test(`${FILES} files × ${PEERS} peers in parallel workers, ${REPEAT} time(s): no shared port, no link across clusters, no lease left`, {
  timeout: 120_000 * REPEAT,
}, async () => {
  for (let round = 1; round <= REPEAT; round++) {
    const out = project.outDir(`parallel-${round}`);
    const cli = project.start([VITEST_BIN, 'run', `--maxWorkers=${FILES}`], {
      env: { E2E_SUITE: 'parallel', E2E_OUT: out },
    });
    const records = await waitForRecords<ClusterRecord>(
      out,
      Array.from({ length: FILES }, (_, i) => `parallel-${i + 1}`),
      cli,
    );
    const result = await cli.done;
    expect(result.code, result.output).toBe(0);

    const ports = records.flatMap((r) => r.ports);
    expect(new Set(ports).size, `round ${round}: app ports ${ports}`).toBe(FILES * PEERS);
    expect(new Set(records.map((r) => r.cluster)).size).toBe(FILES);
    for (const r of records) {
      for (const [i, links] of r.links.entries()) {
        expect(links.sort(), `${r.cluster}: links of ${r.nodeIds[i]}`).toEqual(
          r.nodeIds.filter((_, j) => j !== i).sort(),
        );
      }
    }
    for (const r of records) await waitForNoPeers({ cluster: r.cluster, timeout: 3000 });
    const registry = await RegistryClient.connect({ autoStart: false });
    try {
      const status = await registry.status();
      expect(
        status.leases.filter((p) => ports.includes(p)),
        `round ${round}: leases left`,
      ).toEqual([]);
      for (const r of records) expect(status.clusters[r.cluster], r.cluster).toBeUndefined();
    } finally {
      await registry.close();
    }
  }
});
