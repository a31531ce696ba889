// ts-app-boot: the boot of one peer whose app is TypeScript, against the same app as JavaScript.
// Cold, honestly: every sample runs in a fresh process (ts-boot-driver) on a copy of the app with
// new content in a new temporary directory, so the compile cache (node_modules/.cache beside the
// app) is empty and esbuild starts from nothing. That is the price of a run's first TypeScript
// peer; later peers of the same app reuse the build.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figure } from '../figure.js';
import { clusterName } from '../names.js';
import { fixture } from '../paths.js';

const DRIVER = fileURLToPath(new URL('../ts-boot-driver.js', import.meta.url));

async function bootOnce(source: string, ext: 'ts' | 'js'): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'peer-cluster-bench-'));
  try {
    // A fresh directory and a nonce: no cache from a previous sample can match.
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
    const app = join(dir, `app.${ext}`);
    await writeFile(app, `${source}// ${randomBytes(8).toString('hex')}\n`);
    const driver: ChildProcess = fork(DRIVER, [app, clusterName('tsboot')], {
      cwd: dir,
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exit = once(driver, 'exit');
    const early = exit.then(([code]) => {
      throw new Error(`ts-boot-driver exited with code ${code} before reporting (app.${ext})`);
    });
    early.catch(() => {});
    const [{ ms }] = (await Promise.race([once(driver, 'message'), early])) as [{ ms: number }];
    await exit;
    return ms;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function tsAppBoot(options: { goal: number; runs: number }): Figure<{ ts: string; js: string }> {
  return {
    name: 'ts-app-boot',
    unit: 'ms',
    what: 'boot of one peer whose app is .ts, in a fresh process with an empty compile cache',
    floorWhat: 'the same boot with the same app as .js',
    goal: options.goal,
    runs: options.runs,
    setup: async () => ({
      ts: await readFile(fixture('app.ts'), 'utf8'),
      js: await readFile(fixture('app.js'), 'utf8'),
    }),
    value: (apps) => bootOnce(apps.ts, 'ts'),
    floor: (apps) => bootOnce(apps.js, 'js'),
  };
}
