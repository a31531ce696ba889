import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StrategyContext } from '@peer-cluster/core';
import { InvalidOptionsError } from '@peer-cluster/core';
import { parseHostsFile, staticHosts } from '@peer-cluster/strategy-static-hosts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

function context(host = '127.0.0.1', port = 4000): StrategyContext {
  return {
    self: { id: `self@${host}:${port}`, name: 'self', host, port, cluster: 'static' },
    node: undefined as never,
    signal: new AbortController().signal,
    log: () => {},
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peer-cluster-static-hosts-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('staticHosts with a list', () => {
  it('gives its entries, without the node itself or duplicates', async () => {
    const strategy = staticHosts([
      'a@127.0.0.1:4000',
      'b@127.0.0.1:4001',
      '127.0.0.2:4002',
      '[::1]:4003',
      'b@127.0.0.1:4001',
    ]);
    expect(await strategy.discover(context('127.0.0.1', 4000))).toEqual([
      'b@127.0.0.1:4001',
      '127.0.0.2:4002',
      '[::1]:4003',
    ]);
    expect(strategy.spec).toMatchObject({ export: 'staticHosts' });
  });

  it('names a bad entry in its InvalidOptionsError', () => {
    for (const bad of ['a@127.0.0.1', 'host:99999', 'a b@h:1', '@h:1', 'h:port', '']) {
      const error = (() => {
        try {
          staticHosts(['ok@127.0.0.1:1', bad]);
        } catch (e) {
          return e as InvalidOptionsError;
        }
      })();
      expect(error, bad).toBeInstanceOf(InvalidOptionsError);
      expect(error!.option).toBe('staticHosts[1]');
      expect(error!.message).toContain(JSON.stringify(bad));
    }
    expect(() => staticHosts('a@h:1' as never)).toThrow(InvalidOptionsError);
    expect(() => staticHosts({ file: '' })).toThrow(InvalidOptionsError);
  });
});

describe('staticHosts with a file', () => {
  it('re-reads the file on every discover', async () => {
    const file = join(dir, 'grow.hosts');
    await writeFile(file, '# the cluster\nb@127.0.0.1:4001\n\n');
    const strategy = staticHosts({ file });
    expect(await strategy.discover(context())).toEqual(['b@127.0.0.1:4001']);
    await writeFile(file, '# the cluster\nb@127.0.0.1:4001\n  c@127.0.0.1:4002   # added later\n');
    expect(await strategy.discover(context())).toEqual(['b@127.0.0.1:4001', 'c@127.0.0.1:4002']);
    expect(strategy.spec?.options).toEqual({ file });
  });

  it('names the file and line of a bad entry', async () => {
    const file = join(dir, 'bad.hosts');
    await writeFile(file, 'b@127.0.0.1:4001\n# fine\nc@127.0.0.1\n');
    const error = await Promise.resolve(staticHosts({ file }).discover(context())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain(`line 3 of ${file}`);
    expect((error as Error).message).toContain('"c@127.0.0.1"');
    expect(() => parseHostsFile('x:1\r\ny:2\r\n')).not.toThrow();
  });

  it('fails a discover when the file is missing', async () => {
    await expect(staticHosts({ file: join(dir, 'absent.hosts') }).discover(context())).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
