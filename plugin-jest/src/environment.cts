// `testEnvironment: 'peer-cluster'`: jest-environment-node plus the harness. Jest loads this
// class outside the test's sandbox, with `require`; the harness (ESM, in core) is imported in
// setup() and put on the test's global under one key, where the package's `usePeers` shim finds
// it from CommonJS and ESM test files alike. Peers are spawned only by usePeers' beforeAll.
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import type { Circus } from '@jest/types';
import type { HarnessState, RunnerDeadline, RunnerHooks, TestScope } from '@peer-cluster/core/harness';
import { TestEnvironment } from 'jest-environment-node';

type Harness = typeof import('@peer-cluster/core/harness');

class PeerClusterEnvironment extends TestEnvironment {
  /** The class itself (assigned below), which TypeScript's and bundlers' default-import interop read. */
  declare static readonly default: typeof PeerClusterEnvironment;
  readonly #options: unknown;
  readonly #root: string;
  /**
   * `jest --json` (stdout carries the results, and nothing else may be written there) or
   * `--useStderr` (Jest writes all it prints, the tests' console too, to stderr).
   */
  readonly #stderrOnly: boolean;
  /** `--silent` (or the project's `silent`): Jest drops the tests' console, and the peers' echo. */
  readonly #silent: boolean;
  #harness: Harness | undefined;
  #state: HarnessState | undefined;
  /**
   * The tests running now: when each started, whether its function runs now (usePeers cannot be
   * called there), and, for a concurrent one, the scope its function runs in (test.concurrent
   * tests run at once and share their scope's cluster: a report lists the calls of its own test,
   * and a misplaced usePeers names its own test, not its neighbours').
   */
  readonly #tests = new Map<
    Circus.TestEntry,
    { since: number; inFn?: boolean; scope?: TestScope; unwrap?: () => void }
  >();
  /**
   * The tests' functions and the hooks running now, each with the time Jest fails it at: a stop
   * of a cluster the test started itself ends before that (core's runner-deadline.ts).
   */
  readonly #deadlines = new Map<object, RunnerDeadline>();
  /** The describe block whose beforeAll hook runs now, if one does. */
  #beforeAllOf: Circus.DescribeBlock | undefined;
  /** The kind of hook that runs now (`'afterEach'`), if one does: a misplaced usePeers names it. */
  #hook: string | undefined;
  #unwatch: (() => void) | undefined;
  /** Jest has started running the file's tests and hooks: its collection is over. */
  #runStarted = false;
  /** The file's @jest-environment-options comment, for errors about the options it may have set. */
  readonly #comment: string | undefined;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    // NodeEnvironment copied every option onto the global; ours stay under their one key.
    this.#options = config.projectConfig.testEnvironmentOptions;
    this.#root = config.projectConfig.rootDir;
    this.#stderrOnly = config.globalConfig.json || config.globalConfig.useStderr;
    // As jest-runner picks the tests' console: a NullConsole when silent.
    this.#silent = Boolean(config.projectConfig.silent ?? config.globalConfig.silent);
    // Jest merges the comment's options into testEnvironmentOptions: a mistake may be in either.
    this.#comment =
      context.docblockPragmas?.['jest-environment-options'] === undefined
        ? undefined
        : `the @jest-environment-options comment of ${context.testPath}, which Jest merges into testEnvironmentOptions`;
  }

  override async setup(): Promise<void> {
    await super.setup();
    const harness = (await import('@peer-cluster/core/harness')) as Harness;
    // No early registry connection (Vitest's environment opens one): Jest loads the test file
    // synchronously after setup, so the connection made no progress before the first beforeAll
    // (measured), and it started the daemon for files where -t leaves nothing to run.
    // Jest prints the tests' console on stderr; with --json or --useStderr, the peers' echoed
    // stdout goes there too.
    if (this.#stderrOnly) harness.echoPeerStdoutTo(process.stderr);
    harness.silencePeerEcho(this.#silent);
    // What peers return is built outside the sandbox: made of its classes, toStrictEqual holds.
    harness.adoptValuesInto(this.global as unknown as typeof globalThis);
    const state = harness.harnessState(this.global);
    state.options = harness.environmentClusterOptions(
      this.#options,
      'testEnvironmentOptions',
      "Set it in testEnvironmentOptions of your Jest config, or with a file's @jest-environment-options comment.",
      this.#comment,
      this.#root,
    );
    state.root = this.#root;
    state.errors = await import('@peer-cluster/core/errors');
    state.core = harness.coreFunctions();
    // The latest to end of what runs now (test.concurrent runs several tests at once).
    state.runnerDeadline = () => {
      let latest: RunnerDeadline | undefined;
      for (const deadline of this.#deadlines.values())
        if (!latest || deadline.at > latest.at) latest = deadline;
      return latest;
    };
    const root = this.#root;
    state.usePeers = (count, options, hooks: RunnerHooks) =>
      harness.createUsePeers({
        // The test's own hooks, so the cluster belongs to the describe block being collected.
        beforeAll: (fn, timeout) => hooks.beforeAll(fn, timeout),
        afterAll: (fn, timeout) => hooks.afterAll(fn, timeout),
        state: () => state,
        projectRoot: () => root,
        runningTest: () => this.#runningTest(),
        runningHook: () => this.#hook,
        collecting: () => !this.#runStarted,
        scopeNeedsNoCluster: () =>
          this.#beforeAllOf && !hasTestToRun(this.#beforeAllOf)
            ? `every test of its describe block is todo or skipped (Jest runs the block's beforeAll anyway)`
            : undefined,
        stoppedHint:
          'Jest runs afterAll hooks in the order they are declared: declare an afterAll that uses the cluster before calling usePeers.',
      })(count, options);
    this.#harness = harness;
    this.#state = state;
    // Jest's workers outlive a killed or interrupted Jest: the peers must not.
    this.#unwatch = harness.killClustersWhenRunnerDies(state);
  }

  async handleTestEvent(event: Circus.Event, state: Circus.State): Promise<void> {
    if (event.name === 'run_start') this.#runStarted = true;
    // Jest starts a hook's or a test's timer once this event is handled, with the timeout read so.
    if (event.name === 'hook_start') this.#runs(event.hook, `${event.hook.type} hook`, state);
    else if (event.name === 'test_fn_start') this.#runs(event.test, 'test', state);
    else if (event.name === 'hook_success' || event.name === 'hook_failure')
      this.#deadlines.delete(event.hook);
    else if (
      event.name === 'test_fn_success' ||
      event.name === 'test_fn_failure' ||
      event.name === 'test_done'
    )
      this.#deadlines.delete(event.test);
    if (event.name === 'hook_start') {
      this.#beforeAllOf = event.hook.type === 'beforeAll' ? event.hook.parent : undefined;
      this.#hook = event.hook.type;
    } else if (event.name === 'hook_success' || event.name === 'hook_failure') {
      this.#beforeAllOf = undefined;
      this.#hook = undefined;
    }
    if (event.name === 'test_start') {
      this.#tests.set(event.test, { since: Date.now() });
    } else if (event.name === 'test_skip' || event.name === 'test_todo') {
      this.#tests.delete(event.test);
    } else if (event.name === 'test_fn_start') {
      const running = this.#tests.get(event.test);
      // A test whose beforeEach failed gets test_fn_start, but Jest does not call its function
      // (nor end it with test_fn_success or test_fn_failure): its afterEach hooks run next.
      if (running && event.test.errors.length === 0) running.inFn = true;
      if (running && event.test.concurrent) Object.assign(running, this.#scope(event.test));
    } else if (event.name === 'test_fn_success' || event.name === 'test_fn_failure') {
      const running = this.#tests.get(event.test);
      if (running) running.inFn = false;
    } else if (event.name === 'test_done') {
      const { since = Date.now(), scope, unwrap } = this.#tests.get(event.test) ?? {};
      unwrap?.();
      this.#tests.delete(event.test);
      if (
        event.test.errors.length > 0 &&
        this.#harness?.wantsFailureReport(event.test.errors) &&
        this.#state
      ) {
        // Only the test's enclosing scopes have clusters up now: a sibling describe's afterAll
        // has already stopped its own.
        const text = this.#harness.trackedFailureReport(this.#state, since, scope);
        if (text) event.test.errors.push(jestReport(this.#harness.failureReportError(text)));
      }
      if (scope) scope.ended = true;
    }
  }

  /** `of` (a hook, a test's function) starts, and Jest fails it after its timeout. */
  #runs(of: Circus.Hook | Circus.TestEntry, what: string, state: Circus.State): void {
    const timeout = of.timeout || state.testTimeout;
    if (!this.#harness || !(timeout > 0)) return;
    const deadlines = this.#deadlines;
    const deadline: RunnerDeadline = {
      at: this.#harness.realNow() + timeout,
      timeout,
      what,
      running: () => deadlines.get(of) === deadline,
    };
    deadlines.set(of, deadline);
  }

  /**
   * The name of the test whose function runs now: under test.concurrent, the one whose scope the
   * caller runs in (or, for a generator function, which runs in none, the latest to start).
   */
  #runningTest(): string | undefined {
    const scope = this.#harness?.currentTestScope();
    let latest: Circus.TestEntry | undefined;
    for (const [test, { inFn, scope: own }] of this.#tests) {
      if (!inFn) continue;
      if (scope && own === scope) return test.name;
      latest = test;
    }
    return latest?.name;
  }

  /**
   * Runs the test's function, which Jest is about to call, in a scope of its own. Jest runs each
   * test in an AsyncLocalStorage of its own, but inside the sandbox, out of the harness's reach,
   * and no event runs in the test's async chain: the function itself is wrapped, for this attempt.
   * Not a generator function, which Jest calls otherwise: its calls go by time.
   */
  #scope(test: Circus.TestEntry): { scope: TestScope; unwrap: () => void } | undefined {
    const { fn } = test;
    const harness = this.#harness;
    if (!harness || Object.prototype.toString.call(fn) === '[object GeneratorFunction]') return undefined;
    const scope: TestScope = { ended: false };
    const scoped = function (this: unknown, ...args: unknown[]) {
      return harness.runInTestScope(scope, () => (fn as (...args: unknown[]) => unknown).apply(this, args));
    };
    // Jest gives `done` to a function that declares a parameter.
    Object.defineProperty(scoped, 'length', { value: fn.length });
    test.fn = scoped as Circus.TestFn;
    return {
      scope,
      unwrap: () => {
        if (test.fn === scoped) test.fn = fn;
      },
    };
  }

  override async teardown(): Promise<void> {
    // Still watching while the clusters stop: should the runner die meanwhile, they are killed.
    try {
      if (this.#harness && this.#state) {
        // Jest runs teardown after failures and timeouts too: nothing an afterAll missed survives.
        const errors = await this.#harness.stopTrackedClusters(this.#state);
        if (errors.length > 0) {
          throw new AggregateError(
            errors,
            `peer-cluster: ${errors.length} cluster(s) failed to stop at environment teardown`,
          );
        }
      }
    } finally {
      this.#unwatch?.();
      this.#harness?.adoptValuesInto(undefined);
      await super.teardown();
    }
  }
}

/**
 * Whether `block` has a test Jest will run: not todo, not skipped, nor in a skipped block. (Jest
 * leaves out the hooks of a block whose tests are all skipped, but runs them for todo tests.)
 */
function hasTestToRun(block: Circus.DescribeBlock): boolean {
  if (block.mode === 'skip') return false;
  return block.children.some((child) =>
    child.type === 'describeBlock' ? hasTestToRun(child) : child.mode !== 'todo' && child.mode !== 'skip',
  );
}

/**
 * Jest splits an error's stack into a message (the lines before the first one that looks like a
 * stack frame) and frames. A report has no frame, so Jest would keep its first line as the message
 * and format the rest as frames: lines re-indented or dropped (`node:internal`), and a code frame
 * made of whatever peer log line names a file. One internal frame at the end, which Jest drops,
 * keeps the whole report as the message.
 */
function jestReport(error: Error): Error {
  error.stack = `${error.stack}\n    at node:internal/peer-cluster-report:1:1`;
  return error;
}

// `require('jest-environment-peer-cluster/environment')` and `import Environment from …` get the
// class itself, to extend (`.default` too, as TypeScript's own interop reads it). `export =`, so
// that the declarations say so: with `export default`, a TypeScript project on nodenext (ESM or
// CommonJS) saw a module object to extend, not a class.
Object.assign(PeerClusterEnvironment, { default: PeerClusterEnvironment });
export = PeerClusterEnvironment;
