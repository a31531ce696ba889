// Strategies that cross a runner's config: Vitest clones the config into its workers and Jest sends
// it as JSON, so what arrives is a strategy's data (`{ name, spec }`), from which startCluster
// re-creates it in every peer. And a strategy written as data by hand (a CommonJS Jest test cannot
// import the ES module strategy packages).
import { fileURLToPath } from 'node:url';
import {
  type Cluster,
  InvalidOptionsError,
  PeerBootError,
  type Strategy,
  startCluster,
} from '@peer-cluster/core';
import { localRegistryStrategy } from '@peer-cluster/core/registry';
import { dns } from '@peer-cluster/strategy-dns';
import { staticHosts } from '@peer-cluster/strategy-static-hosts';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));
const clusters: Cluster[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('a strategy given as data', () => {
  it('the built-in strategies clone and travel as JSON as their name and spec alone', () => {
    const strategies: Strategy[] = [
      localRegistryStrategy(),
      staticHosts(['127.0.0.1:1']),
      staticHosts({ file: '/tmp/hosts' }),
      dns({ query: 'peers.test', port: 4000 }),
    ];
    for (const strategy of strategies) {
      const data = { name: strategy.name, spec: strategy.spec };
      expect(structuredClone(strategy), strategy.name).toEqual(data);
      expect(json(strategy), strategy.name).toEqual(json(data));
      // And the strategy itself still works in the process that made it.
      expect(typeof strategy.discover, strategy.name).toBe('function');
    }
  });

  it('a cloned local registry strategy meshes a cluster', async () => {
    const c = await startCluster({ root, count: 3, strategy: structuredClone(localRegistryStrategy()) });
    clusters.push(c);
    for (const peer of c.peers) expect(await peer.nodes()).toHaveLength(2);
  });

  it.each([
    ['sent as JSON', json(staticHosts(['127.0.0.1:1']))],
    [
      'written by hand, by package name',
      {
        spec: {
          module: '@peer-cluster/strategy-static-hosts',
          export: 'staticHosts',
          options: ['127.0.0.1:1'],
        },
      },
    ],
  ])('static hosts %s run in every peer', async (_how, strategy) => {
    // It lists only a port where nothing listens: each peer's healer discovers it, and only it.
    const error = await startCluster({ root, count: 2, strategy, bootTimeout: 3000 }).catch((e) => e);
    expect(error).toMatchObject({ name: 'WaitTimeoutError' });
    for (const peer of ['peer-1', 'peer-2']) {
      expect(error.message).toMatch(
        new RegExp(
          `${peer} \\(strategy "static-hosts"\\): its latest refresh \\(\\d+ ms ago\\) discovered 127\\.0\\.0\\.1:1;`,
        ),
      );
    }
  });

  it('a spec module that cannot be resolved is named, and nothing starts', async () => {
    const error = await startCluster({
      root,
      strategy: { spec: { module: 'no-such-strategy-package', export: 'strategy', options: {} } },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ option: 'strategy.spec.module', value: 'no-such-strategy-package' });
    expect(error.message).toContain(`cannot be resolved from root ${root}`);
  });

  it.each([
    ['a file: URL', 'file:///no/such/strategy.js'],
    ['an absolute path', '/no/such/strategy.js'],
  ])('a spec module given as %s that is not there is named, and nothing starts', async (_how, module) => {
    const error = await startCluster({
      root,
      strategy: { spec: { module, export: 'strategy', options: {} } },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ option: 'strategy.spec.module', value: module });
    expect(error.message).toContain('no such file (/no/such/strategy.js)');
  });

  it("a strategy's own spec naming a file that is not there is named, and nothing starts", async () => {
    const strategy: Strategy = {
      name: 'gone',
      discover: () => [],
      spec: { module: 'file:///no/such/strategy.js', export: 'gone', options: {} },
    };
    const error = await startCluster({ root, strategy }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error).toMatchObject({ option: 'strategy.spec.module' });
  });

  it('a spec module that throws as a peer imports it is named in the boot error', async () => {
    const module = new URL('./fixtures/strategies/throws-at-import.mjs', import.meta.url).href;
    const error = await startCluster({
      root,
      count: 1,
      strategy: { spec: { module, export: 'strategy', options: {} } },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.message).toContain(
      `strategy module ${module} could not be imported (TypeError: this strategy module fails at import)`,
    );
  });

  it('a package that exports only for import (ESM-only) is found, as the peers import it', async () => {
    // estree-walker (a dependency of Vitest's) exports only under the `import` condition, which
    // require's resolution does not look at.
    const error = await startCluster({
      root,
      count: 1,
      strategy: { spec: { module: 'estree-walker', export: 'noSuchFactory', options: {} } },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.message).toMatch(
      /estree-walker\/src\/index\.js has no export noSuchFactory \(its functions: .*walk/,
    );
  });

  it('options a peer cannot receive are named before anything starts', async () => {
    const error = await startCluster({
      root,
      strategy: {
        spec: { module: './not-a-strategy.mjs', export: 'staticHostsLike', options: { onFound: () => 1 } },
      },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('strategy.spec.options');
    expect(error.message).toContain('must be data a peer can receive');
  });

  it('an export that is not a factory is named in the boot error, with the functions the module has', async () => {
    const error = await startCluster({
      root,
      count: 1,
      strategy: { spec: { module: './not-a-strategy.mjs', export: 'notAFactory', options: {} } },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.message).toContain(
      'exports notAFactory, but as a number, not a strategy factory (its functions: staticHostsLike)',
    );
  });

  it('data without a spec is not a strategy', async () => {
    const error = await startCluster({ root, strategy: { name: 'static-hosts' } as never }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('strategy');
  });
});
