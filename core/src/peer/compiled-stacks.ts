// Stacks of TypeScript apps as their `.ts` lines. A peer runs a TypeScript app compiled into the
// cache (typescript.ts), each file with an inline source map. Node maps stacks through those only
// under `--enable-source-maps`, which costs a peer that loads a compiled app ≈8 ms of boot (it then
// reads the source map of every module loaded after). The stacks that leave the peer (a handler's
// error, a failed start, evaluated code's throw) are mapped here instead, as they are serialized:
// nothing is read until a stack holds a frame of a compiled file.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Where a compiled file is: `<cache>/peer-cluster/<name>-<16 hex>.mjs` (see typescript.ts). */
const CACHE = '/.cache/peer-cluster/';
const FRAME = /((?:file:\/\/)?\/[^\s()]*\/\.cache\/peer-cluster\/[^\s()/]+-[0-9a-f]{16}\.mjs):(\d+):(\d+)/g;
const INLINE = '//# sourceMappingURL=data:application/json;base64,';

/** Each compiled file's map, or undefined for one without (or that could not be read). */
const maps = new Map<string, SourceMap | undefined>();

function mapOf(location: string): SourceMap | undefined {
  if (maps.has(location)) return maps.get(location);
  let map: SourceMap | undefined;
  try {
    const text = readFileSync(location.startsWith('file:') ? fileURLToPath(location) : location, 'utf8');
    const at = text.lastIndexOf(INLINE);
    if (at !== -1) {
      const json = Buffer.from(text.slice(at + INLINE.length).trim(), 'base64').toString('utf8');
      map = new SourceMap(JSON.parse(json));
    }
  } catch {
    map = undefined;
  }
  maps.set(location, map);
  return map;
}

/**
 * `stack` with each frame in a compiled TypeScript file pointing at its source's line and column
 * instead (as a file URL or a path, as the frame had it). Frames it cannot map are left as they are.
 */
export function mapCompiledStack(stack: string): string {
  if (!stack.includes(CACHE)) return stack;
  return stack.replace(FRAME, (frame, location: string, line: string, column: string) => {
    const entry = mapOf(location)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry)) return frame;
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : entry.originalSource;
    const where = location.startsWith('file:') ? pathToFileURL(source).href : source;
    return `${where}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

/** The first line of an uncaught error's report on stderr: where it was thrown, without a column. */
const THROWN_AT = /^((?:file:\/\/)?\/[^\s()]*\/\.cache\/peer-cluster\/[^\s()/]+-[0-9a-f]{16}\.mjs):(\d+)$/;

/**
 * A line a peer printed (an uncaught error's report on its stderr, a stack it logged) with the
 * places in compiled TypeScript files pointing at their sources, as `mapCompiledStack` does, and
 * also the `file:…mjs:13` line that heads Node's report of an uncaught error.
 */
export function mapCompiledLine(line: string): string {
  if (!line.includes(CACHE)) return line;
  const at = THROWN_AT.exec(line);
  if (!at) return mapCompiledStack(line);
  const [, location, generated] = at as unknown as [string, string, string];
  // No column: the line's last mapping, if it has one, names the source's line.
  const entry = mapOf(location)?.findEntry(Number(generated) - 1, Number.MAX_SAFE_INTEGER);
  if (!entry || !('originalSource' in entry) || entry.generatedLine !== Number(generated) - 1) return line;
  const source = entry.originalSource.startsWith('file:')
    ? fileURLToPath(entry.originalSource)
    : entry.originalSource;
  return `${location.startsWith('file:') ? pathToFileURL(source).href : source}:${entry.originalLine + 1}`;
}
