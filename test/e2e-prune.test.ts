// The e2e packs and fixture installs of earlier content do not pile up in .e2e/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { useAndPrune } from '../test-support/pack.js';

const root = mkdtempSync(join(tmpdir(), 'peer-cluster-prune-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('a run marks its install used and removes installs of other content unused for 12 hours', () => {
  const made = (name: string, hoursAgo: number) => {
    const dir = join(root, name);
    mkdirSync(dir);
    const at = (Date.now() - hoursAgo * 3600_000) / 1000;
    utimesSync(dir, at, at);
    return dir;
  };
  const current = made('plugin-jest-project-aaaaaaaaaaaa', 48);
  const old = made('plugin-jest-project-bbbbbbbbbbbb', 13);
  const recent = made('plugin-jest-project-cccccccccccc', 1);
  const otherKind = made('plugin-vitest-project-dddddddddddd', 48);
  const inProgress = made('plugin-jest-project-eeeeeeeeeeee-tmp-x1', 48);

  useAndPrune(current, /^plugin-jest-project-[0-9a-f]{12}$/);

  expect(existsSync(current)).toBe(true);
  expect(existsSync(old)).toBe(false);
  expect(existsSync(recent)).toBe(true);
  expect(existsSync(otherKind)).toBe(true);
  expect(existsSync(inProgress)).toBe(true);
  // Used now: a later run of other content keeps it.
  useAndPrune(recent, /^plugin-jest-project-[0-9a-f]{12}$/);
  expect(existsSync(current)).toBe(true);
});
