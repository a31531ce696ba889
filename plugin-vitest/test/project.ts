// The installed Vitest fixture project, shared by the e2e test files of this folder.
import { fileURLToPath } from 'node:url';
import { type FixtureProject, fixtureProject, VITEST_BIN } from '../../test-support/fixture-project.js';

export { VITEST_BIN };

export function vitestProject(): Promise<FixtureProject> {
  return fixtureProject(fileURLToPath(new URL('./fixtures/project', import.meta.url)), [
    '@peer-cluster/core',
    '@peer-cluster/strategy-local-registry',
    'vitest-environment-peer-cluster',
  ]);
}
