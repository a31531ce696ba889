// The plugins' "Copy-paste example" sections, pasted into a fresh project that installs the packed
// packages and run with the real CLI: what a user copies must pass as it stands. (Leaked peers
// would be orphans of this run, which the global teardown fails on.)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureProject, JEST_BIN, VITEST_BIN } from '../test-support/fixture-project.js';
import type { PackageName } from '../test-support/pack.js';
import { E2E_DIR, REPO } from '../test-support/pack.js';

/** The files of a README's copy-paste example: each code block there opens with `// <path>`. */
function copyPasteExample(readme: string): Record<string, string> {
  const text = readFileSync(join(REPO, readme), 'utf8');
  const section = /## Copy-paste example\n([\s\S]*?)\n## /.exec(text)![1]!;
  const files: Record<string, string> = {};
  for (const [, body] of section.matchAll(/```\w*\n([\s\S]*?)```/g)) {
    const path = /^\/\/ (\S+)/.exec(body!)?.[1];
    if (path) files[path] = body!;
  }
  return files;
}

async function projectFrom(label: string, files: Record<string, string>, packages: PackageName[]) {
  const source = join(E2E_DIR, 'readme-src', label);
  rmSync(source, { recursive: true, force: true });
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(dirname(join(source, path)), { recursive: true });
    writeFileSync(join(source, path), body);
  }
  return fixtureProject(source, packages);
}

const CORE: PackageName[] = ['@peer-cluster/core', '@peer-cluster/strategy-local-registry'];

describe("the plugins' copy-paste examples", () => {
  it('vitest-environment-peer-cluster', { timeout: 240_000 }, async () => {
    const files = copyPasteExample('plugin-vitest/README.md');
    expect(Object.keys(files).sort()).toEqual(['src/app.js', 'test/cluster.test.ts', 'vitest.config.ts']);
    const project = await projectFrom('vitest', files, [...CORE, 'vitest-environment-peer-cluster']);
    const result = await project.run([VITEST_BIN, 'run']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/2 passed/);
  });

  it('jest-environment-peer-cluster', { timeout: 240_000 }, async () => {
    const files = copyPasteExample('plugin-jest/README.md');
    expect(Object.keys(files).sort()).toEqual(['jest.config.cjs', 'src/app.mjs', 'test/cluster.test.js']);
    const project = await projectFrom('jest', files, [...CORE, 'jest-environment-peer-cluster']);
    const result = await project.run([JEST_BIN]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/Tests:\s+2 passed/);
  });
});
