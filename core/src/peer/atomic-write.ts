// Cache files (runtime bundles, TypeScript builds) are written by many test processes at once:
// each writes a temporary file and renames it into place, so no one ever reads half a file.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeAtomically(target: string, text: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, text);
  await rename(temp, target);
}
