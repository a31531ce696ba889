import { abortedRunTests } from '../../test-support/aborted-runs.js';
import { VITEST_BIN, vitestProject } from './project.js';

abortedRunTests({ runner: 'vitest', project: vitestProject, command: [VITEST_BIN, 'run'], bail: '--bail=1' });
