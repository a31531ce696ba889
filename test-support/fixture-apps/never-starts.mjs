// An app whose start never finishes, so its cluster stays booting. It says first that its peer
// exists (a file in E2E_OUT, which the test passes in `env`), so the test knows when to strike.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function start(ctx) {
  const record = { cluster: process.env.PEER_CLUSTER, pid: process.pid };
  writeFileSync(join(ctx.env.E2E_OUT, `booting-${ctx.name}.json`), JSON.stringify(record));
  return new Promise(() => {});
}
