// Runs that never get to their afterAll: the jest main process interrupted or killed, a worker
// killed, --bail. Whatever happens to the runner, no peer survives it by more than 3 seconds.
import { beforeAll, expect, test } from 'vitest';
import { type FixtureProject, waitForRecords } from '../../test-support/fixture-project.js';
import { waitForNoPeers } from '../../test-support/procs.js';
import { JEST, jestProject } from './project.js';

interface Held {
  cluster: string;
  workerPid: number;
}

let project: FixtureProject;
beforeAll(async () => {
  project = await jestProject();
}, 240_000);

async function holdPeers(label: string) {
  const out = project.outDir(label);
  const cli = project.start([...JEST], { env: { E2E_SUITE: 'abort', E2E_OUT: out } });
  const held = await waitForRecords<Held>(out, ['hang-a', 'hang-b'], cli);
  return { cli, held };
}

async function expectNoPeers(held: Held[]) {
  await Promise.all(held.map((h) => waitForNoPeers({ cluster: h.cluster, timeout: 3000 })));
}

test('SIGINT to the jest main process', { timeout: 120_000 }, async () => {
  const { cli, held } = await holdPeers('sigint');
  try {
    process.kill(cli.child.pid!, 'SIGINT');
    await expectNoPeers(held);
  } finally {
    cli.killGroup();
  }
});

test('SIGKILL to the jest main process', { timeout: 120_000 }, async () => {
  const { cli, held } = await holdPeers('sigkill-main');
  try {
    process.kill(cli.child.pid!, 'SIGKILL');
    await expectNoPeers(held);
  } finally {
    cli.killGroup();
  }
});

test('SIGKILL to a worker', { timeout: 120_000 }, async () => {
  const { cli, held } = await holdPeers('sigkill-worker');
  try {
    const [victim, other] = held as [Held, Held];
    expect(victim.workerPid).not.toBe(other.workerPid);
    process.kill(victim.workerPid, 'SIGKILL');
    await waitForNoPeers({ cluster: victim.cluster, timeout: 3000 });
  } finally {
    cli.killGroup();
  }
  await expectNoPeers(held);
});

test('--bail with another file in flight', { timeout: 120_000 }, async () => {
  const out = project.outDir('bail');
  const cli = project.start([...JEST, '--bail'], { env: { E2E_SUITE: 'bail', E2E_OUT: out } });
  try {
    const [held] = await waitForRecords<Held>(out, ['bail-hang'], cli);
    const result = await cli.done;
    expect(result.code).not.toBe(0);
    await expectNoPeers([held!]);
  } finally {
    cli.killGroup();
  }
});
