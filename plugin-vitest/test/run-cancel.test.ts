// Vitest cancels a run (--bail here; Ctrl-C or a key in its interactive terminal UI) by telling its
// workers, and lets a beforeAll that is running finish. usePeers' beforeAll listens for that
// (onRunCancelled) and stops a cluster still booting, so the run ends with the failure rather than
// at the boot timeout, and no peer of that cluster outlives it.
import { expect, test } from 'vitest';
import { waitForRecords } from '../../test-support/fixture-project.js';
import { waitForNoPeers } from '../../test-support/procs.js';
import { VITEST_BIN, vitestProject } from './project.js';

/** Far under the booting file's boot timeout (300 s): the run ends with the bail, not with it. */
const PROMPTLY = 15_000;

test('--bail stops a cluster whose beforeAll is booting it: the run ends at once, its peers gone', {
  timeout: 240_000,
}, async () => {
  const project = await vitestProject();
  const out = project.outDir('cancel');
  // bail/booting.spec.ts boots a cluster that never comes up (300 s boot timeout), and
  // cancel/bails.spec.ts fails once its peers exist.
  const cli = project.start([VITEST_BIN, 'run', '--bail=1', 'bail/booting.spec', 'cancel/bails.spec'], {
    env: { E2E_SUITE: '{bail,cancel}', E2E_OUT: out },
  });
  // Both peers exist (their apps never finish starting); the other file fails now.
  const booting = await waitForRecords<{ cluster: string }>(out, ['booting-peer-1', 'booting-peer-2'], cli);
  const cluster = booting[0]!.cluster;
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    cli.done,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), PROMPTLY);
    }),
  ]);
  clearTimeout(timer);
  expect(
    result,
    `The run was still going ${PROMPTLY} ms after --bail. Output:\n${cli.output()}`,
  ).toBeDefined();
  expect(result!.code, result!.output).toBe(1);
  // The cancellation stopped the boot (not the worker's exit, nor the boot timeout).
  expect(result!.output).toMatch(
    /PeerBootError: Peer peer-[12] failed to boot in app \.\/never-starts\.mjs: it was stopped while booting/,
  );
  await waitForNoPeers({ cluster, timeout: 3000 });
});
