// A release of Node.js other than the one running the tests, for the runners that need another
// (Vitest 5 needs Node 22): Node's release binary as the `node-<os>-<arch>` packages on npm carry it
// (they are what the `node` package installs), fetched from the npm registry once and kept under
// `.e2e/`.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installOnce } from './fixture-project.js';
import { E2E_DIR, npmEnv, useAndPrune } from './pack.js';

const run = promisify(execFile);

/** The npm package holding this machine's build of Node, or undefined where npm has none. */
function releasePackage(): string | undefined {
  const os = { linux: 'linux', darwin: 'darwin' }[process.platform as string];
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch as string];
  return os && arch ? `node-${os}-${arch}` : undefined;
}

/**
 * Releases of the long-term-support lines in use (November 2026: 24 in maintenance, 26 active)
 * that the end-to-end tests also run on, beside the Node that runs them.
 */
export const NODE_LTS_RELEASES = ['24.21.0', '26.10.0'];

/** Whether nodeRelease can fetch a Node for this machine. */
export const NODE_RELEASES = releasePackage() !== undefined;

/** The path of the `node` binary of release `version` (`'22.12.0'`), fetched on first use. */
export async function nodeRelease(version: string): Promise<string> {
  const pkg = releasePackage();
  if (!pkg) throw new Error(`npm publishes no Node.js binary for ${process.platform}-${process.arch}`);
  const dir = join(E2E_DIR, `${pkg}-${version}`);
  await installOnce(dir, async (into) => {
    const { stdout } = await run(
      'npm',
      ['pack', `${pkg}@${version}`, '--silent', '--prefer-offline', '--pack-destination', into],
      { cwd: into, env: npmEnv(), timeout: 300_000 },
    );
    const tarball = join(into, stdout.trim().split('\n').pop()!);
    // Only the binary: the headers and docs beside it are not needed.
    await run('tar', ['xzf', tarball, '-C', into, 'package/bin/node'], { timeout: 120_000 });
    rmSync(tarball);
  });
  // Releases no test asked for in 12 hours go (each is 110–150 MB).
  useAndPrune(dir, new RegExp(`^${pkg}-\\d+\\.\\d+\\.\\d+$`));
  const node = join(dir, 'package', 'bin', 'node');
  if (!existsSync(node)) throw new Error(`${pkg}@${version} has no bin/node (looked in ${dir})`);
  return node;
}
