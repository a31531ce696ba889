// An app whose start never finishes, so its cluster stays booting. It says first that its peer
// exists (a file in E2E_OUT, which the test passes in `env`), so the test knows when to strike.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function start(ctx) {
  const record = { cluster: process.env.PEER_CLUSTER, pid: process.pid };
  // Whole or not at all (written aside, then renamed): the test strikes once the file exists, and a
  // peer killed mid-write would otherwise leave an empty one (seen once under load).
  const file = join(ctx.env.E2E_OUT, `booting-${ctx.name}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(record));
  renameSync(`${file}.tmp`, file);
  return new Promise(() => {});
}
