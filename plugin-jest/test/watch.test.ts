import { watchModeTests } from '../../test-support/watch-mode.js';
import { JEST, jestProject } from './project.js';

watchModeTests({
  runner: 'jest',
  project: jestProject,
  command: [...JEST, '--watchAll'],
  runEnd: (n) => `run-end-${n}`,
});
