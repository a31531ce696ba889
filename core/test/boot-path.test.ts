// The peer boot path: the process starts before its ports are leased, a cluster leases all its
// new peers' ports in one request, the runtime runs from a bundle with a V8 code cache, and the
// group watchdog starts only with the first child process of the peer's apps.

import { execFile, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { customStrategy, InvalidOptionsError, type Peer, spawnPeer, startCluster } from '@peer-cluster/core';
import { type RegistryHandle, runRegistry } from '@peer-cluster/core/registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';
import * as errors from '../dist/errors.js';
import { cacheDir, FULLER_CACHE_LINKS, prune, runtimeEntry } from '../dist/peer/runtime-bundle.js';
import { leasePortGroups } from '../dist/registry/ports.js';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));
const peers: Peer[] = [];

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

describe('port leases', () => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await runRegistry({ port: 0, idleTimeout: 0, log: () => {} });
  });
  afterAll(async () => {
    await registry.close();
  });

  it('leases a group of ports per entry in requests of at most 64, each group released on its own', async () => {
    const leases = await leasePortGroups([30, 0, 50, 1], { registry: registry.address });
    expect(leases.map((l) => l.ports.length)).toEqual([30, 0, 50, 1]);
    const all = leases.flatMap((l) => l.ports);
    expect(new Set(all).size).toBe(81);
    await leases[2]!.release();
    const status = await registryStatus(registry);
    for (const p of leases[2]!.ports) expect(status).not.toContain(p);
    for (const p of [...leases[0]!.ports, ...leases[3]!.ports]) expect(status).toContain(p);
    await Promise.all(leases.map((l) => l.release()));
    expect(await registryStatus(registry)).toEqual([]);
  });

  it('rejects sizes that are not whole numbers', async () => {
    await expect(leasePortGroups([1, -1], { registry: registry.address })).rejects.toThrow(
      InvalidOptionsError,
    );
  });
});

async function registryStatus(registry: RegistryHandle): Promise<number[]> {
  const { RegistryClient } = await import('@peer-cluster/core/registry');
  const client = await RegistryClient.connect({ port: registry.port, autoStart: false });
  try {
    return (await client.status()).leases;
  } finally {
    await client.close();
  }
}

describe('boot', () => {
  it('sets PORT and PORT_<NAME> before the apps run, though they were leased while the process started', async () => {
    const p = await spawnPeer({ root, apps: ['counter.mjs'], ports: ['admin-http'], cluster: 'boot-ports' });
    peers.push(p);
    const env = await p.evaluate(() => ({ PORT: process.env.PORT, ADMIN: process.env.PORT_ADMIN_HTTP }));
    expect(env).toEqual({ PORT: String(p.port), ADMIN: String(p.ports['admin-http']) });
    expect(((await (await fetch(p.url())).json()) as { name: string }).name).toBe(p.name);
    // A restart keeps them.
    const ports = p.ports;
    await p.restart();
    expect(p.ports).toEqual(ports);
    expect(await p.evaluate(() => process.env.PORT)).toBe(String(ports.default));
  });

  it.runIf(process.platform === 'linux')(
    "is one process until its code starts a child; the group's watchdog starts with the first child",
    async () => {
      const p = await spawnPeer({ root, apps: ['counter.mjs'], cluster: 'boot-one-process' });
      peers.push(p);
      expect(groupMembers(p.pid!)).toEqual([{ pid: p.pid, cmd: expect.stringContaining('node') }]);
      const child = await p.evaluate(async () => {
        const { spawn } = await import('node:child_process');
        const c = spawn('sleep', ['600'], { stdio: 'ignore' });
        return c.pid;
      });
      const members = groupMembers(p.pid!);
      expect(members).toHaveLength(3);
      expect(members.map((m) => m.pid)).toEqual(expect.arrayContaining([p.pid, child]));
      const watchdog = members.find((m) => m.pid !== p.pid && m.pid !== child)!;
      expect(watchdog.cmd).toMatch(/^\/bin\/sh -c .*kill -9 0/);
      // It holds no environment (nothing takes it for a peer) and sees the pipe as its stdin.
      expect(readFileSync(`/proc/${watchdog.pid}/environ`, 'latin1')).toBe('');
      await p.stop();
      await waitForGone([p.pid!, child!, watchdog.pid]);
    },
  );

  // The list of detached children the watchdog reads (group-watchdog.ts) goes with the peer however
  // it ends: a crash kills what it names, a stop (which kills the watchdog too) leaves no file behind.
  it('a peer that crashes takes its detached children along, and no list of them is left', async () => {
    const [crashing, stopped] = await Promise.all(
      [1, 2].map((n) => spawnPeer({ root, apps: ['spawns-detached.mjs'], cluster: `boot-detached-${n}` })),
    );
    peers.push(crashing!, stopped!);
    const escaped = await Promise.all(
      [crashing!, stopped!].map((p) => p.call('escaped-pids') as Promise<number[]>),
    );
    const independents = await Promise.all(
      [crashing!, stopped!].map((p) => p.call('independent-pid') as Promise<number>),
    );
    const pids = [crashing!.pid!, stopped!.pid!];
    const lists = () =>
      readdirSync(join(cacheDir(), 'detached')).filter((f) => pids.some((pid) => f === String(pid)));
    try {
      expect(lists()).toHaveLength(2);
      const exited = new Promise((resolve) => crashing!.once('exit', resolve));
      await crashing!.evaluate(() => {
        setTimeout(() => process.exit(1), 10);
      });
      await exited;
      await waitForGone([escaped[0]![0]!]);
      await stopped!.stop();
      expect(lists()).toEqual([]);
    } finally {
      // The setsid shell of the crashed peer is out of everyone's reach but `peer-cluster reap`'s.
      for (const pid of [escaped[0]![1]!, ...independents]) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          process.kill(pid, 'SIGKILL');
        }
      }
    }
  });

  it('a lease that fails fails the boot with its own error and kills the process already started', async () => {
    const saved = process.env.PEER_CLUSTER_REGISTRY;
    process.env.PEER_CLUSTER_REGISTRY = 'localhost';
    try {
      const error = await spawnPeer({
        root,
        apps: ['counter.mjs'],
        cluster: 'boot-lease-fails',
        strategy: customStrategy({ discover: () => [] }),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as Error).message).toMatch(/PEER_CLUSTER_REGISTRY/);
      // Rejected only once the peer's process is gone.
      expect(peerProcesses('boot-lease-fails')).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.PEER_CLUSTER_REGISTRY;
      else process.env.PEER_CLUSTER_REGISTRY = saved;
    }
  });

  it('a cluster whose leases fail leaves no process', async () => {
    const saved = process.env.PEER_CLUSTER_REGISTRY;
    process.env.PEER_CLUSTER_REGISTRY = 'localhost';
    try {
      await expect(
        startCluster({
          count: 3,
          name: 'boot-cluster-lease-fails',
          root,
          apps: ['counter.mjs'],
          strategy: customStrategy({ discover: () => [] }),
        }),
      ).rejects.toThrow(/PEER_CLUSTER_REGISTRY/);
      await waitForNoPeers({ cluster: 'boot-cluster-lease-fails', timeout: 3000 });
    } finally {
      if (saved === undefined) delete process.env.PEER_CLUSTER_REGISTRY;
      else process.env.PEER_CLUSTER_REGISTRY = saved;
    }
  });
});

/** Resolves once `check()` holds, looking again on each change in the directory of `file`. */
function changed(file: string, check: () => boolean, timeout = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(file), () => look());
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${file}: not changed as expected within ${timeout} ms`));
    }, timeout);
    function look() {
      if (!check()) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    }
    look();
  });
}

describe('runtime bundle', () => {
  it('runs from a bundle whose V8 code cache the first ready peer writes; a bad cache is replaced', async () => {
    const entry = await runtimeEntry();
    expect(entry).toMatch(/runtime-[0-9a-f]{16}\.cjs$/);
    const cache = entry.replace(/\.cjs$/, '.v8cache');
    writeFileSync(cache, 'not a code cache');
    // And the lock of a peer killed while it wrote the cache (a cluster stopped just after ready).
    writeFileSync(`${cache}.lock`, String(spawnSync(process.execPath, ['-e', '0']).pid));
    const p = await spawnPeer({ root, apps: ['counter.mjs'], cluster: 'boot-cache' });
    peers.push(p);
    // The runtime runs from the bundle, and what it imports still works: apps, and import() in evaluate().
    expect(await p.evaluate(() => new Error('where').stack)).toContain('.cjs');
    expect(await p.evaluate(async () => (await import('node:os')).platform())).toBe(process.platform);
    const deadline = Date.now() + 5000;
    while (statSync(cache).size < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(statSync(cache).size).toBeGreaterThan(1000);
    expect(existsSync(`${cache}.lock`)).toBe(false);
    // The next peer starts from it.
    const q = await spawnPeer({ root, apps: ['counter.mjs'], cluster: 'boot-cache' });
    peers.push(q);
    expect(await q.call('inc', 2)).toBe(2);
    expect(readFileSync(cache).length).toBeGreaterThan(1000);
  });

  it('the first peer that links to FULLER_CACHE_LINKS nodes writes a fuller cache, once', async () => {
    const entry = await runtimeEntry();
    const cache = entry.replace(/\.cjs$/, '.v8cache');
    const marker = `${cache}.fuller`;
    // A cache V8 rejects, left with the marker of a fuller one: the next ready peer writes a new
    // cache, of what a boot runs, and removes the marker.
    writeFileSync(cache, 'not a code cache');
    writeFileSync(marker, '');
    const first = await spawnPeer({ root, apps: ['counter.mjs'], cluster: 'boot-fuller-cache' });
    peers.push(first);
    await changed(cache, () => !existsSync(marker));
    await first.stop();
    const before = statSync(cache);
    expect(before.size).toBeGreaterThan(1000);
    const cluster = async (name: string) => {
      const c = await startCluster({ count: FULLER_CACHE_LINKS + 1, name, root, apps: ['counter.mjs'] });
      // A round trip to each peer: whatever its last nodeup set off has run.
      await Promise.all(c.peers.map((p) => p.evaluate(() => 0)));
      return c;
    };
    const big = await cluster('boot-fuller-cache-1');
    try {
      expect(existsSync(marker)).toBe(true);
      const fuller = statSync(cache);
      expect(fuller.mtimeMs).toBeGreaterThan(before.mtimeMs);
      expect(fuller.size).toBeGreaterThan(before.size);
    } finally {
      await big.stop();
    }
    const fuller = statSync(cache);
    // The peers of the next large cluster start from it and leave it as it is.
    const next = await cluster('boot-fuller-cache-2');
    await next.stop();
    expect(statSync(cache).mtimeMs).toBe(fuller.mtimeMs);
  });

  it('a peer whose bundle is gone runs the plain runtime', async () => {
    const entry = await runtimeEntry();
    const body = entry.replace(/\.cjs$/, '.bundle.js');
    const aside = `${body}.aside-${process.pid}`;
    renameSync(body, aside);
    try {
      const p = await spawnPeer({ root, apps: ['counter.mjs'], cluster: 'boot-no-bundle' });
      peers.push(p);
      expect(await p.evaluate(() => new Error('where').stack)).toContain('/dist/peer/evaluate.js');
      expect(await p.call('inc', 3)).toBe(3);
    } finally {
      renameSync(aside, body);
    }
  });

  it("removes other builds' files once no test process used them for a week", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-runtime-cache-'));
    try {
      const old = new Date(Date.now() - 8 * 24 * 3600_000);
      const files = {
        current: ['runtime-aaaaaaaaaaaaaaaa.cjs', 'runtime-aaaaaaaaaaaaaaaa.v8cache'],
        stale: [
          'runtime-bbbbbbbbbbbbbbbb.cjs',
          'runtime-bbbbbbbbbbbbbbbb.bundle.js',
          'runtime-bbbbbbbbbbbbbbbb-1x.v8cache',
        ],
        used: ['runtime-cccccccccccccccc.cjs', 'runtime-cccccccccccccccc.bundle.js'],
        other: ['notes.txt'],
      };
      for (const name of Object.values(files).flat()) writeFileSync(join(dir, name), 'x');
      for (const name of [...files.current, ...files.stale, files.used[1]!, ...files.other])
        utimesSync(join(dir, name), old, old);
      await prune(dir, 'aaaaaaaaaaaaaaaa');
      expect(readdirSync(dir).sort()).toEqual([...files.current, ...files.used, ...files.other].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('code that runs in a peer', () => {
  /** Every module Node loads for `import(file)`, as a module hook in a fresh process sees them. */
  async function moduleGraph(file: string): Promise<string[]> {
    const hook = `import { writeSync } from 'node:fs';
export async function load(url, context, next) { writeSync(1, url + '\\n'); return next(url, context); }`;
    const script = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
await import(${JSON.stringify(pathToFileURL(file).href)});`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    return stdout.split('\n').filter(Boolean);
  }

  // A factory strategy's module is loaded again in every peer at boot (its spec): through
  // `@peer-cluster/core` it would bring all of core, its schema library included (≈55 ms of CPU per
  // peer).
  it.each([
    'strategies/static-hosts/dist/index.js',
    'strategies/dns/dist/index.js',
    'examples/custom-strategy/dist/index.js',
  ])('%s loads core only through @peer-cluster/core/peer', async (module) => {
    const graph = await moduleGraph(fileURLToPath(new URL(`../../${module}`, import.meta.url)));
    expect(graph[0]).toMatch(new RegExp(`${module.replaceAll('.', '\\.')}$`));
    expect(graph).toContainEqual(expect.stringMatching(/\/core\/dist\/in-peer\.js$/));
    expect(graph.filter((url) => /\/core\/dist\/index\.js$|\/valibot\//.test(url))).toEqual([]);
  });

  it('an app catches the errors of the bundled node with instanceof the classes it imports', async () => {
    const p = await spawnPeer({ root, apps: ['catches-node-down.mjs'], cluster: 'boot-errors' });
    peers.push(p);
    expect(await p.call('call-gone', 'gone@127.0.0.1:9')).toEqual({
      name: 'NodeDownError',
      NodeDownError: true,
      PeerClusterError: true,
      RpcTimeoutError: false,
      RemoteError: false,
      Error: true,
    });
  });

  it("an app catches a RemoteError, a handler's throw on another node, as a RemoteError", async () => {
    const c = await startCluster({ count: 2, root, apps: ['catches-node-down.mjs'], name: 'boot-remote' });
    try {
      const [a, b] = c.peers;
      expect(await a!.call('call-throws', b!.node)).toEqual({
        name: 'RemoteError',
        causeName: 'RemoteError',
        RemoteError: true,
        causeRemoteError: true,
        PeerClusterError: true,
      });
    } finally {
      await c.stop();
    }
  });

  // A peer's healer and strategy fail with errors of their own (a dial's LinkError, a refresh's
  // RefreshTimeoutError, the local registry's): code in the peer names them from the peer entry.
  it("the peer entry has the errors a peer's node, healer and strategy throw", async () => {
    const entry = await import('@peer-cluster/core/peer');
    expect(entry).toMatchObject({
      LinkError: errors.LinkError,
      HandshakeError: errors.HandshakeError,
      RefreshTimeoutError: errors.RefreshTimeoutError,
      RegistryUnavailableError: errors.RegistryUnavailableError,
      RegistryVersionError: errors.RegistryVersionError,
      HealerShutdownError: errors.HealerShutdownError,
    });
    const p = await spawnPeer({
      root,
      apps: ['catches-healer-errors.mjs'],
      cluster: 'boot-healer-errors',
      strategy: customStrategy({ discover: () => ['127.0.0.1:1'] }),
    });
    peers.push(p);
    expect(await p.call('refresh')).toEqual([
      { node: '127.0.0.1:1', name: 'LinkError', LinkError: true, PeerClusterError: true },
    ]);
  });

  it('instanceof holds for the same class from another copy of core, and only for it', async () => {
    const other = (await import(
      `${new URL('../dist/errors.js', import.meta.url).href}?copy`
    )) as typeof errors;
    expect(other.NodeDownError).not.toBe(errors.NodeDownError);
    const down = new other.NodeDownError('a@127.0.0.1:1', 'm');
    expect(down instanceof errors.NodeDownError).toBe(true);
    expect(down instanceof errors.PeerClusterError).toBe(true);
    expect(down instanceof errors.RpcTimeoutError).toBe(false);
    expect(new errors.RemoteError('a', {}) instanceof other.RemoteError).toBe(true);
    class Custom extends other.NodeDownError {}
    expect(new Custom('a@127.0.0.1:1', 'm') instanceof errors.NodeDownError).toBe(true);
    // A look-alike is not one: the name alone does not make an instance.
    const lookAlike = Object.assign(new Error('x'), { name: 'NodeDownError' });
    expect(lookAlike instanceof errors.NodeDownError).toBe(false);
    class NodeDownError extends Error {}
    expect(new NodeDownError() instanceof errors.NodeDownError).toBe(false);
    for (const value of [null, undefined, 'NodeDownError', 42, Object.create(null)])
      expect(value instanceof errors.PeerClusterError).toBe(false);
  });
});

/** Live processes of a process group (from /proc/<pid>/stat; zombies left out). */
function groupMembers(pgid: number): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // After the command name, which may hold spaces: state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) !== pgid || state === 'Z') continue;
      found.push({
        pid: Number(entry),
        cmd: readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ').trim(),
      });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Resolves once none of `pids` is a live process. */
async function waitForGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 3000;
  const alive = () =>
    pids.filter((pid) => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z ');
      } catch {
        return false;
      }
    });
  while (alive().length > 0) {
    if (Date.now() > deadline) throw new Error(`still running: ${alive().join(', ')}`);
    // Processes we are not the parent of can only be polled for.
    await new Promise((r) => setTimeout(r, 25));
  }
}
