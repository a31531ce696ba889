// usePeers for Vitest: the harness's usePeers on Vitest's hooks. It takes the hooks from the
// 'vitest' module of the test's own realm (see vitestApi; the vm pools evaluate this module
// inside the file's context), and finds the environment's state on that realm's global.
import {
  createUsePeers,
  currentTestScope,
  failureReportError,
  realNow,
  stopBootingClusters,
  type UsePeers,
  wantsFailureReport,
  withTestScope,
} from '@peer-cluster/core/harness';
import {
  attachToFailedTest,
  collecting,
  fileState,
  onRunCancelled,
  projectRoot,
  runningTest,
  vitestApi,
} from './runner.js';

/**
 * A cluster for the enclosing `describe` (or file): started in its `beforeAll`, stopped in its
 * `afterAll`. Options merge over `environmentOptions['peer-cluster']`, which merge over the
 * defaults. Use the returned handle inside tests and hooks; when a test fails, the peers' recent
 * logs and the cluster timeline are added to its report.
 *
 * @example
 * const cluster = usePeers(3, { apps: ['./src/server.js'] });
 * test('replicates', async () => {
 *   await cluster.peer(0).call('put', 'k', 'v');
 * });
 */
export const usePeers: UsePeers = createUsePeers({
  beforeAll: (fn, timeout) =>
    vitestApi('usePeers()').beforeAll(async () => {
      // A bail while the cluster boots stops it: the hook fails at once, not at the boot timeout.
      // (Registered here: Vitest's cancellation is per run, and the environment outlives runs.)
      const unwatch = onRunCancelled(() => stopBootingClusters(fileState()));
      try {
        await fn();
      } finally {
        unwatch();
      }
    }, timeout),
  afterAll: (fn, timeout) => vitestApi('usePeers()').afterAll(fn, timeout),
  state: fileState,
  projectRoot,
  // Vitest would take the hooks and never run them: a test's collection is over.
  runningTest,
  collecting,
  onTestFailed(report) {
    const vitest = vitestApi('usePeers()');
    // Concurrent tests share the cluster and overlap in time: each runs in a scope of its own, so
    // that its report lists the calls it awaits and not its neighbours'. aroundEach (Vitest 4.1+)
    // runs the test, its hooks and onTestFailed in the hook's async chain; older Vitests have no
    // hook that does, and their reports tell the calls apart by time alone.
    vitest.aroundEach?.((runTest, context) => (context.task.concurrent ? withTestScope(runTest) : runTest()));
    vitest.beforeEach((context) => {
      const since = realNow();
      const scope = currentTestScope();
      // context.annotate cannot be called from onTestFailed; an extra error on the task can.
      context.onTestFailed(() => {
        if (!wantsFailureReport(context.task.result?.errors ?? [])) return;
        const text = report(since, scope);
        if (text) attachToFailedTest(context.task, failureReportError(text));
      });
    });
  },
});
