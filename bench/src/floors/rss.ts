// Resident memory of a process as the kernel counts it (VmRSS), in MiB.
import { readFile } from 'node:fs/promises';

export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status (is the process a zombie?)`);
  return Number(kib) / 1024;
}
