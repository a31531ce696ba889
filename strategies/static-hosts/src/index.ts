/**
 * `staticHosts` — a fixed list of nodes, or a hosts file re-read on every refresh (like Erlang's
 * `.hosts.erlang`), so nodes can be added or removed without restarting anything.
 *
 * Options (one of):
 * - `string[]` — entries `name@host:port` or `host:port` (IPv6 in brackets: `[::1]:4000`); the name,
 *   when given, is confirmed in the link handshake.
 * - `{ file }` — a path (relative to the current directory when the strategy is created) to a file
 *   with one entry per line; `#` starts a comment, blank lines are ignored. A missing file or a bad
 *   line fails that refresh (the healer reports it and tries again on the next one).
 *
 * Bad entries throw `InvalidOptionsError` naming the entry (and, for a file, the file and line).
 * The node's own address may be listed: it is left out of what the node discovers.
 *
 * @example
 * import { startNode } from '@peer-cluster/core';
 * import { staticHosts } from '@peer-cluster/strategy-static-hosts';
 *
 * await startNode({ name: 'a', cookie, port: 4001, strategy: staticHosts(['b@127.0.0.1:4002', '127.0.0.1:4003']) });
 * await startNode({ name: 'b', cookie, port: 4002, strategy: staticHosts({ file: './cluster.hosts' }) });
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  InvalidOptionsError,
  parseAddress,
  portableStrategy,
  type Strategy,
  type StrategyContext,
} from '@peer-cluster/core/peer';

export type StaticHostsOptions = string[] | { file: string };

export function staticHosts(hosts: StaticHostsOptions): Strategy {
  if (Array.isArray(hosts)) {
    const entries = hosts.map((entry, i) => checkEntry(entry, `staticHosts[${i}]`));
    checkNames(entries, (i) => `staticHosts[${i}]`);
    return portableStrategy({
      name: 'static-hosts',
      spec: { module: import.meta.url, export: 'staticHosts', options: [...hosts] },
      discover: (ctx) => withoutSelf(ctx, entries),
    });
  }
  if (typeof hosts !== 'object' || hosts === null || typeof hosts.file !== 'string' || hosts.file === '') {
    throw new InvalidOptionsError(
      'staticHosts',
      hosts,
      'expected an array of "name@host:port" / "host:port" entries or { file: path }',
    );
  }
  for (const key of Object.keys(hosts))
    if (key !== 'file')
      throw new InvalidOptionsError(
        `staticHosts.${key}`,
        (hosts as Record<string, unknown>)[key],
        'unknown option: give an array of entries, or { file }',
      );
  // Resolved now, so a peer with another working directory reads the same file.
  const file = resolve(hosts.file);
  return portableStrategy({
    name: 'static-hosts',
    spec: { module: import.meta.url, export: 'staticHosts', options: { file } },
    async discover(ctx) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        // A failed refresh (the healer's `error` event), not a crash: the file may appear later.
        const { code, message } = error as NodeJS.ErrnoException;
        throw new InvalidOptionsError(
          'staticHosts.file',
          file,
          code === 'ENOENT' ? 'no such file' : `cannot be read (${message})`,
          'Each refresh re-reads it: write one "name@host:port" or "host:port" per line.',
          { cause: error },
        );
      }
      return withoutSelf(ctx, parseHostsFile(text, file));
    },
  });
}

/** Parses a hosts file's text: one entry per line, `#` comments, blank lines ignored. */
export function parseHostsFile(text: string, file = 'hosts file'): string[] {
  const entries: string[] = [];
  const lines: number[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    try {
      parseAddress(line, 'staticHosts.file');
    } catch (error) {
      const problem = error instanceof InvalidOptionsError ? error.problem : String(error);
      throw new InvalidOptionsError('staticHosts.file', line, `line ${i + 1} of ${file}: ${problem}`);
    }
    entries.push(line);
    lines.push(i + 1);
  }
  checkNames(entries, (i) => `staticHosts.file (line ${lines[i]} of ${file})`);
  return entries;
}

/**
 * One name per endpoint: `a@127.0.0.1:4000` and `b@127.0.0.1:4000` (or a named and an unnamed
 * entry for it) cannot both hold, and which one the healer checked would depend on their order.
 */
function checkNames(entries: string[], where: (i: number) => string): void {
  const seen = new Map<string, { name: string | undefined; entry: string }>();
  entries.forEach((entry, i) => {
    const { name, host, port } = parseAddress(entry);
    const endpoint = `${host}:${port}`;
    const before = seen.get(endpoint);
    if (before === undefined) seen.set(endpoint, { name, entry });
    else if (before.name !== name)
      throw new InvalidOptionsError(
        where(i),
        entry,
        `names the node at ${endpoint} otherwise than "${before.entry}" does`,
        'List each node once.',
      );
  });
}

function checkEntry(entry: unknown, option: string): string {
  const text = typeof entry === 'string' ? entry.trim() : entry;
  // Core's own parser: the same rules as every other address a strategy gives.
  parseAddress(text as string, option);
  return text as string;
}

function withoutSelf(ctx: StrategyContext, entries: string[]): string[] {
  const self = `${ctx.self.host}:${ctx.self.port}`;
  const unique = new Set<string>();
  for (const entry of entries) {
    const { host, port } = parseAddress(entry);
    if (`${host}:${port}` !== self) unique.add(entry);
  }
  return [...unique];
}
