// The runner-neutral harness through its own adapter interface, with real clusters: what both
// plugins build on. The "runner" here is the adapter contract itself — hooks collected and run
// in the order a runner would run them.
import { Cluster, customStrategy, startCluster } from '@peer-cluster/core';
import {
  createUsePeers,
  currentTestScope,
  formatFailureReport,
  type HarnessState,
  harnessState,
  resolveClusterOptions,
  stopTrackedClusters,
  type TestScope,
  withTestScope,
} from '@peer-cluster/core/harness';
import { afterEach, describe, expect, test } from 'vitest';
import { waitForNoPeers } from '../../test-support/procs.js';

const APP = new URL('../../test-support/fixture-apps/app.mjs', import.meta.url).pathname;

function scope() {
  const state: HarnessState = harnessState({});
  const hooks = { beforeAll: [] as (() => Promise<void>)[], afterAll: [] as (() => Promise<void>)[] };
  const reports: ((since: number) => string | undefined)[] = [];
  const usePeers = createUsePeers({
    beforeAll: (fn) => hooks.beforeAll.push(fn),
    afterAll: (fn) => hooks.afterAll.push(fn),
    onTestFailed: (report) => reports.push(report),
    state: () => state,
    projectRoot: () => '/',
  });
  return {
    state,
    usePeers,
    reports,
    beforeAll: () => Promise.all(hooks.beforeAll.map((fn) => fn())),
    afterAll: () => Promise.all(hooks.afterAll.map((fn) => fn())),
  };
}

const states: HarnessState[] = [];
afterEach(async () => {
  for (const state of states.splice(0)) await stopTrackedClusters(state);
});

describe('usePeers', () => {
  test('a handle that becomes the cluster in beforeAll and refuses use outside its scope', async () => {
    const s = scope();
    states.push(s.state);
    const cluster = s.usePeers(2, { apps: [APP] });

    expect(() => cluster.peers).toThrowError(
      /usePeers\(2\) returns a handle that is provisioned in beforeAll; use it inside a test or a hook, not at collection time/,
    );
    expect(() => cluster.peers).toThrowError(expect.objectContaining({ name: 'ClusterUnavailableError' }));
    // Probing the handle (as runners and printers do) is harmless.
    expect((cluster as any).then).toBeUndefined();
    expect(String(Object.keys(cluster))).toBe('');

    await s.beforeAll();
    expect(cluster).toBeInstanceOf(Cluster);
    expect(cluster.peers).toHaveLength(2);
    expect(await cluster.peer(0).nodes()).toEqual([cluster.peer(1).node]);
    expect(cluster.stop).toBe(cluster.stop);
    expect(s.state.clusters.size).toBe(1);

    const since = Date.now();
    await cluster.peer(0).call('shout', 'in-the-report');
    const report = s.reports[0]!(since);
    expect(report).toContain(`cluster ${cluster.name}: 2 peers`);
    expect(report).toMatch(/\+\d\.\d{3}s {2}peer-1 \| shout: in-the-report/);
    expect(report).toMatch(/peer-1 ! complaint: in-the-report/);

    const name = cluster.name;
    await s.afterAll();
    expect(s.state.clusters.size).toBe(0);
    await waitForNoPeers({ cluster: name, timeout: 3000 });
    expect(() => cluster.peers).toThrowError(/was already stopped by the afterAll/);
    expect(s.reports[0]!(since)).toBeUndefined();
  });

  test('a cluster that fails to start explains itself through the handle', async () => {
    const s = scope();
    states.push(s.state);
    const cluster = s.usePeers(1, { apps: ['./no-such-app.js'] });
    await expect(s.beforeAll()).rejects.toThrowError(/no-such-app/);
    expect(() => cluster.name).toThrowError(/starting it in beforeAll failed/);
    expect(s.state.clusters.size).toBe(0);
  });

  test("the environment's teardown stops what an afterAll never reached", async () => {
    const s = scope();
    const cluster = s.usePeers(2, { apps: [APP] });
    await s.beforeAll();
    const name = cluster.name;
    expect(await stopTrackedClusters(s.state)).toEqual([]);
    expect(s.state.clusters.size).toBe(0);
    await waitForNoPeers({ cluster: name, timeout: 3000 });
  });

  test('a scope that ends while its cluster is starting leaves nothing behind', async () => {
    const s = scope();
    s.usePeers(2, { apps: [APP] });
    const starting = s.beforeAll();
    // The hook timed out: the runner moves on to afterAll and teardown.
    await s.afterAll();
    await stopTrackedClusters(s.state);
    await starting;
    expect(s.state.clusters.size).toBe(0);
  });
});

describe('options', () => {
  test('usePeers options over environment options over defaults; nested objects and env merge', () => {
    const options = resolveClusterOptions({
      count: 4,
      environment: {
        apps: ['./a.js'],
        env: { A: '1', B: '1' },
        heartbeat: { interval: 100 },
        logs: 'silent',
      },
      suite: { env: { B: '2' }, heartbeat: { timeout: 900 }, root: 'sub' },
      projectRoot: '/project',
    });
    expect(options).toEqual({
      count: 4,
      apps: ['./a.js'],
      env: { A: '1', B: '2' },
      heartbeat: { interval: 100, timeout: 900 },
      logs: 'silent',
      root: '/project/sub',
    });
  });

  test('an option given as undefined overrides nothing', () => {
    const options = resolveClusterOptions({
      count: undefined,
      environment: { bootTimeout: 9000, heartbeat: { interval: 100, timeout: 900 }, logs: 'silent' },
      suite: { bootTimeout: undefined, heartbeat: { interval: undefined }, logs: undefined },
      projectRoot: '/p',
    });
    expect(options).toEqual({
      bootTimeout: 9000,
      heartbeat: { interval: 100, timeout: 900 },
      logs: 'silent',
      root: '/p',
    });
  });

  test('apps resolve from the project root unless a root is given', () => {
    expect(
      resolveClusterOptions({ count: undefined, environment: undefined, suite: {}, projectRoot: '/p' }),
    ).toEqual({
      root: '/p',
    });
  });
});

test('a report with no logs and no events still reads', () => {
  const text = formatFailureReport(
    {
      name: 'pc-x',
      peers: [{ name: 'peer-1', state: 'running', node: 'peer-1@127.0.0.1:1', logs: () => [] }],
      timeline: [],
    },
    { since: 0 },
  );
  expect(text).toContain('(no events)');
  // Not "last 0 lines of the peers' output" above it.
  expect(text).toMatch(/\n\nlogs: \(the peers wrote nothing\)$/);
  const one = formatFailureReport(
    {
      name: 'pc-x',
      peers: [{ name: 'peer-1', state: 'running', logs: () => [{ at: 1, stream: 'stdout', line: 'up' }] }],
      timeline: [],
    },
    { since: 0 },
  );
  expect(one).toContain("logs (last 1 line of the peers' output; ! marks stderr):");
});

test("a report folds V8's native stack frames into one line per run, per peer", () => {
  const line = (at: number, text: string) => ({ at, stream: 'stderr', line: text });
  const text = formatFailureReport(
    {
      name: 'pc-x',
      peers: [
        {
          name: 'peer-1',
          state: 'crashed',
          logs: () => [
            line(1, 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'),
            line(2, ' 1: 0xb78db3 node::OOMErrorHandler(char const*, v8::OOMDetails const&) [/usr/bin/node]'),
            line(3, ' 2: 0xee8300 v8::Utils::ReportOOMFailure(v8::internal::Isolate*) [/usr/bin/node]'),
            line(5, '10: 0x195e476  [/usr/bin/node]'),
          ],
        },
        { name: 'peer-2', state: 'running', logs: () => [line(4, ' 7: 0x1 not folded with peer-1')] },
      ],
      timeline: [],
    },
    { since: 0 },
  );
  expect(text).toContain('peer-1 ! FATAL ERROR: Reached heap limit');
  expect(text).toMatch(/peer-1 ! \(3 native stack frames left out\)/);
  expect(text).toMatch(/peer-2 ! \(1 native stack frame left out\)/);
  expect(text).not.toContain('OOMErrorHandler');
});

test('a report names the requests and waits in progress and what each still misses', async () => {
  // Peers whose strategy finds nobody never link: the mesh and a peer's waitForNodes stay pending.
  const cluster = await startCluster({
    count: 2,
    apps: [APP],
    strategy: customStrategy({ discover: () => [] }),
    waitForMesh: false,
  });
  try {
    // peer-2's boot line, which a loaded machine may read only after the boot has resolved.
    await cluster.peer(1).waitForLog('peer-2 listening');
    const since = Date.now();
    const mesh = cluster.waitForMesh({ timeout: 60_000 });
    const nodes = cluster.peer(1).waitForNodes(1, { timeout: 60_000 });
    const evaluated = cluster.peer(0).evaluate(() => new Promise(() => {}), { key: 'k1' });
    const line = cluster.peer(1).waitForLog(/ready/, { timeout: 60_000 });
    for (const pending of [mesh, nodes, evaluated, line]) pending.catch(() => {});
    const text = formatFailureReport(cluster, { since });
    expect(text).toMatch(/waiting for \(awaited by the test process, not settled yet\):\n/);
    expect(text).toMatch(
      /\+\d\.\d{3}s\s+cluster\s+waitForMesh\(\)\s+for \d\.\d{3}s\s+missing links peer-1 → peer-2, peer-2 → peer-1\n/,
    );
    expect(text).toMatch(
      /\+\d\.\d{3}s\s+peer-2\s+waitForNodes\(1\)\s+for \d\.\d{3}s\s+it is linked to \[\]\n/,
    );
    // A request shows its arguments, in short.
    expect(text).toMatch(
      /\+\d\.\d{3}s\s+peer-1\s+evaluate\(\(\) => new Promise\(\(\) => \{\}\), \{"key":"k1"\}\)\s+for /,
    );
    // A wait for a line says how many it has seen.
    expect(text).toMatch(
      /\+\d\.\d{3}s\s+peer-2\s+waitForLog\(\/ready\/\)\s+for \d\.\d{3}s\s+1 line on stdout and stderr, none matched\n/,
    );
    // For a test that began after them, they are what an earlier test left pending, not its cause.
    const later = formatFailureReport(cluster, { since: Date.now() + 1 });
    expect(later).not.toContain('waiting for');
    const pending = later.match(/still pending from before this test began: (.*)\n/)?.[1] ?? '';
    // In the order they began (a millisecond may part them).
    for (const what of [
      'cluster waitForMesh()',
      'peer-1 evaluate(',
      'peer-2 waitForNodes(1)',
      'peer-2 waitForLog(/ready/)',
    ])
      expect(pending).toContain(what);
  } finally {
    await cluster.stop();
  }
  // Settled waits leave the report.
  expect(formatFailureReport(cluster)).not.toContain('waiting for');
});

test('a report says a partition is in force, also one an earlier test made', async () => {
  const cluster = await startCluster({ count: 3, apps: [APP] });
  try {
    const since = Date.now();
    await cluster.partition([0]);
    const during = formatFailureReport(cluster, { since });
    expect(during).toMatch(
      /\npartition in force since \+\d\.\d{3}s: \[peer-1\] \[peer-2, peer-3\] \(in no group\)\n/,
    );
    // A later test's report, whose timeline may no longer show the partition's event.
    const later = formatFailureReport(cluster, { since: Date.now() + 1 });
    expect(later).toMatch(
      /\npartition in force since -\d\.\d{3}s \(made before this test began; cluster\.heal\(\) lifts it\): \[peer-1\] \[peer-2, peer-3\] \(in no group\)\n/,
    );
    await cluster.heal();
    expect(formatFailureReport(cluster)).not.toContain('partition in force');
  } finally {
    await cluster.stop();
  }
});

test('in test scopes (concurrent tests), a report lists what its own test began, not what another still running did', async () => {
  const cluster = await startCluster({ count: 1, apps: [APP] });
  try {
    const peer = cluster.peer(0);
    const pending = (call: Promise<unknown>) => void call.catch(() => {});
    pending(peer.call('stuck', 'before-marker'));
    // The other test began first and still runs.
    let endOther!: () => void;
    let other!: Promise<unknown>;
    const otherRuns = new Promise<void>((began) => {
      other = withTestScope(async () => {
        pending(peer.call('stuck', 'other-marker'));
        began();
        await new Promise<void>((end) => (endOther = end));
      });
    });
    await otherRuns;
    // This test starts after both calls (a clock's millisecond may hold all three).
    const since = Math.max(...peer.inFlight().map((w) => w.since)) + 1;
    let scope: TestScope | undefined;
    await withTestScope(() => {
      scope = currentTestScope();
      pending(peer.waitForNodes(1, { timeout: 60_000 }));
    });
    const text = formatFailureReport(cluster, { since, scope });
    // Its own wait only, whenever it began (here, maybe in the same millisecond as the others).
    expect(text).toMatch(/waiting for .*\n\s+[+-]\d\.\d{3}s\s+peer-1\s+waitForNodes\(1\)\s+for [^\n]*\n\n/);
    expect(text).toContain(
      'still pending from before this test began: peer-1 call("stuck", "before-marker")',
    );
    expect(text).not.toContain('other-marker');
    // Once the other test has ended, what it left pending is named apart.
    endOther();
    await other;
    expect(formatFailureReport(cluster, { since, scope })).toContain(
      'still pending from tests that have ended: peer-1 call("stuck", "other-marker")',
    );
  } finally {
    await cluster.stop();
  }
});

test('createPeersTest names a scope it does not have', async () => {
  const { createPeersTest } = await import('vitest-environment-peer-cluster');
  expect(() => createPeersTest(2, { scope: 'worker' as never })).toThrow(
    expect.objectContaining({
      name: 'InvalidOptionsError',
      option: 'createPeersTest(count, { scope })',
      value: 'worker',
    }),
  );
});

test("a report shows the peers' lines plain: no terminal escapes, no carriage return, notes on lines of their own", async () => {
  const cluster = await startCluster({ count: 2, apps: [APP] });
  try {
    const since = Date.now();
    const [a, b] = cluster.peers as [Cluster['peers'][number], Cluster['peers'][number]];
    await a.evaluate(() => {
      process.stdout.write('\u001b[31mred\u001b[0m progress 10%\rprogress 100%\n');
      process.stdout.write('no trailing newline');
    });
    // a's node notes that it lost its link, after a line that did not end.
    await b.kill();
    await a.waitForNodes(0);
    await expect.poll(() => a.logs().some((l) => l.line.startsWith('[node] '))).toBe(true);
    const lines = a.logs().map((l) => l.line);
    expect(lines).toContain('no trailing newline');
    const text = formatFailureReport(cluster, { since });
    expect(text).toMatch(/peer-1 \| red progress 10%\\u000dprogress 100%\n/);
    expect(text.includes('\u001b') || text.includes('\r')).toBe(false);
  } finally {
    await cluster.stop();
  }
});

test("over its budget, a report's timeline keeps what happened to the peers before the links' echoes", async () => {
  const cluster = await startCluster({ count: 4, apps: [APP] });
  try {
    const since = Date.now();
    for (const peer of cluster.peers.slice(1)) await peer.kill();
    await cluster.peer(0).waitForNodes(0);
    const text = formatFailureReport(cluster, { since, events: 6 });
    const timeline = text.slice(text.indexOf('timeline'), text.indexOf('\nlogs'));
    expect(timeline.match(/\bkill\s+peer-[234]\s+SIGKILL/g)).toHaveLength(3);
    expect(timeline.match(/\bcrash\s+peer-[234]/g)).toHaveLength(3);
    expect(timeline).not.toMatch(/nodedown/);
    expect(timeline).toMatch(/; \d+ events left out to fit, link events first\):/);
  } finally {
    await cluster.stop();
  }
});

test("a report's timeline says which events it leaves out for coming before the test, not for its budget", async () => {
  const cluster = await startCluster({ count: 3, apps: [APP] });
  try {
    const since = Date.now() + 1;
    const text = formatFailureReport(cluster, { since });
    const header = text.slice(text.indexOf('timeline'), text.indexOf('\n', text.indexOf('timeline')));
    // Spawns, readies, nodeups and the mesh happened before the test: only the last 5 are context.
    const earlier = cluster.timeline.length - 5;
    expect(header).toBe(
      `timeline (time relative to the test's start; ${earlier} events before these not shown):`,
    );
  } finally {
    await cluster.stop();
  }
});
