import { watchModeTests } from '../../test-support/watch-mode.js';
import { VITEST_BIN, vitestProject } from './project.js';

watchModeTests({ runner: 'vitest', project: vitestProject, command: [VITEST_BIN, '--watch'] });
