import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { killWhenTestEnds } from '../../test-support/children.js';
import { npmEnv, pack, REPO } from '../../test-support/pack.js';

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
  // typesVersions), and the published declarations check without skipLibCheck: every type they
  // import comes with the package. consumer-types.ts uses them as a project with
  // exactOptionalPropertyTypes does.
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  for (const [resolution, module] of [
    ['node10', 'commonjs'],
    ['node16', 'node16'],
    ['bundler', 'esnext'],
  ]) {
    const args = [
      '--noEmit',
      '--strict',
      '--target',
      'es2022',
      '--moduleResolution',
      resolution!,
      '--module',
      module!,
      '--exactOptionalPropertyTypes',
    ];
    // No time limit of its own (a strict tsc over @types/node takes tens of seconds on a loaded
    // machine): the test's timeout bounds it, and it is killed if still running when the test ends.
    const tscRun = run(process.execPath, [tsc, ...args, 'ts-app.ts', 'consumer-types.ts'], { cwd: project });
    killWhenTestEnds(tscRun.child);
    await tscRun.catch((error) => {
      throw new Error(`tsc with moduleResolution ${resolution}: ${error.stdout}`);
    });
  }
  const help = await run(join(project, 'node_modules', '.bin', 'peer-cluster'), ['--help'], {
    timeout: 30_000,
  });
  expect(help.stdout).toContain('Usage: peer-cluster <command>');
}, 480_000);

it('every published package ships its README and the LICENSE its package.json names', async () => {
  const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] };
  const published = root.workspaces
    .filter((workspace) => !workspace.includes('*'))
    .filter((workspace) => !JSON.parse(readFileSync(join(REPO, workspace, 'package.json'), 'utf8')).private);
  expect(published).toContain('core');
  const license = readFileSync(join(REPO, 'LICENSE'), 'utf8');
  for (const workspace of published) {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: join(REPO, workspace),
      env: npmEnv(),
      timeout: 60_000,
    });
    const [packed] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const files = packed!.files.map((file) => file.path);
    expect(files, workspace).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    expect(JSON.parse(readFileSync(join(REPO, workspace, 'package.json'), 'utf8')).license, workspace).toBe(
      'MIT',
    );
    expect(readFileSync(join(REPO, workspace, 'LICENSE'), 'utf8'), workspace).toBe(license);
    // Stack traces and "go to definition" follow the source maps: what they point at is shipped.
    const maps = files.filter((file) => file.endsWith('.map'));
    expect(maps.length, workspace).toBeGreaterThan(0);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(REPO, workspace, map), 'utf8')) as {
        sources: string[];
      };
      for (const source of sources)
        expect(files, `${workspace}/${map}`).toContain(posix.join(posix.dirname(map), source));
    }
  }
}, 120_000);
