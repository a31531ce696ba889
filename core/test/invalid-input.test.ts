// Hostile and invalid input: every bad option, app, strategy setting, startNode option and CLI
// argument gets its own named error that names the option and the value; an oversized message
// closes only the link it came over; a peer flooding stdout does not stall the test process.
// (Option cases already in cluster.test.ts and peer.test.ts are not repeated here.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import {
  type Cluster,
  customStrategy,
  InvalidOptionsError,
  type Peer,
  PeerBootError,
  spawnPeer,
  startCluster,
  startNode,
} from '@peer-cluster/core';
import { leasePorts, localRegistryStrategy } from '@peer-cluster/core/registry';
import { dns } from '@peer-cluster/strategy-dns';
import { staticHosts } from '@peer-cluster/strategy-static-hosts';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killWhenTestEnds } from '../../test-support/children.js';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';
import { reliabilityDir, stopRegistry, usePrivateRegistry } from './fixtures/reliability/support.js';

const registry = await usePrivateRegistry();
afterAll(() => stopRegistry(registry.port));
const clusters: Cluster[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

const cookie = 'invalid-input-cookie';

/** Runs `act`, expecting it to throw (or reject with) an error of class `type`. */
async function caught(act: () => unknown): Promise<any> {
  try {
    await act();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, got none');
}

function missingEnv(): never {
  throw new Error('no env for this one');
}

describe('invalid options, each with its named error', () => {
  // [what, call, option named, value it carries]
  const cases: [string, () => unknown, string, unknown][] = [
    // startCluster / spawnPeer
    ['apps with an empty path', () => startCluster({ apps: [''] }), 'apps.0', ''],
    ['root that is empty', () => startCluster({ root: '' }), 'root', ''],
    ['a cookie that is a number', () => startCluster({ cookie: 42 as never }), 'cookie', 42],
    ['a cookie of only a line break', () => startCluster({ cookie: '\n' }), 'cookie', '\n'],
    [
      'count: Infinity',
      () => startCluster({ count: Number.POSITIVE_INFINITY }),
      'count',
      Number.POSITIVE_INFINITY,
    ],
    ['bootTimeout: NaN', () => startCluster({ bootTimeout: Number.NaN }), 'bootTimeout', Number.NaN],
    // Not "spawn /bin/sh ENOENT", which is what spawning in a missing cwd says.
    ['root: a missing directory', () => startCluster({ root: '/no/such/dir' }), 'root', '/no/such/dir'],
    ['root: a file', () => spawnPeer({ root: import.meta.filename }), 'root', import.meta.filename],
    [
      'an env function that throws (for the third peer)',
      () => startCluster({ count: 3, env: ({ index }) => (index === 2 ? missingEnv() : {}) }),
      'env(peer-3)',
      expect.any(Function),
    ],
    [
      'add() root: a missing directory',
      async () => {
        const c = await startCluster({ count: 1, waitForMesh: false });
        clusters.push(c);
        return c.add(1, { root: '/no/such/dir' });
      },
      'add options.root',
      '/no/such/dir',
    ],
    [
      'heartbeat.timeout equal to the interval',
      () => startCluster({ heartbeat: { interval: 100, timeout: 100 } }),
      'heartbeat.timeout',
      100,
    ],
    [
      'an unknown heartbeat key',
      () => startCluster({ heartbeat: { every: 1 } as never }),
      'heartbeat.every',
      1,
    ],
    ['inheritEnv with a number', () => startCluster({ inheritEnv: [1] as never }), 'inheritEnv', [1]],
    [
      'inheritEnv naming NODE_OPTIONS (never passed)',
      () => startCluster({ inheritEnv: ['HOME_DIR', 'NODE_OPTIONS'] }),
      'inheritEnv',
      'NODE_OPTIONS',
    ],
    [
      'inheritEnv naming a runner variable',
      () => startCluster({ inheritEnv: ['VITEST_POOL_ID'] }),
      'inheritEnv',
      'VITEST_POOL_ID',
    ],
    ['ports as a string', () => startCluster({ ports: 'admin' as never }), 'ports', 'admin'],
    [
      'port names that give one variable (PORT_A_B)',
      () => startCluster({ ports: ['a-b', 'admin', 'A_B'] }),
      'ports',
      ['a-b', 'admin', 'A_B'],
    ],
    ['an env value of null', () => startCluster({ env: { A: null } as never }), 'env.A', null],
    // Not A=`B=x` in the peer, a variable that vanishes, or Node's TypeError from spawn.
    ['an env name with "="', () => startCluster({ env: { 'A=B': 'x' } }), 'env', 'A=B'],
    ['an empty env name', () => startCluster({ env: { '': 'x' } }), 'env', ''],
    ['an env value with a NUL byte', () => startCluster({ env: { A: 'x\0y' } }), 'env.A', 'x\0y'],
    [
      'an env function giving a name with "="',
      () => startCluster({ count: 1, env: () => ({ 'A=B': 1 }) }),
      'env(peer-1)',
      'A=B',
    ],
    ['an env PORT (the leased port wins)', () => startCluster({ env: { PORT: 8080 } }), 'env.PORT', 8080],
    [
      'an env function giving PEER_NAME',
      () => startCluster({ count: 1, env: () => ({ PEER_NAME: 'x' }) }),
      'env(peer-1).PEER_NAME',
      'x',
    ],
    ['a strategy given by name', () => startCluster({ strategy: 'local' as never }), 'strategy', 'local'],
    ['an empty cluster name', () => startCluster({ name: '' }), 'name', ''],
    ['nodeArgs with a number', () => startCluster({ nodeArgs: [1] as never }), 'nodeArgs.0', 1],
    ['options that are null', () => startCluster(null as never), 'options', null],
    ['a negative peer index', () => spawnPeer({ index: -1 }), 'index', -1],
    ['a cluster name with a slash', () => spawnPeer({ cluster: 'a/b' }), 'cluster', 'a/b'],
    // strategies
    [
      'a static host without a port',
      () => staticHosts(['not-an-address']),
      'staticHosts[0]',
      'not-an-address',
    ],
    [
      'a static host port out of range',
      () => staticHosts(['a@127.0.0.1:99999']),
      'staticHosts[0]',
      'a@127.0.0.1:99999',
    ],
    [
      'a hosts file that is not a path',
      () => staticHosts({ file: 123 as never }),
      'staticHosts',
      { file: 123 },
    ],
    ['dns without a query', () => dns({} as never), 'dns.query', undefined],
    ['dns with an MX type', () => dns({ query: 'x.test', type: 'MX' as never, port: 1 }), 'dns.type', 'MX'],
    ['dns with a negative timeout', () => dns({ query: 'x.test', port: 1, timeout: -1 }), 'dns.timeout', -1],
    [
      'dns servers that are not addresses',
      () => dns({ query: 'x.test', port: 1, servers: ['nope'] }),
      'dns.servers',
      ['nope'],
    ],
    [
      'localRegistry port out of range',
      () => localRegistryStrategy({ port: 70_000 }),
      'localRegistry.port',
      70_000,
    ],
    [
      'localRegistry unknown option',
      () => localRegistryStrategy({ hots: 'x' } as never),
      'localRegistry.hots',
      'x',
    ],
    ['customStrategy without discover', () => customStrategy({} as never), 'discover', undefined],
    [
      'customStrategy connect that is not a function',
      () => customStrategy({ discover: () => [], connect: 5 as never }),
      'connect',
      5,
    ],
    // startNode
    ['a node name with a space', () => startNode({ name: 'a b', cookie }), 'name', 'a b'],
    ['a node port out of range', () => startNode({ name: 'a', cookie, port: 70_000 }), 'port', 70_000],
    ['a node maxPayload of 0', () => startNode({ name: 'a', cookie, maxPayload: 0 }), 'maxPayload', 0],
    [
      'a node heartbeat timeout under its interval',
      () => startNode({ name: 'a', cookie, heartbeat: { interval: 10, timeout: 5 } }),
      'heartbeat.timeout',
      5,
    ],
    ['startNode without options', () => startNode(undefined as never), 'options', undefined],
    ['startNode with an array', () => startNode([] as never), 'options', []],
    ['a node name that is not a string', () => startNode({ name: 5 as never, cookie }), 'name', 5],
    // An empty cookie holds no secret: shown as it is, and so is one of only whitespace (a cookie
    // file with only its line break, read without trim()), refused as well.
    ['a node cookie that is empty', () => startNode({ name: 'a', cookie: '' }), 'cookie', ''],
    ['a node cookie of only a line break', () => startNode({ name: 'a', cookie: '\n' }), 'cookie', '\n'],
    [
      'a node cluster name of 201 characters',
      () => startNode({ name: 'a', cookie, cluster: 'c'.repeat(201) }),
      'cluster',
      'c'.repeat(201),
    ],
    ['a node host that is empty', () => startNode({ name: 'a', cookie, host: '' }), 'host', ''],
    ['a node port that is not whole', () => startNode({ name: 'a', cookie, port: 1.5 }), 'port', 1.5],
    [
      'a node strategy without discover',
      () => startNode({ name: 'a', cookie, strategy: {} as never }),
      'strategy',
      {},
    ],
    [
      'a node heartbeat that is a number',
      () => startNode({ name: 'a', cookie, heartbeat: 5 as never }),
      'heartbeat',
      5,
    ],
    [
      'a node heartbeat interval of NaN',
      () => startNode({ name: 'a', cookie, heartbeat: { interval: Number.NaN } }),
      'heartbeat.interval',
      Number.NaN,
    ],
    [
      'a node heartbeat interval over the default timeout',
      () => startNode({ name: 'a', cookie, heartbeat: { interval: 6000 } }),
      'heartbeat.timeout',
      undefined,
    ],
    [
      'a node pollInterval of -1',
      () => startNode({ name: 'a', cookie, healer: { pollInterval: -1 } }),
      'healer.pollInterval',
      -1,
    ],
    [
      'a node log that is not a function',
      () => startNode({ name: 'a', cookie, log: 'yes' as never }),
      'log',
      'yes',
    ],
    // Misspelt or misplaced: silently ignored, its default would be taken.
    [
      'a node pollInterval beside healer',
      () => startNode({ name: 'a', cookie, pollInterval: 100 } as never),
      'pollInterval',
      100,
    ],
    [
      'a misspelt heartbeat interval',
      () => startNode({ name: 'a', cookie, heartbeat: { intervall: 100 } as never }),
      'heartbeat.intervall',
      100,
    ],
  ];

  it("a strategy's factory given uncalled says to call it, to startNode and startCluster alike", async () => {
    const said = 'expected a strategy, not the function that makes one: call it (strategy: staticHosts(…))';
    const toNode = await caught(() => startNode({ name: 'a', cookie, strategy: staticHosts as never }));
    expect(toNode.message).toContain(said);
    const toCluster = await caught(() => startCluster({ count: 1, strategy: staticHosts as never }));
    expect(toCluster.option).toBe('strategy');
    expect(toCluster.message).toContain(said);
  });

  it('names a startNode option that is not one, with the one it likely meant; a misspelt cookie stays hidden', async () => {
    const misplaced = await caught(() => startNode({ name: 'a', cookie, pollInterval: 100 } as never));
    expect(misplaced.message).toBe(
      'Invalid option `pollInterval`: is not an option of startNode() (got 100). Did you mean healer.pollInterval? Known options: name, cookie, cluster, host, port, strategy, heartbeat, healer, maxPayload, log.',
    );
    const nested = await caught(() =>
      startNode({ name: 'a', cookie, healer: { pollinterval: 100 } as never }),
    );
    expect(nested.message).toContain(
      'Did you mean healer.pollInterval? Known options of healer: pollInterval.',
    );
    const secret = await caught(() => startNode({ name: 'a', cookie, Cookie: 'the-secret' } as never));
    expect(secret.message).toContain('Did you mean cookie?');
    expect(secret.message).not.toContain('the-secret');
    // NODE_DEFAULTS spread in (it holds handshakeTimeout) stays valid.
    const { NODE_DEFAULTS } = await import('@peer-cluster/core');
    const n = await startNode({ ...NODE_DEFAULTS, name: 'a', cookie });
    await n.stop();
  });

  it(`rejects ${cases.length} invalid inputs with InvalidOptionsError naming the option and the value`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    for (const [what, act, option, value] of cases) {
      const error = await caught(act);
      expect(error, what).toBeInstanceOf(InvalidOptionsError);
      expect(error.name, what).toBe('InvalidOptionsError');
      expect(error.option, what).toBe(option);
      expect(error.value, what).toEqual(value);
      expect(error.message, what).toContain(`\`${option}\``);
    }
  });

  it('peer and cluster methods name a bad argument, and nothing happens', async () => {
    const c = await startCluster({ count: 3 });
    clusters.push(c);
    const [a, b, d] = c.peers as [Peer, Peer, Peer];
    const bound = ((ctx: { name: string }) => ctx.name).bind(null);
    class AClass {}
    const methodCases: [string, () => unknown, string, unknown][] = [
      [
        'a peer on both sides of a partition',
        () => c.partition([a, b], [b, d]),
        'partition(groups[1])',
        'peer-2',
      ],
      [
        'a partition with every peer on one side',
        () => c.partition([a, b, d], []),
        'partition(...groups)',
        [['peer-1', 'peer-2', 'peer-3'], []],
      ],
      ['an unknown signal', () => a.kill('SIGFOO' as never), 'kill(signal)', 'SIGFOO'],
      ['a url path that is not a string', () => a.url(42 as never), 'url(path)', 42],
      ['waitForNodes of a string', () => a.waitForNodes('2' as never), 'waitForNodes(n)', '2'],
      ['a negative wait timeout', () => a.waitForNodes(2, { timeout: -5 }), 'waitForNodes() timeout', -5],
      [
        'a wait timeout in words',
        () => c.waitForMesh({ timeout: 'soon' as never }),
        'waitForMesh() timeout',
        'soon',
      ],
      ['heal options that are not an object', () => c.heal(5 as never), 'waitForMesh() options', 5],
      ['a bound function to evaluate (it has no source)', () => a.evaluate(bound), 'evaluate(fn)', bound],
      ['a built-in function to evaluate', () => a.evaluate(Math.max as never), 'evaluate(fn)', Math.max],
      ['a class to evaluate', () => a.evaluate(AClass as never), 'evaluate(fn)', AClass],
    ];
    for (const [what, act, option, value] of methodCases) {
      const error = await caught(act);
      expect(error, what).toBeInstanceOf(InvalidOptionsError);
      expect(error.option, what).toBe(option);
      expect(error.value, what).toEqual(value);
    }
    // Nothing was cut, killed or left half-done.
    expect(c.peers.every((p) => p.state === 'running')).toBe(true);
    await c.waitForMesh();
    expect(c.timeline.some((e) => e.type === 'partition' || e.type === 'kill')).toBe(false);
  });

  it('names a huge value in a few dozen characters, without walking all of it', () => {
    const named = (value: unknown) => new InvalidOptionsError('option', value, 'is wrong').message;
    expect(named([new Uint8Array(200 * 1024 * 1024)])).toContain('(got ["[Uint8Array of 209715200 bytes]"])');
    expect(named(Array.from({ length: 1_000_000 }, (_, i) => i)).length).toBeLessThan(200);
    expect(named('x'.repeat(10_000_000))).toContain('..." (10000000 characters))');
    expect(named({ m: new Map([[1, 2]]), e: new Error('boom'), f() {} })).toContain(
      '(got {"m":"[Map(1)]","e":"[Error: boom]","f":"[function f]"})',
    );
    const self: Record<string, unknown> = {};
    self.self = self;
    expect(named(self)).toContain('(got {"self":"[circular]"})');
    // Values of another realm (a Jest test's, whose harness runs outside its sandbox) read the same.
    const foreign = runInNewContext('({ m: new Map([[1, 2]]), s: new Set(), e: new TypeError("boom") })');
    expect(named(foreign)).toContain('(got {"m":"[Map(1)]","s":"[Set(0)]","e":"[TypeError: boom]"})');
    expect(named(runInNewContext('[new Date(0), new ArrayBuffer(2)]'))).toContain(
      '(got ["1970-01-01T00:00:00.000Z","[ArrayBuffer of 2 bytes]"])',
    );
  });

  it('never echoes a cookie in an error, even a cookie given next to a bad option', async () => {
    const secret = 'cookie-never-in-errors-7d1e';
    for (const act of [
      () => startCluster({ cookie: secret, count: 0 }),
      () => startCluster({ cookie: secret, bogus: 1 } as never),
      () => startNode({ name: 'x y', cookie: secret }),
      () => startNode({ name: 'x', cookie: secret, port: -1 }),
    ]) {
      const error = await caught(act);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(`${error.message} ${JSON.stringify(error.value)}`).not.toContain(secret);
    }
  });
});

describe('apps that cannot boot, each with PeerBootError', () => {
  it('an app module that is missing names the path and the root', async () => {
    const error = await caught(() =>
      startCluster({ count: 2, root: reliabilityDir, apps: ['no-such-app.mjs'], name: 'bad-app-missing' }),
    );
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.app).toBe('no-such-app.mjs');
    expect(error.message).toContain(reliabilityDir);
    await waitForNoPeers({ cluster: 'bad-app-missing' });
  });

  it('a missing app fails at once however many peers are asked for (it is located once per cluster)', async () => {
    const started = performance.now();
    const error = await caught(() =>
      startCluster({ count: 50_000, root: reliabilityDir, apps: ['no-such-app.mjs'], name: 'bad-app-many' }),
    );
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.peer).toBe('peer-1');
    // Once located per peer, with a clean-up quadratic in the peers: ≈5 s of CPU here.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('more app ports than the registry leases to this process fail before any peer is spawned', async () => {
    const name = 'bad-count-leases';
    // This process already holds all but one of the ports the registry leases to it.
    const held = await Promise.all(Array.from({ length: 32 }, (_, i) => leasePorts(i === 0 ? 63 : 64)));
    try {
      const error = await caught(() =>
        startCluster({ count: 2, root: reliabilityDir, apps: ['storm-app.mjs'], name }),
      );
      expect(error.message).toContain('Cannot lease 2 app ports');
      expect(error.message).toContain('holds 2047 already');
      expect(peerProcesses(name)).toEqual([]);
    } finally {
      await Promise.all(held.map((lease) => lease.release()));
    }
  });

  it('an app that throws a non-Error names what it threw', async () => {
    const error = await caught(() =>
      startCluster({ count: 1, root: reliabilityDir, apps: ['throws-string.mjs'], name: 'bad-app-string' }),
    );
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.app).toBe('throws-string.mjs');
    expect(error.message).toContain('a plain string, not an Error');
    await waitForNoPeers({ cluster: 'bad-app-string' });
  });

  it('an app that does not parse gives the SyntaxError, the app, and the file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-syntax-'));
    try {
      await writeFile(join(dir, 'broken.mjs'), 'export const a = 1;\nconst x = ;\n');
      // The error is in a module the app imports: Node's own error names neither.
      await writeFile(join(dir, 'imports-broken.js'), "require('./broken.mjs');\n");
      for (const app of ['broken.mjs', 'imports-broken.js']) {
        const error = await caught(() => spawnPeer({ root: dir, apps: [app], cluster: 'bad-app-syntax' }));
        expect(error).toBeInstanceOf(PeerBootError);
        expect(error.app).toBe(app);
        expect(error.message).toMatch(/SyntaxError/);
        expect(error.message).toContain(
          `${join(dir, 'broken.mjs')}:2:11: Unexpected ";"\n    const x = ;\n              ^`,
        );
        // Its stderr said the same as its cause: the message does not repeat it.
        expect(error.stderr).toContain('SyntaxError');
        expect(error.message).not.toContain('--- stderr of');
      }
      await waitForNoPeers({ cluster: 'bad-app-syntax' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI arguments', () => {
  const bin = createRequire(import.meta.url)
    .resolve('@peer-cluster/core/package.json')
    .replace(/package\.json$/, 'dist/cli/main.js');
  async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: reliabilityDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killWhenTestEnds(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const [code] = await once(child, 'exit');
    return { code: code as number, out };
  }

  it.each([
    [['up', '--count', '2.5', '--app', 'storm-app.mjs'], 2, /--count must be an integer ≥ 1, got "2.5"/],
    [['up', '--count', '-1', '--app', 'storm-app.mjs'], 2, /--count|-1/],
    [['up', '--app', 'storm-app.mjs', '--env', '=V'], 2, /--env takes K=V, got "=V"/],
    [['up', '--app'], 2, /--app/],
    [['up', '--bogus'], 2, /--bogus/],
    [['ls', '--json=1'], 2, /--json/],
    [['registry', '--port', '99999'], 2, /--port must be an integer in 0\.\.65535, got "99999"/],
    [['registry', '--port', 'abc'], 2, /--port must be an integer in 0\.\.65535, got "abc"/],
    [
      ['registry', '--idle-timeout', 'soon'],
      2,
      /--idle-timeout must be an integer in 0\.\.2147483647, got "soon"/,
    ],
  ] as [string[], number, RegExp][])(
    'rejects %j naming the argument, without a stack trace',
    async (args, code, message) => {
      const result = await cli(args);
      expect(result.code, result.out).toBe(code);
      expect(result.out).toMatch(message);
      expect(result.out).not.toMatch(/\n\s+at /);
    },
  );

  it('an invalid PEER_CLUSTER_REGISTRY is named, not taken for a missing registry', async () => {
    const result = await cli(['ls'], { PEER_CLUSTER_REGISTRY: 'not-an-address' });
    expect(result.out).toContain('InvalidOptionsError');
    expect(result.out).toContain('PEER_CLUSTER_REGISTRY');
    expect(result.out).toContain('not-an-address');
    expect(result.code).toBe(1);
  });

  it('PEER_CLUSTER_REGISTRY is not read by `registry` given both --host and --port; given one, a bad one is named', async () => {
    const bad = { PEER_CLUSTER_REGISTRY: 'not-an-address' };
    const both = await cli(['registry', '--host', '127.0.0.1', '--port', '0', '--idle-timeout', '50'], bad);
    expect(both.out).toContain('idle for 50 ms, exiting');
    expect(both.code).toBe(0);
    for (const flag of [
      ['--host', '127.0.0.1'],
      ['--port', '0'],
    ]) {
      const one = await cli(['registry', ...flag, '--idle-timeout', '50'], bad);
      expect(one.out).toContain('Invalid option `PEER_CLUSTER_REGISTRY`');
      expect(one.out).toContain('not-an-address');
      expect(one.code).toBe(1);
    }
    // reap asks no registry: the variable does not concern it.
    const reap = await cli(['reap', '--dry-run', '--cluster', 'invalid-input-none'], bad);
    expect(reap.out).toContain('No peer processes of cluster invalid-input-none found.');
    expect(reap.code).toBe(0);
  });
});

describe('oversized messages and floods', () => {
  it('a call over maxPayload fails alone with a named error; no link goes down', async () => {
    const c = await startCluster({
      count: 3,
      root: reliabilityDir,
      apps: ['storm-app.mjs'],
      healer: { pollInterval: 300 },
    });
    clusters.push(c);
    const [a, b] = c.peers as [Peer, Peer, Peer];
    const t0 = Date.now();
    // 65 MiB against the default maxPayload of 64 MiB.
    const outcome = await a.evaluate(
      (ctx, target: string) =>
        ctx.cluster.call(target, 'echo', new Uint8Array(65 * 1024 * 1024)).then(
          () => 'delivered',
          (error: Error) => `${error.name}: ${error.message}`,
        ),
      b.node,
    );
    expect(outcome).toMatch(/^InvalidOptionsError: .*is 65 MiB once encoded, more than the 64 MiB/);
    expect(c.timeline.filter((e) => e.type === 'nodedown' && e.at >= t0)).toEqual([]);
    expect(await a.call('relay', b.node, 'small again', 5000)).toBe('small again');
  }, 60_000);

  it('a peer flooding stdout does not stall the test process: it and the others answer promptly', async () => {
    const c = await startCluster({ count: 2, root: reliabilityDir, apps: ['storm-app.mjs'] });
    clusters.push(c);
    const [calm] = c.peers as [Peer];
    const [flood] = await c.add(1, { apps: ['storm-app.mjs', 'flood-forever.mjs'] });
    let worstLag = 0;
    let last = performance.now();
    const lag = setInterval(() => {
      const now = performance.now();
      worstLag = Math.max(worstLag, now - last - 20);
      last = now;
    }, 20);
    try {
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        expect(await flood!.call('echo', i)).toBe(i);
        expect(await calm.call('echo', i)).toBe(i);
        expect(await calm.call('relay', flood!.node, i, 5000)).toBe(i);
        slowest = Math.max(slowest, performance.now() - started);
      }
      const written = await flood!.call<number>('written');
      // Proof that the flood was real: many MiB went through the pipe meanwhile.
      expect(written).toBeGreaterThan(8 * 1024 * 1024);
      expect(flood!.logs().length).toBe(2000);
      // Bounds that only a stall breaks (this machine is shared and noisy).
      expect(slowest, `slowest round of 3 calls: ${Math.round(slowest)} ms`).toBeLessThan(5000);
      expect(worstLag, `worst event-loop lag: ${Math.round(worstLag)} ms`).toBeLessThan(2000);
    } finally {
      clearInterval(lag);
    }
  }, 60_000);
});
