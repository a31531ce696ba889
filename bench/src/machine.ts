// What the figures were measured on, for the JSON and the table's header.
import os from 'node:os';

export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const mem = (os.totalmem() / 2 ** 30).toFixed(1);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${model}, ${mem} GiB, load ${load}`;
}
