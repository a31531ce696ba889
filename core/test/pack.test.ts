import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { npmEnv, pack } from '../../test-support/pack.js';

const run = promisify(execFile);
// Outside the repository, so nothing can resolve from the workspace's node_modules: what the
// tarballs declare is all the project gets.
const project = mkdtempSync(join(tmpdir(), 'peer-cluster-packed-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

it('the packed core installs into an empty project and runs a cluster of a .js and a .ts app', async () => {
  const { tarballs } = await pack();
  cpSync(fileURLToPath(new URL('./fixtures/packed/', import.meta.url)), project, { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'packed-smoke',
      private: true,
      type: 'module',
      dependencies: {
        '@peer-cluster/core': `file:${tarballs['@peer-cluster/core']}`,
      },
    }),
  );
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: project,
    env: npmEnv(),
    timeout: 180_000,
  });
  const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: project, timeout: 60_000 });
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  expect(result.reply).toBe('hello packed from peer-1');
  expect(result.remote).toBe('peer-2');
  expect(result.nodes).toHaveLength(1);
  expect(result.down).toBe('NodeDownError');
  // The subpaths' types resolve under each moduleResolution a project may have (node10 through
  // typesVersions).
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  for (const [resolution, module] of [
    ['node10', 'commonjs'],
    ['node16', 'node16'],
    ['bundler', 'esnext'],
  ]) {
    const args = [
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--target',
      'es2022',
      '--moduleResolution',
      resolution!,
      '--module',
      module!,
    ];
    await run(process.execPath, [tsc, ...args, 'ts-app.ts'], {
      cwd: project,
      timeout: 60_000,
    }).catch((error) => {
      throw new Error(`tsc with moduleResolution ${resolution}: ${error.stdout}`);
    });
  }
  const help = await run(join(project, 'node_modules', '.bin', 'peer-cluster'), ['--help'], {
    timeout: 30_000,
  });
  expect(help.stdout).toContain('Usage: peer-cluster <command>');
}, 240_000);
