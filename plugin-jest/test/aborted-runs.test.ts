import { abortedRunTests } from '../../test-support/aborted-runs.js';
import { JEST, jestProject } from './project.js';

abortedRunTests({ runner: 'jest', project: jestProject, command: [...JEST], bail: '--bail' });
