// Watch mode, the way most people run their tests while they work: each run of the suite gets a
// meshed cluster of its own, the cluster of a run is stopped when that run ends (not when the
// runner exits), and the runner quits on Ctrl-C. The same test for Vitest and Jest,
// each on its own fixture project (suite `watch`, which records its cluster under `watch-<round>`;
// rewriting `watch/round.json` makes the runner run it again).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { type ClusterRecord, type FixtureProject, waitForRecords } from './fixture-project.js';
import { waitForNoPeers } from './procs.js';

export interface WatchModeOptions {
  runner: string;
  project(): Promise<FixtureProject>;
  /** The CLI in watch mode, as `node` arguments. */
  command: string[];
  /**
   * The record that says run `n` has ended, if the runner drops a change made before that: Jest
   * does (a change seen while `isRunning` starts no run), Vitest queues it until its run ends.
   */
  runEnd?: (n: number) => string;
}

export function watchModeTests({ runner, project: install, command, runEnd }: WatchModeOptions): void {
  let project: FixtureProject;
  beforeAll(async () => {
    project = await install();
  }, 240_000);

  test(`${runner} watch mode: a cluster per run, stopped when its run ends`, {
    timeout: 120_000,
  }, async () => {
    const roundFile = join(project.dir, 'watch', 'round.json');
    const setRound = (round: number) => writeFileSync(roundFile, `${JSON.stringify({ round })}\n`);
    // The install is shared by later runs of this test: start from the first round.
    setRound(1);
    const out = project.outDir('watch');
    const cli = project.start(command, { env: { E2E_SUITE: 'watch', E2E_OUT: out } });
    const expectMeshed = (run: ClusterRecord) => {
      expect(run.links, cli.output()).toEqual([[run.nodeIds[1]], [run.nodeIds[0]]]);
    };
    const [first] = await waitForRecords<ClusterRecord>(out, ['watch-1'], cli);
    expectMeshed(first!);
    // The run is over, the runner waits for changes: the run's cluster is gone already.
    await waitForNoPeers({ cluster: first!.cluster, timeout: 10_000 });
    expect(cli.child.exitCode, cli.output()).toBeNull();
    if (runEnd) await waitForRecords(out, [runEnd(1)], cli);

    setRound(2);
    const [second] = await waitForRecords<ClusterRecord>(out, ['watch-2'], cli);
    expectMeshed(second!);
    expect(second!.cluster).not.toBe(first!.cluster);
    await waitForNoPeers({ cluster: second!.cluster, timeout: 10_000 });

    // Ctrl-C in a terminal: SIGINT to the runner's whole process group.
    process.kill(-cli.child.pid!, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      cli.done.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), 15_000);
      }),
    ]);
    clearTimeout(timer);
    // (Its clusters were gone already; SIGINT during a run is in aborted-runs.ts.)
    expect(exited, `${runner} did not exit within 15 s of SIGINT. Output:\n${cli.output()}`).toBe(true);
  });
}
