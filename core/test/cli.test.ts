import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RegistryClient, runRegistry } from '@peer-cluster/core/registry';
import { describe, expect, it } from 'vitest';
import { killWhenTestEnds } from '../../test-support/children.js';
import { peerProcesses, waitForNoPeers } from '../../test-support/procs.js';
import { assertReapPlatform } from '../dist/cli/reap.js';
import { PeerClusterError } from '../dist/errors.js';
import { PROTOCOL_VERSION as REGISTRY_PROTOCOL_VERSION } from '../dist/registry/protocol.js';

const bin = createRequire(import.meta.url)
  .resolve('@peer-cluster/core/package.json')
  .replace(/package\.json$/, 'dist/cli/main.js');
const fixtures = fileURLToPath(new URL('./fixtures/cli/', import.meta.url));

function cli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: fixtures,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killWhenTestEnds(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, out }));
  /** Resolves when the output so far matches. */
  const until = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(out);
        if (match) {
          child.stdout!.off('data', check);
          resolve(match[0]);
        }
      };
      child.stdout!.on('data', check);
      exited.then(() =>
        pattern.test(out) ? resolve(out) : reject(new Error(`exited without ${pattern}:\n${out}`)),
      );
      check();
    });
  return { child, exited, until, output: () => out };
}

describe('peer-cluster CLI', () => {
  it.each(['up', 'registry', 'ls', 'reap'])('prints help for %s', async (command) => {
    const { code, out } = await cli([command, '--help']).exited;
    expect(code).toBe(0);
    expect(out).toContain(`Usage: peer-cluster ${command}`);
  });

  it("prints a command's help for `help <command>`, and rejects `help` of an unknown command", async () => {
    for (const command of ['up', 'registry', 'ls', 'reap']) {
      const { code, out } = await cli(['help', command]).exited;
      expect(code).toBe(0);
      expect(out).toContain(`Usage: peer-cluster ${command}`);
    }
    const bogus = await cli(['help', 'bogus']).exited;
    expect(bogus.code).toBe(2);
    expect(bogus.out).toContain('help takes one command name, got "bogus"');
  });

  it('with no command, prints its help on stderr and exits 2', async () => {
    const run = cli([]);
    let stdout = '';
    run.child.stdout!.on('data', (d) => (stdout += d));
    const { code, out } = await run.exited;
    expect(code).toBe(2);
    expect(out).toContain('Usage: peer-cluster <command>');
    expect(stdout).toBe('');
  });

  it('prints the version of the package it comes from', async () => {
    const { version } = createRequire(import.meta.url)('@peer-cluster/core/package.json') as {
      version: string;
    };
    for (const flag of ['--version', '-v']) {
      const { code, out } = await cli([flag]).exited;
      expect(code).toBe(0);
      expect(out.trim()).toBe(version);
    }
  });

  it('is linked as the workspace command `npx peer-cluster` (also in a fresh checkout, before dist exists)', async () => {
    const linked = fileURLToPath(new URL('../../node_modules/.bin/peer-cluster', import.meta.url));
    const child = spawn(linked, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const [code] = await once(child, 'exit');
    expect(out).toContain('Usage: peer-cluster <command>');
    expect(code).toBe(0);
  });

  it.each([
    [['bogus'], /unknown command "bogus"/],
    [['up', '--count', 'zero', '--app', 'app.js'], /--count must be an integer ≥ 1, got "zero"/],
    [['up', '--count', '2'], /give at least one --app PATH/],
    [['up', '--app', 'app.js', '--env', 'NOEQUALS'], /--env takes K=V, got "NOEQUALS"/],
    [['reap', '--force'], /Unknown option '--force'/],
    [['ls', 'extra'], /Unexpected argument 'extra'/],
    [['registry', '--port', 'abc'], /--port must be an integer in 0\.\.65535, got "abc"/],
    [['registry', '--port', '70000'], /--port must be an integer in 0\.\.65535, got "70000"/],
    [['registry', '--idle-timeout=-1'], /--idle-timeout must be an integer in 0\.\.2147483647, got "-1"/],
    // A longer timer fires at once: the registry would exit right after it started.
    [
      ['registry', '--port', '0', '--idle-timeout', '3000000000'],
      /--idle-timeout must be an integer in 0\.\.2147483647, got "3000000000"/,
    ],
  ])('rejects %j with a usage error, not a stack trace', async (args, message) => {
    const { code, out } = await cli(args).exited;
    expect(code).toBe(2);
    expect(out).toMatch(message);
    expect(out).toContain('Usage: peer-cluster');
    expect(out).not.toMatch(/\n\s+at /);
  });

  it('up starts a cluster, prints its table and logs, and Ctrl-C stops every peer', async () => {
    const name = `cli-up-${process.pid}`;
    const up = cli([
      'up',
      '--count',
      '2',
      '--app',
      'app.js',
      '--env',
      'GREETING=you',
      '--port',
      'admin',
      '--node-arg=--max-old-space-size=64',
      '--name',
      name,
    ]);
    await up.until(/\[peer-1\] cli app peer-1 greets you, admin port \d+, small heap/);
    await up.until(/\[peer-2\] cli app peer-2 greets you, admin port \d+, small heap/);
    // A plain aligned table (as in a failure report), indented as ls indents: no console.table
    // frame, (index) column or quotes.
    const printed = await up.until(
      new RegExp(`cluster ${name}\\n {2}peer .*\\n {2}peer-1 .*\\n {2}peer-2 .*\\n`),
    );
    const [, header = '', ...rows] = printed.trimEnd().split('\n');
    expect(header.trim().split(/ {2,}/)).toEqual(['peer', 'state', 'pid', 'node', 'ports', 'links']);
    for (const [i, row] of rows.entries()) {
      const peer = `peer-${i + 1}`;
      expect(row).toMatch(
        new RegExp(
          `^ {2}${peer} +[a-z]+ +\\d+ +${peer}@127\\.0\\.0\\.1:\\d+ +PORT=\\d+ PORT_ADMIN=\\d+ +\\d+$`,
        ),
      );
      // Each column starts where its heading does.
      expect(row.indexOf(`${peer}@`)).toBe(header.indexOf('node'));
      expect(row.indexOf('PORT=')).toBe(header.indexOf('ports'));
      expect(row.search(/\d+$/)).toBe(header.indexOf('links'));
    }
    expect(up.output()).not.toMatch(/\(index\)|'peer-|[┌└│]/);
    expect(peerProcesses(name)).toHaveLength(2);
    up.child.kill('SIGINT');
    const { code, out } = await up.exited;
    expect(code).toBe(0);
    expect(out).toContain('All peers stopped.');
    await waitForNoPeers({ cluster: name, timeout: 3000 });
  });

  it('up stops at Ctrl-C while its peers still boot, not at the boot timeout', async () => {
    const name = `cli-up-booting-${process.pid}`;
    const up = cli(['up', '--count', '2', '--app', 'never-ready.js', '--name', name]);
    await up.until(/\[peer-1\] never ready, waiting forever/);
    await up.until(/\[peer-2\] never ready, waiting forever/);
    up.child.kill('SIGINT');
    const { code, out } = await up.exited;
    expect(out).toContain('Stopping…');
    expect(out).toContain('All peers stopped.');
    expect(out).not.toContain('PeerBootError');
    expect(code).toBe(0);
    await waitForNoPeers({ cluster: name, timeout: 3000 });
  });

  it('up says an app is not found (not that a peer failed to boot), and what may have been meant', async () => {
    const { code, out } = await cli(['up', '--count', '1', '--app', 'missing.js']).exited;
    expect(code).toBe(1);
    expect(out).toBe(
      `peer-cluster: app not found: missing.js (no module at ${fixtures}missing.js). Apps resolve from the current directory: check the path. No peer was started.\n`,
    );
    const misspelt = await cli(['up', '--count', '1', '--app', 'ap.js']).exited;
    expect(misspelt.code).toBe(1);
    expect(misspelt.out).toBe(
      `peer-cluster: app not found: ap.js (no module at ${fixtures}ap.js). Did you mean ./app.js? No peer was started.\n`,
    );
  });

  it('up refuses more peers than the registry leases it ports for, naming --count, the limit and why', async () => {
    const { code, out } = await cli(['up', '--count', '2049', '--app', 'app.js']).exited;
    expect(out).toContain('InvalidOptionsError: Invalid option `count`: must be at most 2048');
    expect(out).toContain('the local registry leases at most 2048 ports to one process');
    expect(code).toBe(1);
    // At the limit, a missing app is what it reports.
    const missing = await cli(['up', '--count', '2048', '--app', 'missing.js']).exited;
    expect(missing.out).toContain('peer-cluster: app not found: missing.js');
  });

  it('reap kills orphaned peers, says what it killed, and leaves live ones alone', async () => {
    const cluster = `cli-reap-${process.pid}`;
    const env = { PATH: process.env.PATH, PEER_CLUSTER: cluster, PEER_NAME: 'peer-9' };
    // An orphan as a crashed runner leaves it: its parent exits, init adopts it.
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'],
           { detached: true, stdio: 'ignore' }); c.unref(); console.log(c.pid);`,
      ],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let printed = '';
    parent.stdout!.on('data', (d) => (printed += d));
    await once(parent, 'exit');
    const orphan = Number(printed.trim());
    // A peer whose parent (this test) is alive: reap must not touch it without --all.
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      detached: true,
      stdio: 'ignore',
      env: { ...env, PEER_NAME: 'peer-10' },
    });
    killWhenTestEnds(live, { group: true });
    await once(live, 'spawn');

    // --json: one document on stdout, what would be killed with what the text says of it.
    const listed = await cli(['reap', '--dry-run', '--json', '--cluster', cluster]).exited;
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toEqual({
      dryRun: true,
      cluster,
      peers: [
        {
          pid: orphan,
          ppid: expect.any(Number),
          cluster,
          name: 'peer-9',
          command: expect.stringContaining('setInterval'),
          orphaned: true,
        },
      ],
      parented: 1,
      stillRunning: [],
    });

    const { code, out } = await cli(['reap', '--cluster', cluster]).exited;
    expect(code).toBe(0);
    expect(out).toContain(`pid ${orphan}  ${cluster}/peer-9`);
    expect(out).not.toContain('peer-10');
    expect(peerProcesses(cluster).map((p) => p.pid)).toEqual([live.pid]);
    // What is left is counted in this cluster only, however many peers other runs have.
    const again = await cli(['reap', '--dry-run', '--cluster', cluster]).exited;
    expect(again.out).toContain(
      `No orphaned peer processes of cluster ${cluster} (1 peer(s) still have a live parent`,
    );
    const other = await cli(['reap', '--dry-run', '--cluster', `${cluster}-none`]).exited;
    expect(other.out).toContain(`No peer processes of cluster ${cluster}-none found.`);

    const all = await cli(['reap', '--all', '--json', '--cluster', cluster]).exited;
    expect(all.code).toBe(0);
    const killed = JSON.parse(all.out);
    expect(killed).toMatchObject({ dryRun: false, cluster, parented: 0, stillRunning: [] });
    expect(killed.peers).toMatchObject([{ pid: live.pid, cluster, name: 'peer-10', orphaned: false }]);
    await waitForNoPeers({ cluster, timeout: 3000 });
  });

  it('reap on a platform without /proc fails with a named error saying what to do instead; on Linux it runs', () => {
    expect(() => assertReapPlatform('darwin')).toThrow(PeerClusterError);
    expect(() => assertReapPlatform('darwin')).toThrow(
      /reap needs Linux's \/proc .* this is darwin: .*cluster\.stop\(\).* by its pid/,
    );
    expect(() => assertReapPlatform('linux')).not.toThrow();
  });

  it('reap returns once what it killed is gone: a process with 1 GiB to unmap, all its threads', async () => {
    const cluster = `cli-reap-gone-${process.pid}`;
    // A stand-in peer (PEER_CLUSTER= is what reap looks for) that takes tens of ms to die after
    // SIGKILL, the kernel freeing its memory; Node's main thread is often a zombie before that,
    // while another of its threads still tears the process down.
    const heavy = spawn(
      process.execPath,
      ['-e', `const b = Buffer.alloc(2 ** 30, 1); process.send('ready'); setInterval(() => b[0]++, 1000)`],
      {
        detached: true,
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        env: { PATH: process.env.PATH, PEER_CLUSTER: cluster, PEER_NAME: 'heavy' },
      },
    );
    killWhenTestEnds(heavy, { group: true });
    await once(heavy, 'message');

    const { code, out } = await cli(['reap', '--all', '--cluster', cluster]).exited;
    // Read at once, before anything else can run: no waiting here, that is reap's job.
    const threads = liveThreads(heavy.pid!);
    expect(out).toContain(`pid ${heavy.pid}  ${cluster}/heavy`);
    expect(code).toBe(0);
    expect(threads, `threads of pid ${heavy.pid} still running as reap exited`).toEqual([]);
  });

  it('ls lists the nodes registered per cluster, two clusters of one name apart', async () => {
    const registry = `127.0.0.1:${await freePort()}`;
    const env = { PEER_CLUSTER_REGISTRY: registry };
    const name = `cli-ls-${process.pid}`;
    const up = cli(['up', '--count', '2', '--app', 'app.js', '--name', name], { env });
    await up.until(new RegExp(`cluster ${name}\\n(?: {2}.*\\n)*? {2}peer-2 `));
    const one = await cli(['ls'], { env }).exited;
    expect(one.code).toBe(0);
    expect(one.out).toContain(`\n  ${name}\n`);
    expect(one.out.match(/^ {4}peer-\d@127\.0\.0\.1:\d+ {2}\(pid \d+\)$/gm)).toHaveLength(2);
    // Each peer's app port (PORT) is leased: the ports are listed, not only counted.
    expect(one.out).toMatch(/, 2 leased port\(s\)\n/);
    expect(one.out).toMatch(/\n {2}leased ports: \d+(, \d+|-\d+)\n/);
    const json = await cli(['ls', '--json'], { env }).exited;
    expect(json.code).toBe(0);
    const status = JSON.parse(json.out);
    expect(Object.keys(status)).toEqual(['address', 'pid', 'clusters', 'leases', 'connections']);
    expect(status.address).toBe(registry);
    expect(status.clusters[name]).toHaveLength(2);
    expect(status.leases).toHaveLength(2);
    // A second cluster of the same name (another test file naming its cluster alike).
    const again = cli(['up', '--count', '1', '--app', 'app.js', '--name', name], { env });
    await again.until(new RegExp(`cluster ${name}\\n(?: {2}.*\\n)*? {2}peer-1 `));
    const two = await cli(['ls'], { env }).exited;
    expect(two.out).toContain(`  ${name}: 2 clusters of this name`);
    expect(two.out.match(/^ {4}cluster \S+$/gm)).toHaveLength(2);
    expect(two.out.match(/^ {6}peer-\d@127\.0\.0\.1:\d+ {2}\(pid \d+\)$/gm)).toHaveLength(3);
    for (const u of [up, again]) u.child.kill('SIGINT');
    await Promise.all([up.exited, again.exited]);
    await waitForNoPeers({ cluster: name });
  });

  it('ls escapes what a client registered: control characters cannot restyle the terminal', async () => {
    const registry = await runRegistry({ port: 0, idleTimeout: 0, log: () => {} });
    const client = await RegistryClient.connect({ port: registry.port, autoStart: false });
    try {
      const forged = '\n  pc-forged\n    peer-1@127.0.0.1:1';
      await client.register(`pc-\u001b[2J${forged}`, {
        id: `peer-1@127.0.0.1:40000\u001b[31m${forged}`,
        name: 'peer-1',
        host: '127.0.0.1',
        port: 40000,
      });
      const { code, out } = await cli(['ls'], {
        env: { PEER_CLUSTER_REGISTRY: `127.0.0.1:${registry.port}` },
      }).exited;
      expect(code).toBe(0);
      expect(out).not.toContain('\u001b');
      expect(out).not.toContain('\n  pc-forged');
      expect(out).toContain('  pc-\\u001b[2J\\u000a  pc-forged');
      expect(out).toContain('    peer-1@127.0.0.1:40000\\u001b[31m\\u000a  pc-forged');
    } finally {
      await client.close();
      await registry.close();
    }
  });

  it('ls says so when no registry runs (and starts none), and fails when the port holds something else', async () => {
    const none = `127.0.0.1:${await freePort()}`;
    const empty = await cli(['ls'], { env: { PEER_CLUSTER_REGISTRY: none } }).exited;
    expect(empty.out.trim()).toBe(`No local registry is running at ${none}: no nodes are registered.`);
    expect(empty.code).toBe(0);
    // --json keeps its shape for a script, registry or not: the same keys, in the same order.
    const json = await cli(['ls', '--json'], { env: { PEER_CLUSTER_REGISTRY: none } }).exited;
    expect(json.code).toBe(0);
    expect(Object.keys(JSON.parse(json.out))).toEqual([
      'address',
      'pid',
      'clusters',
      'leases',
      'connections',
    ]);
    expect(JSON.parse(json.out)).toEqual({
      address: none,
      pid: null,
      clusters: {},
      leases: [],
      connections: 0,
    });
    const probe = createConnection(Number(none.split(':')[1]), '127.0.0.1');
    const [refused] = await once(probe, 'error');
    expect(refused.code).toBe('ECONNREFUSED');

    const foreign = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${(foreign.address() as AddressInfo).port}`;
      const held = await cli(['ls'], { env: { PEER_CLUSTER_REGISTRY: address } }).exited;
      expect(held.out).toContain(`RegistryUnavailableError: The peer-cluster registry at ${address}`);
      expect(held.out).not.toContain('No local registry is running');
      expect(held.code).toBe(1);
    } finally {
      foreign.close();
    }
  });

  it('ls says so plainly when the registry answers with a line longer than a client reads', async () => {
    // A registry as far as its hello goes, that answers every request with 17 MiB on one line.
    const huge = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(
        `${JSON.stringify({ type: 'hello', version: REGISTRY_PROTOCOL_VERSION, pid: process.pid })}\n`,
      );
      socket.once('data', () =>
        socket.write(`{"type":"status","id":1,"pad":"${'x'.repeat(17 * 1024 * 1024)}"}\n`),
      );
    });
    await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${(huge.address() as AddressInfo).port}`;
      const { code, out } = await cli(['ls'], { env: { PEER_CLUSTER_REGISTRY: address } }).exited;
      expect(out).toContain(
        `RegistryUnavailableError: The peer-cluster registry at ${address} sent an answer longer than 16 MiB (16777216 bytes), the most a client reads`,
      );
      expect(out).not.toContain(`${address} closed the connection`);
      expect(code).toBe(1);
    } finally {
      huge.close();
    }
  });

  it('registry on a port held by something else says so and fails; on one a registry holds, names it', async () => {
    const foreign = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    const port = (foreign.address() as AddressInfo).port;
    try {
      const held = await cli(['registry', '--port', String(port)]).exited;
      expect(held.out).toContain(
        `peer-cluster registry: port ${port} of 127.0.0.1 is held by something that is not a peer-cluster registry.`,
      );
      expect(held.code).toBe(3);
    } finally {
      foreign.close();
    }
    const first = cli(['registry', '--port', String(port), '--idle-timeout', '0']);
    await first.until(/listening on 127\.0\.0\.1:/);
    const second = await cli(['registry', '--port', String(port)]).exited;
    expect(second.out).toContain(
      `peer-cluster registry: another registry (pid ${first.child.pid}) already listens on port ${port} of 127.0.0.1`,
    );
    expect(second.code).toBe(1);
  });

  it('registry with its port from PEER_CLUSTER_REGISTRY names the registry that already holds that port', async () => {
    const port = await freePort();
    const env = { PEER_CLUSTER_REGISTRY: `127.0.0.1:${port}` };
    const first = cli(['registry', '--idle-timeout', '0'], { env });
    await first.until(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
    const second = await cli(['registry'], { env }).exited;
    expect(second.out).toContain(
      `peer-cluster registry: another registry (pid ${first.child.pid}) already listens on port ${port} of 127.0.0.1`,
    );
    expect(second.code).toBe(1);
  });

  it('registry on a non-loopback host (flag or PEER_CLUSTER_REGISTRY) warns on stderr that it has no authentication', async () => {
    const warning =
      /^peer-cluster registry: warning: listening on 0\.0\.0\.0:\d+, reachable from the network without authentication .*Use --host 127\.0\.0\.1 unless the cluster spans hosts\.\n$/;
    const env = { PEER_CLUSTER_REGISTRY: `0.0.0.0:${await freePort()}` };
    for (const [args, options] of [
      [['registry', '--host', '0.0.0.0', '--port', '0', '--quiet'], {}],
      [['registry'], { env }],
    ] as const) {
      const run = cli([...args], options);
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        run.child.stderr!.on('data', (d) => {
          stderr += d;
          if (stderr.endsWith('\n')) resolve();
        });
        run.exited.then(() => reject(new Error(`exited: ${run.output()}`)));
      });
      expect(stderr).toMatch(warning);
      run.child.kill('SIGTERM');
      expect((await run.exited).code).toBe(0);
    }
    // On loopback: nothing on stderr.
    const local = cli(['registry', '--port', '0']);
    let stderr = '';
    local.child.stderr!.on('data', (d) => (stderr += d));
    await local.until(/listening on 127\.0\.0\.1:/);
    // Its signals are handled before it says it listens: stopped cleanly, not by SIGTERM's default.
    local.child.kill('SIGTERM');
    expect((await local.exited).code).toBe(0);
    expect(stderr).toBe('');
  });

  it('registry run by hand stays up while idle (its help: never, by default), and --idle-timeout makes it exit', async () => {
    // The daemon's own idle default comes from this variable (30 s without it), which a client
    // sets for a daemon it starts: run by hand, the registry does not take it.
    const env = { PEER_CLUSTER_REGISTRY_IDLE_TIMEOUT: '50' };
    const port = await freePort();
    const kept = cli(['registry', '--port', String(port)], { env });
    await kept.until(/listening on /);
    // Nothing announces that a process did not exit: give the 50 ms idle timeout ten times over.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(kept.child.exitCode).toBe(null);
    const listed = await cli(['ls'], { env: { PEER_CLUSTER_REGISTRY: `127.0.0.1:${port}` } }).exited;
    expect(listed.out).toContain(`(pid ${kept.child.pid})`);
    const idle = await cli(['registry', '--port', '0', '--idle-timeout', '50']).exited;
    expect(idle.code).toBe(0);
    expect(idle.out).toContain('idle for 50 ms, exiting');
  });
});

async function freePort(): Promise<number> {
  const { default: getPort } = await import('get-port');
  return getPort();
}

/** The threads of `pid` that are not dead yet (zombie or dying), as `tid:state`. */
function liveThreads(pid: number): string[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tids.flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'Z' || state === 'X' ? [] : [`${tid}:${state}`];
    } catch {
      return [];
    }
  });
}
