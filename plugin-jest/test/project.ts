// The installed Jest fixture project, shared by the e2e test files of this folder.
import { fileURLToPath } from 'node:url';
import { type FixtureProject, fixtureProject, JEST_BIN } from '../../test-support/fixture-project.js';

/** Jest with ESM test files: they need Node's vm modules. */
export const JEST = ['--experimental-vm-modules', JEST_BIN];

export function jestProject(): Promise<FixtureProject> {
  return fixtureProject(fileURLToPath(new URL('./fixtures/project', import.meta.url)), [
    '@peer-cluster/core',
    '@peer-cluster/strategy-local-registry',
    'jest-environment-peer-cluster',
  ]);
}
