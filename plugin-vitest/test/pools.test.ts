// The real vitest CLI on a fixture project that installed the packed packages: several files and
// describes with usePeers at file level and in describes, the fixture form, a docblock's options;
// under every pool, and with isolation off; and on each Node LTS line in use (NODE_LTS_RELEASES,
// fetched from the npm registry), where Vitest, its workers and the peers all run on that Node.
import { beforeAll, describe, test } from 'vitest';
import { expectRanOn } from '../../test-support/cluster-records.js';
import type { FixtureProject } from '../../test-support/fixture-project.js';
import { NODE_LTS_RELEASES, NODE_RELEASES, nodeRelease } from '../../test-support/node-release.js';
import { expectPassRun, POOLS, VITEST_BIN, vitestProject } from './project.js';

let project: FixtureProject;
beforeAll(async () => {
  project = await vitestProject();
}, 240_000);

const runs: [string, string[], string | undefined][] = [
  ...POOLS.map(([label, args]): [string, string[], undefined] => [label, args, undefined]),
  ['forks without isolation', ['--no-isolate'], undefined],
  ...(NODE_RELEASES
    ? NODE_LTS_RELEASES.map((version): [string, string[], string] => [
        `forks, on Node ${version}`,
        [],
        version,
      ])
    : []),
];

describe.each(runs)('vitest run, %s', (_label, args, nodeVersion) => {
  test('passes, and every cluster kept to itself', { timeout: 300_000 }, async () => {
    const out = project.outDir('pass');
    const node = nodeVersion === undefined ? undefined : await nodeRelease(nodeVersion);
    const result = await project.run([VITEST_BIN, 'run', ...args], {
      env: { E2E_SUITE: 'pass', E2E_OUT: out, E2E_MEET: '1' },
      ...(node && { node }),
    });
    await expectPassRun(result, out);
    expectRanOn(out, nodeVersion ?? process.versions.node);
  });
});
