import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  InvalidOptionsError,
  type LogLine,
  LogTimeoutError,
  type Peer,
  PeerBootError,
  PeerExitedError,
  RemoteError,
  spawnPeer,
} from '@peer-cluster/core';
import { afterEach, describe, expect, it } from 'vitest';
import { killWhenTestEnds } from '../../test-support/children.js';
import { peerProcesses, processGroup, waitForNoPeers } from '../../test-support/procs.js';
// busyBoot is internal: set it, and spawn the peers it applies to, through the same (unbundled) copy.
import { busyBoot, spawnPeer as spawnUnbundledPeer } from '../dist/peer/peer.js';

const root = fileURLToPath(new URL('./fixtures/apps/', import.meta.url));
const peers: Peer[] = [];

async function peer(options: Parameters<typeof spawnPeer>[0] = {}): Promise<Peer> {
  const p = await spawnPeer({ root, ...options });
  peers.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

describe('spawnPeer', () => {
  it('runs the apps in an isolated process and reports its ports and node id', async () => {
    const p = await peer({ apps: ['counter.mjs'], ports: ['admin'], name: 'solo', cluster: 'peer-basics' });
    expect(p.state).toBe('running');
    expect(p.name).toBe('solo');
    expect(p.pid).toBeGreaterThan(0);
    expect(p.port).toBeGreaterThan(0);
    expect(p.ports).toEqual({ default: p.port, admin: expect.any(Number) });
    expect(p.ports.admin).not.toBe(p.port);
    expect(p.node).toMatch(/^solo@127\.0\.0\.1:\d+$/);
    expect(p.url('/x')).toBe(`http://127.0.0.1:${p.port}/x`);
    const body = await (await fetch(p.url())).json();
    expect(body).toEqual({ name: 'solo', count: 1 });
    expect(p.timings?.apps.map((a) => a.app)).toEqual(['counter.mjs']);
    expect(peerProcesses('peer-basics').map((x) => x.pid)).toEqual([p.pid]);
  });

  it('on an IPv6 host, its node id and url() bracket the address', async () => {
    const p = await peer({ apps: ['counter.mjs'], host: '::1', name: 'six' });
    expect(p.node).toMatch(/^six@\[::1\]:\d+$/);
    expect(p.url('/x')).toBe(`http://[::1]:${p.port}/x`);
    expect(await (await fetch(p.url())).json()).toEqual({ name: 'six', count: 1 });
  });

  it('gives the peer only the allowlist, the declared env and the harness variables', async () => {
    process.env.VITEST_PEER_CLUSTER_PROBE = 'leak';
    process.env.JEST_PEER_CLUSTER_PROBE = 'leak';
    process.env.SOME_PARENT_SECRET = 'leak';
    try {
      const p = await peer({
        env: ({ name, index }) => ({ GREETING: `hi ${name}`, N: index, FLAG: true }),
        ports: ['metrics-http'],
        index: 4,
        cluster: 'env-check',
      });
      const env = await p.evaluate((ctx) => ({ process: { ...process.env }, ctx: ctx.env }));
      expect(env.process.GREETING).toBe('hi peer-5');
      expect(env.process.N).toBe('4');
      expect(env.process.FLAG).toBe('true');
      expect(env.process.PORT).toBe(String(p.port));
      expect(env.process.PORT_METRICS_HTTP).toBe(String(p.ports['metrics-http']));
      expect(env.process.PEER_NAME).toBe('peer-5');
      expect(env.process.PEER_INDEX).toBe('4');
      expect(env.process.PEER_CLUSTER).toBe('env-check');
      expect(env.process.PATH).toBe(process.env.PATH);
      expect(env.process.VITEST_PEER_CLUSTER_PROBE).toBeUndefined();
      expect(env.process.JEST_PEER_CLUSTER_PROBE).toBeUndefined();
      expect(env.process.SOME_PARENT_SECRET).toBeUndefined();
      expect(Object.keys(env.process).filter((k) => /^(VITEST|JEST)/.test(k))).toEqual([]);
      expect(env.ctx).toEqual(env.process);

      const inheriting = await peer({ inheritEnv: true, name: 'inheriting' });
      const inherited = await inheriting.evaluate(() => ({ ...process.env }));
      expect(inherited.SOME_PARENT_SECRET).toBe('leak');
      expect(inherited.VITEST_PEER_CLUSTER_PROBE).toBeUndefined();
      expect(inherited.JEST_PEER_CLUSTER_PROBE).toBeUndefined();
      expect(inherited.NODE_OPTIONS).toBeUndefined();

      const picking = await peer({ inheritEnv: ['SOME_PARENT_SECRET'], name: 'picking' });
      const picked = await picking.evaluate(() => ({ ...process.env }));
      expect(picked.SOME_PARENT_SECRET).toBe('leak');
      expect(picked.VITEST_PEER_CLUSTER_PROBE).toBeUndefined();
      // Naming a runner variable is a mistake said at once (invalid-input.test.ts), not a silent drop.
      await expect(peer({ inheritEnv: ['VITEST_PEER_CLUSTER_PROBE'] })).rejects.toThrow(InvalidOptionsError);
    } finally {
      delete process.env.VITEST_PEER_CLUSTER_PROBE;
      delete process.env.JEST_PEER_CLUSTER_PROBE;
      delete process.env.SOME_PARENT_SECRET;
    }
  });

  it('never puts the cookie in the argv or the env of the peer', async () => {
    const cookie = 'cookie-that-must-stay-secret-4f9a';
    const p = await peer({ cookie, apps: ['counter.mjs'] });
    expect(readFileSync(`/proc/${p.pid}/environ`, 'latin1')).not.toContain(cookie);
    expect(readFileSync(`/proc/${p.pid}/cmdline`, 'latin1')).not.toContain(cookie);
    expect(readFileSync(`/proc/${p.pid}/environ`, 'latin1')).toContain('PEER_CLUSTER=');
    expect(p.logs().some((l) => l.line.includes(cookie))).toBe(false);
  });

  it('keeps a runaway line as its head, once and in order, and drops the rest of it', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    // 200 000 characters arrive in several pipe reads: the head is kept at once, the rest dropped.
    await p.evaluate(() => {
      process.stdout.write(`first\n${'x'.repeat(200_000)}\nlast\n`);
    });
    const lines = p.logs().map((l) => l.line);
    const at = lines.indexOf('first');
    expect(lines.slice(at + 2, at + 3)).toEqual(['last']);
    expect(lines[at + 1]).toMatch(/^x{16384}\.\.\. \((over )?\d+ chars\)$/);
  });

  it('compiles a TypeScript app that imports another local TypeScript file', async () => {
    const p = await peer({ apps: ['ts-app.ts'] });
    expect(await p.call('greet')).toEqual({ text: `hello from ${p.name}`, from: p.name, mode: 'ready' });
  });

  it('fails the boot of a TypeScript app that does not compile with the app, phase and esbuild error, leaving no process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-ts-broken-'));
    try {
      await writeFile(join(dir, 'broken.ts'), 'export function start(ctx: {) {}\n');
      const error = await spawnPeer({ root: dir, apps: ['broken.ts'], cluster: 'ts-broken' }).then(
        () => undefined,
        (e: unknown) => e as PeerBootError,
      );
      expect(error).toBeInstanceOf(PeerBootError);
      expect(error!.phase).toBe('app');
      expect(error!.app).toBe('broken.ts');
      expect(error!.message).toMatch(/could not be compiled/);
      await waitForNoPeers({ cluster: 'ts-broken' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs ES module, CommonJS and top-level-await apps, each once', async () => {
    const p = await peer({ apps: ['plain-esm.mjs', 'commonjs-app.cjs', 'top-level-await.mjs'] });
    expect(await p.call('cjs')).toEqual({ runs: 1, esm: 1 });
    expect(await p.call('tla')).toEqual({ ready: 'awaited', runs: 1 });
  });

  it('runs a side-effect app (no start) that listens on PORT', async () => {
    const p = await peer({ apps: ['side-effect-server.mjs'] });
    expect(await (await fetch(p.url())).text()).toBe(`side-effect ${p.name}`);
    expect(p.logs().filter((l) => l.line.startsWith('peer-cluster:'))).toEqual([]);
  });

  it('a side-effect app that default-exports its request handler gets no such line', async () => {
    const p = await peer({ apps: ['default-handler.mjs'] });
    expect(await (await fetch(p.url())).text()).toBe(`handler ${p.name}`);
    // A line written on stderr after the boot: once it is in, so is anything the boot wrote there.
    const marked = new Promise<void>((resolve) => p.on('log', (l) => l.line === 'marker' && resolve()));
    await p.evaluate(() => process.stderr.write('marker\n'));
    await marked;
    expect(p.logs().filter((l) => l.line.startsWith('peer-cluster:'))).toEqual([]);
  });

  it('says on stderr that an app whose default export is a function was not started', async () => {
    const p = await peer({ apps: ['default-function.mjs'] });
    const said = (line: string) => line.includes('default-function.mjs was loaded as a side-effect app');
    const logged = new Promise<LogLine>((resolve) => p.on('log', (l) => said(l.line) && resolve(l)));
    const line = p.logs().find((l) => said(l.line)) ?? (await logged);
    expect(line.stream).toBe('stderr');
    expect(line.line).toContain('its default export is a function, which is not called');
    expect(line.line).toContain('export async function start(ctx)');
    await expect(p.call('hi')).rejects.toThrow(/No handler "hi"/);
  });

  it('retries the boot with new ports when an app port is taken (EADDRINUSE)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-collide-'));
    try {
      const marker = join(dir, 'first-port');
      const p = await peer({ apps: ['collides-once.mjs'], name: 'retrier', env: { COLLIDE_MARKER: marker } });
      const first = Number(await readFile(marker, 'utf8'));
      expect(p.port).not.toBe(first);
      expect(await (await fetch(p.url())).text()).toBe('collided-once retrier');
      expect(p.logs().some((l) => /EADDRINUSE, retrying with new ports/.test(l.line))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails at once, saying so, when an app listens on a fixed port rather than PORT', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const fixed = (taken.address() as AddressInfo).port;
      const error = await peer({ apps: ['fixed-port.mjs'], name: 'fixed', env: { FIXED_PORT: fixed } }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PeerBootError);
      const { message } = error as PeerBootError;
      expect(message).toContain(`port ${fixed} is not one leased to fixed, whose are PORT=`);
      expect(message).toContain('listen on process.env.PORT');
      // New ports cannot free a port the app chose itself: no retry.
      expect(message).not.toContain('retrying with new ports');
    } finally {
      taken.close();
    }
  });
});

describe('control channel', () => {
  it('evaluate() runs the function in the peer with structured-clone values both ways', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const arg = { when: new Date(0), big: 10n, set: new Set([1, 2]), bytes: new Uint8Array([1, 2, 3]) };
    const result = await p.evaluate(
      (ctx, a) => ({
        name: ctx.name,
        pid: process.pid,
        when: a.when.getTime(),
        big: a.big * 2n,
        set: new Set([...a.set, 3]),
        map: new Map([['k', a.bytes.length]]),
        error: new RangeError('kept'),
        count: (globalThis as any).counterApp.count,
      }),
      arg,
    );
    expect(result.name).toBe(p.name);
    expect(result.pid).toBe(p.pid);
    expect(result.when).toBe(0);
    expect(result.big).toBe(20n);
    expect(result.set).toEqual(new Set([1, 2, 3]));
    expect(result.map).toEqual(new Map([['k', 3]]));
    expect(result.error).toBeInstanceOf(Error);
    expect(result.error.message).toBe('kept');
    expect(result.count).toBe(0);
    expect(await p.evaluate(async () => (await import('node:os')).platform())).toBe(process.platform);
  });

  it("evaluate() runs functions as CommonJS transforms left them (ts-jest's __importStar, Babel's interop)", async () => {
    const p = await peer();
    // What TypeScript (module commonjs, esModuleInterop) and Babel emit for `await import('node:os')`
    // inside a test's function; their helpers are defined at the top of the test file, not in the function.
    const emitted = [
      "async () => (await Promise.resolve().then(() => __importStar(require('node:os')))).platform()",
      "async () => (await Promise.resolve().then(() => __importDefault(require('node:os')))).default.platform()",
      "async () => (await Promise.resolve().then(() => _interopRequireWildcard(require('node:os')))).default.platform()",
      // An async function TypeScript compiled for a target below ES2017.
      "() => __awaiter(void 0, void 0, void 0, function* () { const os = yield Promise.resolve().then(() => __importStar(require('node:os'))); return os.platform(); })",
    ];
    for (const source of emitted) {
      const fn = new Function(`return ${source}`)() as () => Promise<string>;
      expect(await p.evaluate(fn), source).toBe(process.platform);
    }
  });

  it('evaluate() explains that a captured variable does not travel', async () => {
    const p = await peer();
    const secret = 42;
    const error = await p.evaluate(() => secret).catch((e) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.message).toContain("evaluate() sends the function's source, not its closure");
    expect(error.message).toContain('`secret` is not defined in the peer');
    expect(await p.evaluate((_ctx, s) => s + 1, secret)).toBe(43);
    // A binding this file imports is rewritten by Vitest (\`__vite_ssr_import_N__\`): the error says so.
    const imported = await p.evaluate(() => fileURLToPath('file:///x')).catch((e) => e);
    expect(imported.message).toMatch(
      /it uses a binding the test file imports \(Vitest rewrote it as `__vite_ssr_import_\d+__`\), which is not defined in the peer; import it inside the function instead/,
    );
    const meta = await p.evaluate(() => import.meta.url).catch((e) => e);
    expect(meta.message).toContain(
      "it uses the test file's import.meta (Vitest rewrote it as `__vite_ssr_import_meta__`)",
    );
  });

  it('evaluate() leaves `import(` in strings, templates, comments and regular expressions as written', async () => {
    const p = await peer();
    const result = await p.evaluate(async () => [
      (await import('node:os')).platform(),
      'import(x)',
      `a import(y) ${'b'}`,
      /import\((z)\)/.source,
      // import(w)
    ]);
    expect(result).toEqual([process.platform, 'import(x)', 'a import(y) b', 'import\\((z)\\)']);
  });

  it('evaluate() says which name a compiler or a runner added to the function, and what to do', async () => {
    const p = await peer();
    // What the peer lacks when the function was compiled: a TypeScript helper (ts-jest, target below
    // ES2018), an async body Babel hoisted out of it (preset-env without targets), a module binding of
    // TypeScript's CommonJS output, and one that vi.mock's hoisting renamed.
    const emitted: [string, RegExp][] = [
      [
        '(_a) => { var { name } = _a, rest = __rest(_a, ["name"]); return rest; }',
        /`__rest` is a helper TypeScript \(ts-jest\) added to the test file .* Compile the tests for ES2022 or later/,
      ],
      [
        'function (_x) { return _ref2.apply(this, arguments); }',
        /`_ref2` is a helper \(or a hoisted async body\) Babel added .*targets: \{ node: 'current' \}/,
      ],
      [
        '() => node_fs_1.readFileSync("/x")',
        /`node_fs_1` is not defined in the peer\. If it is a module the test file imports .*import it inside the function instead/,
      ],
      [
        '() => (0, __vi_import_0__.hostname)()',
        /it uses a binding the test file imports \(Vitest rewrote it as `__vi_import_0__`\).*import it inside the function instead/,
      ],
    ];
    for (const [source, message] of emitted) {
      const fn = new Function(`return ${source}`)() as () => unknown;
      const error = (await p.evaluate(fn).catch((e) => e)) as RemoteError;
      expect(error, source).toBeInstanceOf(RemoteError);
      expect(error.message, source).toMatch(message);
    }
  });

  it("evaluate()'s import() of a relative path resolves from the peer's root, as require() does", async () => {
    const p = await peer();
    // As the test file wrote it (Vitest rewrites it to __vite_ssr_dynamic_import__)…
    expect(await p.evaluate(async () => Object.keys(await import(String('./counter.mjs'))))).toContain(
      'start',
    );
    // …and as a runner that leaves import() alone sends it.
    const plain = new Function('return async () => Object.keys(await import("./counter.mjs"))')();
    expect(await p.evaluate(plain)).toContain('start');
  });

  it("evaluate()'s import() errors say where a relative path resolved from, and that .ts is not compiled", async () => {
    const p = await peer();
    const missing = await p.evaluate(async () => import(String('./no-such-app.mjs'))).catch((e) => e);
    expect(missing).toBeInstanceOf(RemoteError);
    expect(missing.message).toContain(
      `(evaluate() resolves a relative import("./no-such-app.mjs") from the peer's root, ${root.replace(/\/$/, '')})`,
    );
    // Node 22.18 and later strip types themselves: there the import works.
    if ((process.features as { typescript?: unknown }).typescript) return;
    const ts = await p.evaluate(async () => import(String('./ts-helper.ts'))).catch((e) => e);
    expect(ts).toBeInstanceOf(RemoteError);
    expect(ts.message).toContain(
      "evaluate() does not compile TypeScript; reach .ts code through an app's handlers",
    );
  });

  it('a thrown value that is not an Error reaches the test as what it was, not [object Object]', async () => {
    const p = await peer();
    const thrown = await p
      .evaluate(() => {
        throw { status: 404, reason: 'missing' };
      })
      .catch((e) => e);
    expect(thrown).toBeInstanceOf(RemoteError);
    expect(thrown.message).toMatch(/^Error on .+: \{"status":404,"reason":"missing"\}$/);
    // No frames of the harness stand in for a stack that does not exist.
    expect(thrown.stack.split('\n').slice(0, 4)).toEqual([
      `${thrown.name}: ${thrown.message}`,
      `--- no remote stack (${p.node}): what was thrown had none ---`,
      '--- called from ---',
      expect.stringContaining('peer.test.ts'),
    ]);
  });

  it('evaluate() rethrows remote errors as RemoteError with the remote stack', async () => {
    const p = await peer();
    const error = await p
      .evaluate(() => {
        throw new TypeError('nope');
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.remoteName).toBe('TypeError');
    expect(error.message).toContain('nope');
    expect(error.stack).toContain('remote stack');
    // Kept, but not among the fields a runner prints (the stack shows it already).
    expect(error.remoteStack).toContain('TypeError: nope');
    expect(Object.keys(error)).not.toContain('remoteStack');
    // The peer runtime's own frames are left out; the test's call site is added.
    expect(error.stack).not.toMatch(/\.cache\/peer-cluster\/runtime-/);
    expect(error.stack).toMatch(/--- called from ---\n.*peer\.test\.ts:\d+:\d+/);
    const crashed = await p.evaluate(() => process.exit(7)).catch((e) => e);
    expect(crashed).toBeInstanceOf(PeerExitedError);
    expect(crashed.message).toContain(
      `on peer ${p.name} got no answer: its process exited with code 7 before answering`,
    );
    expect(crashed.stack).toMatch(/--- called from ---\n.*peer\.test\.ts:\d+:\d+/);
    await p.restart();
    const unclonable = await p.evaluate(() => () => 1).catch((e) => e);
    expect(unclonable).toBeInstanceOf(RemoteError);
    expect(unclonable.message).toMatch(/structured clones/);
  });

  it('a peer that runs out of memory while answering says so, and a later abort does not repeat it', async () => {
    const p = await peer({ nodeArgs: ['--max-old-space-size=16'] });
    const error = await p
      .evaluate(() => {
        const kept: object[] = [];
        for (;;) kept.push({ n: Math.random(), s: 'x'.repeat(32) });
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(PeerExitedError);
    expect(error.message).toContain(
      'its process was killed by SIGABRT before answering, after a fatal error: Reached heap limit Allocation failed - JavaScript heap out of memory. It ran out of memory',
    );
    expect(error.message).toContain("nodeArgs: ['--max-old-space-size=<MiB>']");
    await p.restart();
    const aborted = await p.evaluate(() => process.abort()).catch((e) => e);
    expect(aborted).toBeInstanceOf(PeerExitedError);
    expect(aborted.message).toContain('its process was killed by SIGABRT before answering.');
    expect(aborted.message).not.toContain('fatal error');
  });

  it("a call in flight when the test kills the peer says the test's kill ended it", async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const pending = p.evaluate(() => new Promise<never>(() => {})).catch((e) => e);
    await p.kill();
    const error = await pending;
    expect(error).toBeInstanceOf(PeerExitedError);
    expect(error.message).toMatch(
      /^evaluate\(.*\) on peer peer-\d+ got no answer: its process was killed by SIGKILL \(sent by peer\.kill\(\)\) before answering\. peer\.restart\(\) boots it again\.$/,
    );
    // A signal the app dies of on its own is not the test's, though the test sent another one.
    await p.restart();
    await p.evaluate(() => {
      process.on('SIGUSR2', () => process.abort());
    });
    const aborted = p.evaluate(() => new Promise<never>(() => {})).catch((e) => e);
    await p.kill('SIGUSR2');
    expect((await aborted).message).toContain(
      'its process was killed by SIGABRT before answering. Check the peer',
    );
  });

  it('call() runs a handler the app registered with ctx.cluster.handle', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    expect(await p.call('inc', 2)).toBe(2);
    expect(await p.call('inc')).toBe(3);
    expect(await p.call('whoami')).toEqual({ name: p.name, index: 0, node: p.node });
    await expect(p.call('missing')).rejects.toThrow(/missing/);
  });

  it('a method already handled is refused (two apps that register it fail the boot); unhandle() frees it', async () => {
    const twice = await peer({ apps: ['counter.mjs', 'counter.mjs'] }).catch((e) => e);
    expect(twice).toBeInstanceOf(PeerBootError);
    expect(twice.app).toBe('counter.mjs');
    expect(twice.message).toContain('Invalid option `method`: is already handled on node');
    expect(twice.message).toContain('(got "inc")');
    const p = await peer({ apps: ['counter.mjs'] });
    const again = await p.evaluate((ctx) => ctx.cluster.handle('inc', () => 0)).catch((e) => e);
    expect(again).toBeInstanceOf(RemoteError);
    expect(again.message).toContain(`is already handled on node ${p.node}`);
    expect(await p.call('inc', 2)).toBe(2);
    await p.evaluate((ctx) => {
      ctx.cluster.unhandle('inc');
      ctx.cluster.handle('inc', () => 'replaced');
    });
    expect(await p.call('inc', 2)).toBe('replaced');
  });

  it('an argument or a result that cannot be cloned is an error naming the call; the peer goes on', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const fromEvaluate = await p.evaluate((_ctx, arg) => arg, { onDone: () => 1 }).catch((e) => e);
    expect(fromEvaluate).toBeInstanceOf(InvalidOptionsError);
    expect(fromEvaluate.option).toBe('evaluate(fn, arg)');
    expect(fromEvaluate.message).toContain('cannot be sent to the peer');
    expect(fromEvaluate.message).toContain('(got {"onDone":"[function onDone]"})');
    const fromCall = await p.call<never>('inc', Symbol('step')).catch((e: InvalidOptionsError) => e);
    expect(fromCall).toBeInstanceOf(InvalidOptionsError);
    expect(fromCall.option).toBe('call("inc", ...args)');
    expect(await p.call('inc', 2)).toBe(2);
    // A result that cannot be: the error names the method that returned it.
    await p.evaluate((ctx) => ctx.cluster.handle('gives-function', () => () => 1));
    await expect(p.call('gives-function')).rejects.toThrow(
      /call\("gives-function"\): the result could not be sent back/,
    );
    expect(await p.call('inc', 1)).toBe(3);
  });

  it('nodes() and waitForNodes() follow the links of a lone peer', async () => {
    const a = await peer({ cluster: 'pair', name: 'a' });
    expect(await a.nodes()).toEqual([]);
    const b = await peer({ cluster: 'pair', name: 'b' });
    expect(await a.waitForNodes(1)).toEqual([b.node]);
    expect(await b.waitForNodes((nodes) => nodes.includes(a.node))).toEqual([a.node]);
    expect(await a.nodes()).toEqual([b.node]);
  });

  it('logs() keeps stdout and stderr line by line with timestamps', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const seen: string[] = [];
    p.on('log', (l) => seen.push(l.line));
    await p.evaluate((ctx) => {
      ctx.log('via ctx.log', { a: 1 });
      console.error('on stderr');
    });
    // Lines written before an answer are read before the answer resolves: no polling needed.
    const lines = p.logs();
    expect(lines).toContainEqual({
      at: expect.any(Number),
      stream: 'stdout',
      line: `counter listening on ${p.port}`,
    });
    expect(lines).toContainEqual({ at: expect.any(Number), stream: 'stdout', line: 'via ctx.log { a: 1 }' });
    expect(lines).toContainEqual({ at: expect.any(Number), stream: 'stderr', line: 'on stderr' });
    expect(seen).toContain('on stderr');
  });

  it('a line written just before an answer is in logs() when the answer resolves', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    for (let i = 0; i < 30; i++) {
      await p.evaluate((_ctx, n) => {
        // Enough to fill the pipe, so the answer overtakes the output unless the parent waits.
        console.log(`${'x'.repeat(100_000)}`);
        console.log(`out ${n}`);
        console.error(`err ${n}`);
      }, i);
      // stdout and stderr are separate pipes, so the two lines may arrive in either order.
      const lines = p.logs().map((l) => `${l.stream} ${l.line}`);
      expect(lines).toContain(`stdout out ${i}`);
      expect(lines).toContain(`stderr err ${i}`);
    }
  });

  it("logs: 'inherit' echoes each line prefixed with the peer name; 'silent' shows none", async () => {
    const echoed: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: any[]) => {
      echoed.push(String(chunk));
      return write.call(process.stdout, chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      const loud = await peer({ logs: 'inherit', name: 'loud' });
      await loud.evaluate((ctx) => ctx.log('hello from loud'));
      await expect.poll(() => echoed).toContain('[loud] hello from loud\n');
      expect(loud.logs().map((l) => l.line)).toContain('hello from loud');
    } finally {
      process.stdout.write = write;
    }
    const quiet = await peer({ logs: 'silent', name: 'quiet' });
    const seen: string[] = [];
    quiet.on('log', (l) => seen.push(l.line));
    await quiet.evaluate((ctx) => ctx.log('hush'));
    await expect.poll(() => seen).toContain('hush');
    expect(quiet.logs()).toEqual([]);
  });

  it("logs: 'inherit' stops echoing while this process's stdout is behind, and says how many lines it left out", async () => {
    // A test process whose stdout nobody reads while its peer writes 32 MiB: the echo must not
    // pile all of it up in that process's memory.
    const script = fileURLToPath(new URL('./fixtures/parent/inherit-flood.mjs', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    killWhenTestEnds(child);
    child.stdout.pause();
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    while (!err.includes('\n') && child.exitCode === null) await once(child.stderr, 'data');
    const { queued } = JSON.parse(err.split('\n')[0]!) as { queued: number };
    expect(queued).toBeLessThan(9 * 1024 * 1024);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stdout.resume();
    const [code] = await once(child, 'exit');
    expect(code, err).toBe(0);
    // Every line of the peer's is either echoed or counted as left out.
    const notices = [...out.matchAll(/^peer-cluster: (\d+) lines? of the peers' output not echoed here/gm)];
    expect(notices.length).toBeGreaterThan(0);
    const echoed = out.split('\n').filter((line) => line.startsWith('[peer-1] ')).length;
    const leftOut = notices.reduce((sum, notice) => sum + Number(notice[1]), 0);
    expect(echoed + leftOut).toBe(32 * 1024 + 1);
  });

  it('the lines its apps logged while booting are in logs() once the boot resolves', async () => {
    // Its answers' lines are read before they resolve; the boot's 'ready' is no different.
    const p = await peer({ apps: ['counter.mjs'] });
    const booted = () => p.logs().filter((l) => l.line === `counter listening on ${p.port}`);
    expect(booted()).toHaveLength(1);
    await p.restart();
    expect(booted()).toHaveLength(2);
    // Megabytes at boot, its last line the one read last.
    const flood = await peer({ apps: ['flood.mjs'] });
    expect(flood.logs().at(-1)?.line).toBe('flood done');
  });

  it('a peer flooding stdout does not stall, and the ring buffer keeps the last lines', async () => {
    const p = await peer({ apps: ['flood.mjs'] });
    await expect.poll(() => p.logs().at(-1)?.line, { timeout: 10_000 }).toBe('flood done');
    expect(p.logs().length).toBe(2000);
    expect(await p.evaluate(() => 1 + 1)).toBe(2);
  });
});

describe('waitForLog', () => {
  it("matches a line printed before the call, its own process's, on either stream", async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    // Printed at boot, long before the wait.
    expect(await p.waitForLog(`counter listening on ${p.port}`)).toEqual({
      at: expect.any(Number),
      stream: 'stdout',
      line: `counter listening on ${p.port}`,
    });
    // Printed while the test awaited something else: read before that answer, so not missed.
    await p.evaluate(() => console.error('job 7 done'));
    expect(await p.waitForLog(/job \d+ done/)).toMatchObject({ stream: 'stderr', line: 'job 7 done' });
  });

  it("since: 'now' counts only the lines read after the call", async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    await p.evaluate(() => console.log('tick 1'));
    const old = await p.waitForLog('tick', { since: 'now', timeout: 300 }).catch((e) => e);
    expect(old).toBeInstanceOf(LogTimeoutError);
    expect(old.message).toContain(
      'its current process printed nothing on stdout and stderr since the wait began',
    );
    const next = p.waitForLog('tick', { since: 'now' });
    await p.evaluate(() => console.log('tick 2'));
    expect((await next).line).toBe('tick 2');
  });

  it('reads only the stream it is given', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    await p.evaluate(() => {
      console.log('state: out');
      console.error('state: err');
    });
    expect(await p.waitForLog('state:', { stream: 'stderr' })).toMatchObject({
      stream: 'stderr',
      line: 'state: err',
    });
    expect(await p.waitForLog('state:', { stream: 'stdout' })).toMatchObject({
      stream: 'stdout',
      line: 'state: out',
    });
    const missed = await p.waitForLog('listening', { stream: 'stderr', timeout: 200 }).catch((e) => e);
    expect(missed).toBeInstanceOf(LogTimeoutError);
    expect(missed.message).toContain(
      'saw no matching line within 200 ms: the one line its current process printed on stderr did not match:\n  ! state: err\n',
    );
    expect(missed.message).toContain('It printed 2 lines on stdout, which this wait does not read.');
  });

  it('a RegExp with a capture and the g flag: its lastIndex does not matter, and is left as it was', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const listening = /counter listening on (\d+)/g;
    // Past the start of the line: a search from lastIndex would miss it.
    listening.lastIndex = 5;
    const first = await p.waitForLog(listening, { timeout: 1000 });
    expect(/counter listening on (\d+)/.exec(first.line)?.[1]).toBe(String(p.port));
    listening.lastIndex = 5;
    // The same object again: a lastIndex the first wait left would make it miss.
    expect(await p.waitForLog(listening, { timeout: 1000 })).toEqual(first);
    expect(listening.lastIndex).toBe(5);
    // `y` anchors at the start of the line.
    expect((await p.waitForLog(/counter/y, { timeout: 1000 })).line).toBe(first.line);
    await expect(p.waitForLog(/listening/y, { timeout: 200 })).rejects.toThrow(LogTimeoutError);
  });

  it('times out with a LogTimeoutError that says what it waited for, where, how long, and what it saw', async () => {
    const p = await peer({ apps: ['counter.mjs'], name: 'talker' });
    await p.evaluate(() => {
      for (const n of [1, 2, 3]) console.log(`step ${n}`);
      console.error(`warn \u001b[31mred\u001b[0m ${'x'.repeat(300)}`);
    });
    const started = Date.now();
    const error = await p.waitForLog(/ready/, { timeout: 300 }).catch((e) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(error).toBeInstanceOf(LogTimeoutError);
    expect(error).toMatchObject({ name: 'LogTimeoutError', peer: 'talker', timeout: 300, seen: 5 });
    const lines = error.message.split('\n');
    expect(lines[0]).toBe(
      'waitForLog(/ready/) on peer talker saw no matching line within 300 ms: none of the 5 lines its current process printed on stdout and stderr matched; the last 3:',
    );
    expect(lines[1]).toBe('  | step 2');
    expect(lines[2]).toBe('  | step 3');
    // On one line, cut, its control characters escaped.
    expect(lines[3]).toMatch(/^ {2}! warn \\u001b\[31mred\\u001b\[0m x+…$/);
    expect(lines[3]!.length).toBeLessThan(220);
    expect(lines[4]).toBe('Check the pattern against what the app prints, or pass a longer timeout.');
    expect(lines).toHaveLength(5);
    // The stack leads to the test's own line.
    expect(error.stack).toMatch(/--- called from ---\n.*peer\.test\.ts/);
  });

  it('while it waits, inFlight() (the failure report) lists it; settled, it leaves', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    // The boot's line, which a loaded machine may read only after the boot has resolved.
    await p.waitForLog('counter listening');
    const waiting = p.waitForLog(/ready/, { timeout: 60_000 });
    const stderr = p.waitForLog('boom', { stream: 'stderr', since: 'now', timeout: 60_000 });
    expect(p.inFlight()).toEqual([
      {
        what: 'waitForLog(/ready/)',
        since: expect.any(Number),
        scope: undefined,
        detail: '1 line on stdout and stderr, none matched',
      },
      {
        what: 'waitForLog("boom", { stream: \'stderr\' })',
        since: expect.any(Number),
        scope: undefined,
        detail: '0 lines on stderr since it began, none matched',
      },
    ]);
    await p.evaluate(() => {
      console.log('ready');
      console.error('boom');
    });
    await Promise.all([waiting, stderr]);
    expect(p.inFlight()).toEqual([]);
  });

  it('rejects as soon as the process exits, not at its timeout; a line printed just before the exit still counts', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const started = Date.now();
    const killed = p.waitForLog('never', { timeout: 30_000 }).catch((e) => e);
    await p.kill();
    const error = await killed;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(PeerExitedError);
    expect(error.message).toBe(
      `waitForLog("never") on peer ${p.name} saw no matching line: its process was killed by SIGKILL (sent by peer.kill()) while it waited. peer.restart() boots it again.`,
    );
    // Not running: at once.
    await expect(p.waitForLog('x')).rejects.toThrow(
      `Cannot waitForLog("x") on peer ${p.name}: its process exited (crashed).`,
    );

    await p.restart();
    const last = p.waitForLog('last words', { since: 'now', timeout: 30_000 });
    const after = p.waitForLog('after the exit', { timeout: 30_000 }).catch((e) => e);
    await p.evaluate(() => {
      setTimeout(() => {
        console.log('last words');
        process.exit(3);
      }, 10);
    });
    expect((await last).line).toBe('last words');
    expect((await after).message).toContain('its process exited with code 3 while it waited');

    await p.restart();
    const stopped = p.waitForLog('never', { timeout: 30_000 }).catch((e) => e);
    await p.stop();
    expect((await stopped).message).toBe(
      `waitForLog("never") on peer ${p.name} saw no matching line: the peer was stopped (stop(), restart() or its cluster's stop()) while it waited.`,
    );
  });

  it('does not count the lines of the process before a restart(), and a wait on that process ends with it', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    await p.evaluate(() => console.log('old marker'));
    await p.waitForLog('old marker');
    const across = p.waitForLog('never', { timeout: 30_000 }).catch((e) => e);
    await p.restart();
    expect(await across).toBeInstanceOf(PeerExitedError);
    expect((await across).message).toContain('the peer was stopped (stop(), restart()');
    expect(p.logs().map((l) => l.line)).toContain('old marker');
    const old = await p.waitForLog('old marker', { timeout: 300 }).catch((e) => e);
    expect(old).toBeInstanceOf(LogTimeoutError);
    expect(old.seen).toBe(1); // the new process's own boot line
    expect((await p.waitForLog('counter listening')).at).toBeGreaterThan(
      p.logs().find((l) => l.line === 'old marker')!.at,
    );
  });

  it("works with logs: 'silent', whose logs() stay empty", async () => {
    const p = await peer({ apps: ['counter.mjs'], logs: 'silent' });
    expect((await p.waitForLog('counter listening', { timeout: 1000 })).line).toBe(
      `counter listening on ${p.port}`,
    );
    expect(p.logs()).toEqual([]);
  });

  it('adds no log listener, whatever the number of waits, and a removeAllListeners() does not deafen them', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const mine = () => {};
      p.on('log', mine);
      const waits = Array.from({ length: 15 }, (_, i) =>
        p.waitForLog(`line [${i}]`, { since: 'now', timeout: i % 2 ? 200 : 30_000 }).catch((e) => e),
      );
      expect(p.listenerCount('log')).toBe(1);
      // A test's cleanup of its own listeners, while the waits are under way.
      p.removeAllListeners('log');
      await p.evaluate(() => {
        for (let i = 0; i < 15; i += 2) console.log(`line [${i}]`);
      });
      const results = await Promise.all(waits);
      expect(results.filter((r) => r instanceof LogTimeoutError)).toHaveLength(7);
      expect(results.filter((r) => r.line?.startsWith('line ['))).toHaveLength(8);
      // Waits that end otherwise (found at once, exited) leave nothing either.
      await p.waitForLog('counter listening');
      const ended = p.waitForLog('never', { timeout: 30_000 }).catch((e) => e);
      await p.kill();
      expect(await ended).toBeInstanceOf(PeerExitedError);
      expect(p.listenerCount('log')).toBe(0);
      expect(p.inFlight()).toEqual([]);
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("a settled wait's timer does not keep the test process alive", { timeout: 60_000 }, async () => {
    const script = fileURLToPath(new URL('./fixtures/parent/wait-for-log.mjs', import.meta.url));
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, [script, 'wait-for-log-exit'], {
      timeout: 50_000,
    });
    expect(JSON.parse(stdout)).toEqual({ ended: 'PeerExitedError' });
    expect(Date.now() - started).toBeLessThan(20_000);
    await waitForNoPeers({ cluster: 'wait-for-log-exit', timeout: 3000 });
  });

  it('rejects bad arguments with InvalidOptionsError naming them', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    const cases: [unknown, unknown, RegExp][] = [
      [
        '',
        undefined,
        /^Invalid option `waitForLog\(pattern\)`: must not be empty: every line holds the empty string \(got ""\)\. Call it as peer\.waitForLog\("ready"\)/,
      ],
      [
        42,
        undefined,
        /^Invalid option `waitForLog\(pattern\)`: must be a string to find in a line, or a RegExp \(got 42\)/,
      ],
      [
        null,
        undefined,
        /`waitForLog\(pattern\)`: must be a string to find in a line, or a RegExp \(got null\)/,
      ],
      [
        'x',
        5000,
        /^Invalid option `waitForLog\(\) options`: must be an object \(got 5000\)\. Pass the timeout as an option: waitForLog\(pattern, \{ timeout: 5000 \}\)\.$/,
      ],
      [
        'x',
        { timout: 10 },
        /`waitForLog\(\) options\.timout`: is not an option \(got 10\)\. Did you mean timeout\? Known options: timeout, stream, since\./,
      ],
      ['x', { timeout: -1 }, /`waitForLog\(\) options\.timeout`: must be a positive number of ms \(got -1\)/],
      ['x', { timeout: '5s' }, /`waitForLog\(\) options\.timeout`: must be a number of ms \(got "5s"\)/],
      [
        'x',
        { stream: 'out' },
        /`waitForLog\(\) options\.stream`: must be 'stdout' or 'stderr' \(got "out"\)/,
      ],
      ['x', { since: 'later' }, /`waitForLog\(\) options\.since`: must be 'start' or 'now' \(got "later"\)/],
    ];
    for (const [pattern, options, message] of cases) {
      const error = await p.waitForLog(pattern as string, options as never).catch((e) => e);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.message).toMatch(message);
    }
    // undefined options are the defaults.
    expect((await p.waitForLog('listening', { timeout: undefined, stream: undefined })).stream).toBe(
      'stdout',
    );
  });
});

describe("processes an app started outside the peer's process group", () => {
  /** Pids of the cluster's processes that are not in the peer's own process group. */
  const outsideGroup = (cluster: string, peerPid: number) =>
    peerProcesses(cluster)
      .map((p) => p.pid)
      .filter((pid) => pid !== peerPid && processGroup(pid) !== peerPid);

  it.each([
    ['stop()', (p: Peer) => p.stop()],
    ['kill()', (p: Peer) => p.kill()],
  ] as const)('die with the peer on %s', async (_how, end) => {
    const cluster = `escaped-${process.pid}-${_how.replace(/\W/g, '')}`;
    const p = await peer({ apps: ['spawns-detached.mjs'], cluster });
    await p.call('escaped-pids');
    const independent = await p.call<number>('independent-pid');
    try {
      // The detached child, the setsid shell and the shell's own child: none in the peer's group.
      await expect.poll(() => outsideGroup(cluster, p.pid!).length).toBe(3);
      await end(p);
      await waitForNoPeers({ cluster, timeout: 3000 });
      // A process started without the peer's environment (the registry daemon, say) lives on.
      expect(processGroup(independent)).toBe(independent);
    } finally {
      process.kill(independent, 'SIGKILL');
    }
  });
});

describe('lifecycle', () => {
  it('stop() stops the apps in reverse order, then exits; calls after it throw PeerExitedError at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-stop-'));
    try {
      const file = join(dir, 'order.log');
      const p = await peer({
        apps: ['stop-order.mjs', 'stop-order-second.mjs', 'stop-order-third.mjs'],
        env: { STOP_LOG: file },
      });
      const exited = once(p, 'exit');
      await p.stop();
      expect(p.state).toBe('stopped');
      expect(await exited).toEqual([0, null]);
      expect((await readFile(file, 'utf8')).trim().split('\n')).toEqual([
        'start first',
        'start second',
        'start third',
        'stop third',
        'stop second',
        'stop first',
      ]);
      await expect(p.evaluate(() => 1)).rejects.toThrow(PeerExitedError);
      await expect(p.call('x', 1)).rejects.toThrow(`Cannot call("x", 1) on peer ${p.name}: it was stopped.`);
      await expect(p.nodes()).rejects.toThrow(PeerExitedError);
      await expect(p.pause()).rejects.toThrow(PeerExitedError);
      await expect(p.nodes()).rejects.toThrow(
        `Cannot nodes() on peer ${p.name}: it was stopped. Call peer.restart() to boot it again.`,
      );
      await p.stop(); // idempotent
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a call while a restart() the test did not await is under way says so', async () => {
    const p = await peer({ apps: ['counter.mjs'] });
    await p.kill();
    const restarting = p.restart();
    // Not "Call peer.restart() first": it was called.
    await expect(p.call('x', 1)).rejects.toThrow(
      `Cannot call("x", 1) on peer ${p.name}: it is being restarted, and its restart() has not finished (it crashed until then). Await peer.restart() before using the peer.`,
    );
    await restarting;
    expect(p.state).toBe('running');
    // Done, a call to a dead peer is told to restart it, as before.
    await p.stop();
    await expect(p.call('x')).rejects.toThrow(`Cannot call("x") on peer ${p.name}: it was stopped.`);
  });

  it('stop() kills a peer whose apps do not stop within stopTimeout', async () => {
    const p = await peer({ stopTimeout: 300 });
    await p.evaluate((ctx) => {
      // A stop that never finishes: the node's stop is made to hang.
      (ctx.cluster as any).stop = () => new Promise(() => {});
    });
    const started = Date.now();
    const said = await stderrOf(() => p.stop());
    expect(p.state).toBe('stopped');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // A passing run that got slower says why.
    expect(said).toContain(
      `peer-cluster: ${p.name} did not stop within stopTimeout (300 ms), so it was killed. Its apps had stopped; the stop of its node had not ended.`,
    );
  });

  it('stop() within a runner test or hook that would time out first kills in time, unless it has ended', async () => {
    // What Jest's environment puts on the test's global (core's runner-deadline.ts): the test or
    // hook running now, 2 s from its end: a 5 s timeout, whose last second (killRoom's most) is
    // kept for the kill to land, which a loaded machine was measured to need up to ~430 ms for.
    const key = Symbol.for('peer-cluster');
    const holder = globalThis as { [key]?: unknown };
    const before = Object.getOwnPropertyDescriptor(holder, key);
    const stopWithin = async (running: boolean) => {
      const p = await peer({ stopTimeout: 2500 });
      await p.evaluate((ctx) => {
        (ctx.cluster as any).stop = () => new Promise(() => {});
      });
      const deadline = {
        at: Date.now() + 2000,
        timeout: 5000,
        what: 'afterEach hook',
        running: () => running,
      };
      Object.defineProperty(holder, key, { value: { runnerDeadline: () => deadline }, configurable: true });
      const started = Date.now();
      let said: string;
      try {
        said = await stderrOf(() => p.stop());
      } finally {
        if (before) Object.defineProperty(holder, key, before);
        else delete holder[key];
      }
      return { took: Date.now() - started, left: deadline.at - started, said };
    };

    // Awaited by the hook: killed with a second to spare, ended before the hook's deadline, and
    // says why.
    const cut = await stopWithin(true);
    expect(cut.took).toBeLessThan(cut.left);
    expect(cut.said).toMatch(
      /did not stop within the \d+ ms the afterEach hook's timeout \(5000 ms\) left it of its stopTimeout \(2500 ms\), so it was killed\. .* Give the afterEach hook a timeout longer than stopTimeout, or a shorter stopTimeout\./,
    );
    // A stop the hook did not await, still going when the hook ended, has the whole of stopTimeout.
    const whole = await stopWithin(false);
    expect(whole.took).toBeGreaterThanOrEqual(2400);
    expect(whole.said).toContain('did not stop within stopTimeout (2500 ms), so it was killed.');
  });

  it('kill() ends the process group at once; pending requests reject with PeerExitedError', async () => {
    const p = await peer();
    const pending = p.evaluate(() => new Promise(() => {}));
    await p.kill();
    expect(p.state).toBe('crashed');
    await expect(pending).rejects.toThrow(PeerExitedError);
    await expect(p.kill()).rejects.toThrow(PeerExitedError);
    await expect(p.nodes()).rejects.toThrow(/its process exited \(crashed\)\. Call peer\.restart\(\) first/);
  });

  it('an exit of its own is a crash, with the exit event', async () => {
    const p = await peer();
    const exited = once(p, 'exit');
    p.evaluate(() => {
      setTimeout(() => process.exit(7), 10);
    });
    expect(await exited).toEqual([7, null]);
    expect(p.state).toBe('crashed');
  });

  it('restart() keeps the name, ports, env and node id', async () => {
    const p = await peer({ apps: ['counter.mjs'], ports: ['extra'], env: { K: 'v' } });
    const before = { pid: p.pid, ports: p.ports, node: p.node };
    await p.call('inc', 5);
    await p.restart();
    expect(p.state).toBe('running');
    expect(p.pid).not.toBe(before.pid);
    expect(p.ports).toEqual(before.ports);
    expect(p.node).toBe(before.node);
    expect(await p.call('inc')).toBe(1);
    expect(await p.evaluate(() => process.env.K)).toBe('v');
    await p.kill();
    await p.restart();
    expect(p.state).toBe('running');
    expect(p.node).toBe(before.node);
  });

  it('restart() while one is under way joins it; a stop() after a restart() wins', async () => {
    const p = await peer({ apps: ['counter.mjs'], cluster: 'peer-restart-race' });
    await Promise.all([p.restart(), p.restart()]);
    expect(p.state).toBe('running');
    // One process for the peer, not one per restart().
    expect(peerProcesses('peer-restart-race').map((x) => x.pid)).toEqual([p.pid]);
    expect(await p.call('inc')).toBe(1);
    const restarted = p.restart().catch((e) => e);
    await p.stop();
    const error = await restarted;
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.message).toContain('it was stopped while booting');
    expect(p.state).toBe('stopped');
    await waitForNoPeers({ cluster: 'peer-restart-race', timeout: 3000 });
  });

  it('pause() and resume() stop and continue the process', async () => {
    const p = await peer();
    await p.pause();
    expect(p.state).toBe('paused');
    expect(readFileSync(`/proc/${p.pid}/stat`, 'latin1').split(' ')[2]).toBe('T');
    // A wait that times out meanwhile says why, without waiting for an answer from the stopped process.
    const waited = await p.waitForNodes(1, { timeout: 200 }).catch((e) => e);
    expect(waited.message).toContain('is paused, so its healer does not run (resume() it)');
    const answer = p.evaluate(() => 'late');
    await p.resume();
    expect(p.state).toBe('running');
    expect(await answer).toBe('late');
  });
});

// A throwing listener is a bug in the user's code (a failing `expect` in it): it surfaces as that
// code's uncaught exception and must not leave the peer's own bookkeeping half done.
describe('listeners that throw', () => {
  it('an exit listener that throws while a restart fails to boot: the restart still rejects, later listeners run', async () => {
    const script = fileURLToPath(new URL('./fixtures/parent/throwing-exit-listener.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({
      restart: 'rejected: PeerBootError',
      // The old process's exit, then the failed boot's.
      later: 2,
      uncaught: [
        expect.stringMatching(/^listener threw on exit/),
        expect.stringMatching(/^listener threw on exit/),
      ],
    });
  }, 30_000);
});

describe('debugging', () => {
  it("a peer's inspector URL is shown on stderr whatever the logs mode", async () => {
    const script = fileURLToPath(new URL('./fixtures/parent/inspected.mjs', import.meta.url));
    const { stderr } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    for (const name of ['peer-1', 'peer-2'])
      expect(stderr).toMatch(
        new RegExp(`^\\[${name}\\] Debugger listening on ws://127\\.0\\.0\\.1:\\d+/`, 'm'),
      );
  }, 30_000);
});

describe('boot failures', () => {
  it('a missing app names the path and the root', async () => {
    const error = await peer({ apps: ['nope/missing.mjs'] }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.app).toBe('nope/missing.mjs');
    expect(error.message).toContain(join(root, 'nope/missing.mjs'));
    expect(error.message).toContain(`root ${root}`);
  });

  it('a misspelt app is told the module of its folder it may mean', async () => {
    const error = await peer({ apps: ['./countr.mjs'] }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.message).toContain(
      `the app module was not found: ${join(root, 'countr.mjs')} (resolved "./countr.mjs" from root ${root}). Did you mean ./counter.mjs?`,
    );
  });

  it('an app named as TypeScript imports are, x.js for x.ts, is that TypeScript file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-js-for-ts-'));
    try {
      await writeFile(
        join(dir, 'app.ts'),
        "export function start(ctx: any): void { ctx.cluster.handle('lang', () => 'ts'); }\n",
      );
      const p = await peer({ root: dir, apps: ['./app.js'] });
      expect(await p.call('lang')).toBe('ts');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an app path that is a folder without an index file says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-folder-app-'));
    try {
      await writeFile(join(dir, 'server.js'), '');
      const error = await peer({ root: dir, apps: ['.'] }).catch((e) => e);
      expect(error).toBeInstanceOf(PeerBootError);
      expect(error.message).toContain(
        `${dir} is a folder without an index file (index.js, index.mjs, index.cjs, index.ts, index.mts, index.cts): name the app's module in it`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an app that throws gives its message and the stderr tail', async () => {
    const error = await peer({ apps: ['counter.mjs', 'throws.mjs'], name: 'thrower' }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.peer).toBe('thrower');
    expect(error.phase).toBe('app');
    expect(error.app).toBe('throws.mjs');
    expect(error.message).toContain('boom: DATABASE_URL is missing');
    expect(error.stderr).toContain('about to fail: the database is not configured');
    expect(error.message).toContain('about to fail');
  });

  it('an app that never resolves fails after bootTimeout, naming the phase and the app', async () => {
    // Time to reach the app on a loaded machine, where a peer's start took up to ≈0.45 s.
    const error = await peer({ apps: ['hangs.mjs'], bootTimeout: 2500 }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.phase).toBe('app');
    expect(error.app).toBe('hangs.mjs');
    expect(error.timeout).toBe(2500);
    expect(error.message).toMatch(/bootTimeout \(2500 ms\)/);
    // With nothing on stderr, what it said on stdout.
    expect(error.message).toContain(
      `--- stdout of ${error.peer} (last lines) ---\nwaiting for a database that never comes`,
    );
  });

  describe('a boot timeout on a busy machine says so', () => {
    // Whether the peer waited for a CPU for a share of bootTimeout (its real wait, from
    // /proc/<pid>/schedstat), against a share set through the internal busyBoot.
    const HINT =
      /\. This machine is busy: the peer waited \d+\.\d s of its boot for a CPU \(load average \d+\.\d on \d+ CPUs?\): raise bootTimeout, or run fewer test workers at once/;
    const timedOut = async (share: number | undefined, app = 'hangs.mjs', bootTimeout = 300) => {
      busyBoot.share = share;
      try {
        const error = await spawnUnbundledPeer({ root, apps: [app], bootTimeout }).catch((e) => e);
        expect(error).toBeInstanceOf(PeerBootError);
        expect(error.message).toMatch(
          new RegExp(`did not become ready within bootTimeout \\(${bootTimeout} ms\\)`),
        );
        return error.message as string;
      } finally {
        busyBoot.share = undefined;
      }
    };

    it('busy: the peer waited for a CPU for its share of bootTimeout, and the message says what to do', async () => {
      expect(await timedOut(0)).toMatch(HINT);
    });

    it('not busy: no hint', async () => {
      expect(await timedOut(Number.POSITIVE_INFINITY)).not.toContain('This machine is busy');
    });

    it('an app that hangs, not the machine, gets no hint, whatever the load average', async () => {
      // Its peer booted, then waited for the app, not for a CPU. Its start did wait: a few ms idle,
      // but 0.1-0.4 s at a load average of 10 on 2 CPUs (measured), against the 0.2 s (a tenth) of a
      // 2 s bootTimeout. A tenth of 10 s is 2.5 times the most seen.
      expect(await timedOut(undefined, 'hangs.mjs', 10_000)).not.toContain('This machine is busy');
    });

    it('a peer kept from its CPU by other processes gets the hint', async () => {
      // Spinning processes, each in a session of its own as the peer is (the scheduler shares a
      // CPU between sessions first), three per CPU: the app's peer, spinning too, waits for most
      // of its bootTimeout.
      const hogs = Array.from({ length: 3 * availableParallelism() }, () => {
        const hog = spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore', detached: true });
        killWhenTestEnds(hog, { group: true });
        return hog;
      });
      await Promise.all(hogs.map((hog) => once(hog, 'spawn')));
      try {
        expect(await timedOut(undefined, 'spins.mjs', 1000)).toMatch(HINT);
      } finally {
        for (const hog of hogs) hog.kill('SIGKILL');
      }
    });
  });

  it('an app that exits during boot gives the exit code', async () => {
    const error = await peer({ apps: ['exits.mjs'] }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.exitCode).toBe(3);
    expect(error.app).toBe('exits.mjs');
    expect(error.message).toContain('exited with code 3');
    expect(error.stderr).toContain('giving up');
  });

  it('an app that runs out of memory says so, without the native stack trace', async () => {
    const error = await peer({
      apps: ['runs-out-of-memory.mjs'],
      nodeArgs: ['--max-old-space-size=16'],
    }).catch((e) => e);
    expect(error).toBeInstanceOf(PeerBootError);
    expect(error.signal).toBe('SIGABRT');
    expect(error.message).toContain(
      'It died after a fatal error: Reached heap limit Allocation failed - JavaScript heap out of memory. It ran out of memory',
    );
    // V8's ≈20 native frames are one line, so the tail still shows the fatal error itself.
    expect(error.message).toMatch(
      /FATAL ERROR: Reached heap limit[\s\S]*\(\d+ native stack frames left out\)/,
    );
    expect(error.message).not.toMatch(/^\s*\d+: 0x[0-9a-f]+/m);
  });

  it('leaves no process behind after boot failures', async () => {
    await peer({ apps: ['throws.mjs'], cluster: 'failing-boots' }).catch(() => {});
    await peer({ apps: ['hangs.mjs'], cluster: 'failing-boots', bootTimeout: 500 }).catch(() => {});
    await waitForNoPeers({ cluster: 'failing-boots' });
  });

  it('rejects bad options with InvalidOptionsError naming the option and value', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ env: { A: { nested: true } } }, 'env.A', /string, a number or a boolean/],
      [{ env: () => ({ A: [1] }) }, 'env(peer-1).A', /string, a number or a boolean/],
      [{ logs: 'loud' }, 'logs', /'buffer', 'inherit' or 'silent'/],
      [{ apps: 'a.js' }, 'apps', /array/],
      [{ ports: ['default'] }, 'ports.0', /PORT itself/],
      [{ ports: ['a b'] }, 'ports.0', /letters/],
      [{ bootTimeout: -5 }, 'bootTimeout', /positive/],
      [{ heartbeat: { interval: 0 } }, 'heartbeat.interval', /positive/],
      [{ heartbeat: { interval: 1000, timeout: 500 } }, 'heartbeat.timeout', /interval/],
      [{ strategy: { discover: 1 } }, 'strategy', /strategy/],
      [{ name: 'a@b' }, 'name', /letters/],
      [{ inheritEnv: 'yes' }, 'inheritEnv', /true, false/],
      [{ cookie: '' }, 'cookie', /empty/],
      [{ bogus: 1 }, 'bogus', /not an option/],
    ];
    for (const [options, option, problem] of cases) {
      const error = await spawnPeer(options as never).catch((e) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(InvalidOptionsError);
      expect(error.option, JSON.stringify(options)).toBe(option);
      expect(error.message).toMatch(problem);
    }
  });
});

/** What the test process's stderr is given while `act` runs (passed on as well). */
async function stderrOf(act: () => Promise<unknown>): Promise<string> {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    written.push(String(chunk));
    return write.call(process.stderr, chunk, ...rest);
  }) as typeof write;
  try {
    await act();
  } finally {
    process.stderr.write = write;
  }
  return written.join('');
}
