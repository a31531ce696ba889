// A mistake in the environment options is named as theirs. Vitest gives an environment's setup no
// project root, so a relative `root` is checked by the file's first usePeers (Jest checks it at
// setup): the error names `environmentOptions['peer-cluster'].root`, not usePeers' own `root`.
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { CliOptions, FixtureProject } from '../../test-support/fixture-project.js';
import { NODE_RELEASES, nodeRelease } from '../../test-support/node-release.js';
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

/** A Vitest of the peer range: the project installed for it, its CLI, and how to run it. */
type Setup = () => Promise<[FixtureProject, string, CliOptions]>;

const versions: [string, Setup][] = [
  ['the repository’s', async () => [await vitestProject(), VITEST_BIN, {}]],
  [
    OLDEST_VITEST,
    async () => {
      const project = await oldestVitestProject();
      return [project, vitestBin(project), {}];
    },
  ],
];
if (NODE_RELEASES)
  versions.push([
    NEWEST_VITEST,
    async () => {
      const [project, node] = await Promise.all([newestVitestProject(), nodeRelease(NEWEST_VITEST_NODE)]);
      return [project, vitestBin(project), { node }];
    },
  ]);

const pools: [string, string[]][] = [
  ['forks (the default pool)', []],
  ['vmThreads', ['--pool=vmThreads']],
];

test.each(
  versions.flatMap(([version, setup]) => pools.map(([pool, args]) => [version, pool, args, setup] as const)),
)(
  'vitest %s, %s: a root that does not exist names the environment options’ entry',
  { timeout: 300_000 },
  async (_version, _pool, args, setup) => {
    const [project, bin, options] = await setup();
    const result = await project.run([bin, 'run', ...args], { ...options, env: { E2E_SUITE: 'bad-root' } });
    expect(result.code).toBe(1);
    // Named as written, with the project root it resolved against (Vitest's root).
    expect(result.output).toContain(
      "Invalid option `environmentOptions['peer-cluster'].root`: must be an existing directory, and " +
        `no-such-dir (resolved against ${project.dir}: ${join(project.dir, 'no-such-dir')}) does not exist`,
    );
    expect(result.output).toContain('(got "no-such-dir")');
    // The file's comment set it: the error says where else than the config to look.
    expect(result.output).toContain(
      `It may come from the @${'vitest'}-environment-options comment of the test file`,
    );
  },
);
