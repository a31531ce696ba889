// The newest Vitest of the peer range (5), on the oldest Node it runs on (22.12), both fetched from
// the npm registry: the runner, its workers and the peers all run on that Node. The same suites
// pass under every pool, and a failed test gets its report. The pass suite also runs on the Node
// LTS lines in use (NODE_LTS_RELEASES).
import { beforeAll, describe, expect, test } from 'vitest';
import { expectRanOn } from '../../test-support/cluster-records.js';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { NODE_LTS_RELEASES, NODE_RELEASES, nodeRelease } from '../../test-support/node-release.js';
import {
  expectConcurrentReport,
  expectFailReport,
  expectPassRun,
  NEWEST_VITEST,
  NEWEST_VITEST_NODE,
  newestVitestProject,
  POOLS,
  vitestBin,
} from './project.js';

describe.skipIf(!NODE_RELEASES)(`vitest ${NEWEST_VITEST} on Node ${NEWEST_VITEST_NODE}`, () => {
  let project: FixtureProject;
  let node: string;
  beforeAll(async () => {
    [project, node] = await Promise.all([newestVitestProject(), nodeRelease(NEWEST_VITEST_NODE)]);
  }, 300_000);

  describe.each([...POOLS, ['--no-isolate', ['--no-isolate']]] as [string, string[]][])(
    'run, %s',
    (_label, args: string[]) => {
      test('passes, and every cluster kept to itself', { timeout: 180_000 }, async () => {
        const out = project.outDir('pass');
        const result = await project.run([vitestBin(project), 'run', ...args], {
          node,
          env: { E2E_SUITE: 'pass', E2E_OUT: out, E2E_MEET: '1' },
        });
        expect(result.output).toContain(`RUN  v${NEWEST_VITEST}`);
        await expectPassRun(result, out);
        expectRanOn(out, NEWEST_VITEST_NODE);
      });
    },
  );

  test.each(NODE_LTS_RELEASES)('passes on Node %s too', { timeout: 300_000 }, async (version) => {
    const lts = await nodeRelease(version);
    const out = project.outDir('pass');
    const result = await project.run([vitestBin(project), 'run'], {
      node: lts,
      env: { E2E_SUITE: 'pass', E2E_OUT: out, E2E_MEET: '1' },
    });
    await expectPassRun(result, out);
    expectRanOn(out, version);
  });

  test('a failing test gets the report', { timeout: 120_000 }, async () => {
    const result = await project.run([vitestBin(project), 'run'], {
      node,
      env: { E2E_SUITE: 'fail', E2E_OUT: project.outDir('fail') },
    });
    expectFailReport(result, NEWEST_VITEST);
  });

  test('concurrent tests: a report lists the calls of its own test', { timeout: 120_000 }, async () => {
    const result = await project.run([vitestBin(project), 'run'], {
      node,
      env: { E2E_SUITE: 'concurrent', E2E_OUT: project.outDir('concurrent') },
    });
    expectConcurrentReport(result, { ownOnly: true });
  });
});
