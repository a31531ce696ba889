import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterNode, StrategyContext } from '@peer-cluster/core';
import { InvalidOptionsError, runOnce, startCluster, startNode } from '@peer-cluster/core';
import { parseHostsFile, staticHosts } from '@peer-cluster/strategy-static-hosts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

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
    // An option it does not know is not silently dropped.
    expect(() => staticHosts({ file: 'x.hosts', hosts: ['a@h:1'] } as never)).toThrow(
      /`staticHosts\.hosts`: unknown option: give an array of entries, or \{ file \}/,
    );
  });

  it('refuses two names for one node, which the healer would check in list order', () => {
    for (const pair of [
      ['a@127.0.0.1:4001', 'b@127.0.0.1:4001'],
      ['127.0.0.1:4001', 'b@127.0.0.1:4001'],
    ]) {
      expect(() => staticHosts(pair), pair.join(' ')).toThrow(
        new RegExp(
          `\`staticHosts\\[1\\]\`: names the node at 127\\.0\\.0\\.1:4001 otherwise than "${pair[0]!.replace(/\./g, '\\.')}" does`,
        ),
      );
    }
    expect(() => parseHostsFile('a@127.0.0.1:1\n# c\nb@127.0.0.1:1\n', 'f.hosts')).toThrow(
      /staticHosts\.file \(line 3 of f\.hosts\)/,
    );
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

  it('says that two entries on one line are two entries, not a bad port or IPv6', () => {
    for (const line of ['a@127.0.0.1:4001 b@127.0.0.1:4002', 'a@127.0.0.1:4001, b@127.0.0.1:4002']) {
      expect(() => parseHostsFile(`${line}\n`, 'f.hosts'), line).toThrow(
        /line 1 of f\.hosts: holds whitespace: give each "name@host:port" or "host:port" as an entry of its own \(in a hosts file, one per line\)/,
      );
    }
    expect(() => staticHosts(['127.0.0.1:4001 127.0.0.1:4002'])).toThrow(
      /`staticHosts\[0\]`: holds whitespace/,
    );
    // Without a space, a comma or semicolon is said as such (it was "an IPv6 address must be in
    // brackets": the colons of both entries).
    for (const [line, separator] of [
      ['a@127.0.0.1:4001,b@127.0.0.1:4002', ','],
      ['127.0.0.1:4001;127.0.0.1:4002', ';'],
    ] as const) {
      expect(() => parseHostsFile(`${line}\n`, 'f.hosts'), line).toThrow(
        `line 1 of f.hosts: holds "${separator}": give each "name@host:port" or "host:port" as an entry of its own`,
      );
    }
    // A node name may hold one: only the host and port may not.
    expect(staticHosts(['a,b@127.0.0.1:4001']).name).toBe('static-hosts');
  });

  it('fails a discover when the file is missing, with a named error', async () => {
    const file = join(dir, 'absent.hosts');
    const error = await Promise.resolve(staticHosts({ file }).discover(context())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ option: 'staticHosts.file', value: file, cause: { code: 'ENOENT' } });
    expect((error as Error).message).toContain('no such file');
  });
});

describe('staticHosts driving real nodes', () => {
  const cookie = 'static-hosts-cookie';
  const started: ClusterNode[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.stop()));
  });
  async function node(name: string, strategy?: ReturnType<typeof staticHosts>) {
    const n = await startNode({
      name,
      cookie,
      cluster: 'static',
      strategy,
      healer: { pollInterval: 60_000 },
    });
    started.push(n);
    return n;
  }

  it('links the listed nodes with runOnce', async () => {
    const b = await node('b');
    const c = await node('c');
    const a = await node('a');
    const result = await runOnce(a, staticHosts([b.id, `127.0.0.1:${c.port}`]));
    expect(result.connected.sort()).toEqual([b.id, c.id].sort());
    expect(result.failed).toEqual([]);
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());
  });

  it('links a node added to the hosts file while running, without a restart', async () => {
    const file = join(dir, 'live.hosts');
    const b = await node('b');
    await writeFile(file, `# live cluster\n${b.id}\n`);
    const a = await node('a', staticHosts({ file }));
    await a.healer.refresh();
    expect(a.nodes()).toEqual([b.id]);

    const c = await node('c');
    await writeFile(file, `# live cluster\n${b.id}\n${c.id}   # added while a runs\n`);
    const result = await a.healer.refresh();
    expect(result.connected).toEqual([c.id]);
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());

    // A bad line fails that refresh, naming the file and line, and the links stay.
    await writeFile(file, `${b.id}\n${c.id}\nnot-an-entry\n`);
    const failed = await a.healer.refresh();
    expect(failed.failed).toHaveLength(1);
    expect(failed.failed[0]!.error).toBeInstanceOf(InvalidOptionsError);
    expect(failed.failed[0]!.error.message).toContain(`line 3 of ${file}`);
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());
  });
});

describe('staticHosts in a cluster of peers', () => {
  it('waitForMesh() has the peers read a hosts file written after they started, not at their next poll', async () => {
    // Peers' ports are known once they run: the file is written then (as the README shows).
    const file = join(dir, 'peers.hosts');
    await writeFile(file, '');
    const cluster = await startCluster({
      count: 3,
      strategy: staticHosts({ file }),
      waitForMesh: false,
      // The next poll is a minute away: only waitForMesh's own refresh can form the mesh in time.
      healer: { pollInterval: 60_000 },
    });
    try {
      await writeFile(file, `${cluster.peers.map((p) => p.node).join('\n')}\n`);
      await cluster.waitForMesh({ timeout: 10_000 });
      for (const peer of cluster.peers) expect((await peer.nodes()).length).toBe(2);
    } finally {
      await cluster.stop();
    }
  });
});
