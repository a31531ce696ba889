// Runs that never get to their afterAll (the runner's main process interrupted or killed, a worker
// killed, --bail) or get there the hard way (a test timeout, apps that ignore SIGTERM and start
// children of their own). Whatever happens to the runner, no peer and no child of a peer's app
// survives it by more than 3 seconds. The same cases for Vitest and Jest, each on its own fixture
// project (suites `abort`, `timeout`, `bail`).
import { beforeAll, expect, test } from 'vitest';
import { type FixtureProject, waitForRecords } from './fixture-project.js';
import { waitForNoPeers } from './procs.js';

interface Held {
  cluster: string;
  workerPid: number;
}

export interface AbortedRunsOptions {
  runner: string;
  project(): Promise<FixtureProject>;
  /** The CLI as `node` arguments. */
  command: string[];
  bail: string;
}

export function abortedRunTests({ runner, project: install, command, bail }: AbortedRunsOptions): void {
  let project: FixtureProject;
  beforeAll(async () => {
    project = await install();
  }, 240_000);

  async function holdPeers(label: string) {
    const out = project.outDir(label);
    const cli = project.start(command, { env: { E2E_SUITE: 'abort', E2E_OUT: out } });
    const held = await waitForRecords<Held>(out, ['hang-a', 'hang-b'], cli);
    return { cli, held };
  }

  const expectNoPeers = (held: Held[]) =>
    Promise.all(held.map((h) => waitForNoPeers({ cluster: h.cluster, timeout: 3000 })));

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    test(`${signal} to the ${runner} main process`, { timeout: 120_000 }, async () => {
      const { cli, held } = await holdPeers(signal.toLowerCase());
      process.kill(cli.child.pid!, signal);
      await expectNoPeers(held);
    });
  }

  // The peers exist, but startCluster has not resolved: nothing tracks them as a cluster yet.
  test(`SIGKILL to the ${runner} main process while a cluster boots`, { timeout: 120_000 }, async () => {
    const out = project.outDir('booting');
    const cli = project.start(command, { env: { E2E_SUITE: 'booting', E2E_OUT: out } });
    const booting = await waitForRecords<{ cluster: string; pid: number }>(
      out,
      ['booting-peer-1', 'booting-peer-2'],
      cli,
    );
    process.kill(cli.child.pid!, 'SIGKILL');
    // Gone at once, not after their 120 s boot timeout.
    await waitForNoPeers({ cluster: booting[0]!.cluster, timeout: 3000 });
  });

  test('SIGKILL to a worker', { timeout: 120_000 }, async () => {
    const { cli, held } = await holdPeers('sigkill-worker');
    const [victim, other] = held as [Held, Held];
    expect(victim.workerPid).not.toBe(other.workerPid);
    process.kill(victim.workerPid, 'SIGKILL');
    await waitForNoPeers({ cluster: victim.cluster, timeout: 3000 });
    // The other file's peers go with the runner.
    cli.killGroup();
    await expectNoPeers(held);
  });

  test('a test timeout, with apps that ignore SIGTERM and start children of their own', {
    timeout: 120_000,
  }, async () => {
    const out = project.outDir('timeout');
    const cli = project.start(command, { env: { E2E_SUITE: 'timeout', E2E_OUT: out } });
    const [held] = await waitForRecords<Held & { children: number[] }>(out, ['timeout'], cli);
    expect(held!.children).toHaveLength(2);
    const result = await cli.done;
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/timed out|Exceeded timeout/i);
    await expectNoPeers([held!]);
  });

  // One other file holds its cluster, another is still booting it (for 300 s at most): the run
  // ends with the failure, without waiting for that boot.
  test('--bail with other files in flight', { timeout: 120_000 }, async () => {
    const out = project.outDir('bail');
    const cli = project.start([...command, bail], { env: { E2E_SUITE: 'bail', E2E_OUT: out } });
    const [held, booting] = await waitForRecords<Held>(out, ['bail-hang', 'booting-peer-1'], cli);
    const result = await cli.done;
    expect(result.code).not.toBe(0);
    await expectNoPeers([held!, booting!]);
  });
}
