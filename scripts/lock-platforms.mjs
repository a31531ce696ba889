// Completes package-lock.json with the optional, platform-specific packages that the registry this
// project is installed from does not serve (it mirrors only Linux builds of @biomejs/cli-* and
// @unrs/resolver-binding-*). npm leaves them out of the lock when it cannot fetch them, and then
// `npm ci` refuses the lock as out of sync. Each stub names its os/cpu/libc, so `npm ci` skips it
// on this platform exactly as it would skip the real package. Run after `npm install` changes
// the lock: `node scripts/lock-platforms.mjs`; `--check` (part of `npm run lint`) only says whether
// any stub is missing.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const OS = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'openharmony',
  'win32',
  'sunos',
  'aix',
  'netbsd',
  'openbsd',
];
const added = [];

for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key] || lock.packages[`${location}/${key}`]) continue;
    const parts = name.split('/').pop().split('-');
    const at = parts.findIndex((p) => OS.includes(p));
    if (at < 0) continue;
    const [os, cpu, ...rest] = parts.slice(at);
    const libc = rest.some((r) => r.startsWith('musl'))
      ? 'musl'
      : rest.some((r) => r.startsWith('gnu'))
        ? 'glibc'
        : undefined;
    lock.packages[key] = {
      version,
      cpu: [cpu],
      ...(entry.dev && { dev: true }),
      ...(libc && { libc: [libc] }),
      optional: true,
      os: [os],
    };
    added.push(`${name}@${version}`);
  }
}
if (process.argv.includes('--check')) {
  if (added.length) {
    console.error(
      `package-lock.json lacks ${added.length} platform packages; run node scripts/lock-platforms.mjs`,
    );
    process.exit(1);
  }
  process.exit(0);
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  added.length ? `added ${added.length} platform stubs: ${added.join(', ')}` : 'the lock is complete',
);
