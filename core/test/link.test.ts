import { EventEmitter } from 'node:events';
import type { ClusterNode } from '@peer-cluster/core';
import {
  customStrategy,
  HandshakeError,
  InvalidOptionsError,
  NodeDownError,
  parseAddress,
  RemoteError,
  RpcTimeoutError,
  UnknownMethodError,
} from '@peer-cluster/core';
import { afterEach, describe, expect, it } from 'vitest';
import { designatedDialer } from '../dist/healer/refresh.js';
import { nextEvent, node, nodedown, stopAll, waitForNodes } from './fixtures/node/helpers.js';

afterEach(stopAll);

describe('startNode', () => {
  it('listens on 127.0.0.1 and a free port, and names itself name@host:port', async () => {
    const a = await node({ name: 'a' });
    expect(a.host).toBe('127.0.0.1');
    expect(a.port).toBeGreaterThan(0);
    expect(a.id).toBe(`a@127.0.0.1:${a.port}`);
    expect(a.cluster).toBe('default');
    expect(a.nodes()).toEqual([]);
    expect(a.healer.state).toBe('running');
    // Node's EventEmitters, whatever their types say (types.ts, TypedEventEmitter).
    expect(a).toBeInstanceOf(EventEmitter);
    expect(a.healer).toBeInstanceOf(EventEmitter);
    expect(await a.healer.refresh()).toEqual({ discovered: [], connected: [], failed: [], disconnected: [] });
  });

  it('rejects invalid options by name, without echoing the cookie', async () => {
    await expect(node({ name: 'a@b' })).rejects.toThrow(InvalidOptionsError);
    await expect(node({ name: 'a', port: -1 })).rejects.toThrow(/`port`/);
    await expect(node({ name: 'a', heartbeat: { interval: 1000, timeout: 500 } })).rejects.toThrow(
      /heartbeat/,
    );
    const error: any = await node({ name: 'a', cookie: 12 as never }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('cookie');
  });
});

describe('startNode that cannot listen', () => {
  it('names the node and says what to do, keeping the system error and its code', async () => {
    const a = await node({ name: 'a' });
    const taken: any = await node({ name: 'b', port: a.port }).catch((e) => e);
    expect(taken).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' });
    expect(taken.message).toMatch(
      new RegExp(
        `^startNode\\(\\): node "b" cannot listen for links on 127\\.0\\.0\\.1:${a.port}: another process holds port ${a.port} .*pass another \`port\` \\(0 picks a free one\\) \\(listen EADDRINUSE`,
      ),
    );
    expect(taken.stack).toContain(taken.message);
    expect(taken.stack.split('cannot listen')).toHaveLength(2);
    // 192.0.2.0/24 (TEST-NET-1) is no address of this machine.
    const elsewhere: any = await node({ name: 'c', host: '192.0.2.1' }).catch((e) => e);
    expect(elsewhere).toMatchObject({ code: 'EADDRNOTAVAIL' });
    expect(elsewhere.message).toMatch(
      /node "c" cannot listen .*192\.0\.2\.1 is not an address of this machine/,
    );
  });
});

describe('connect() options', () => {
  it('a timeout that is not a positive number of ms is an InvalidOptionsError, not a crash', async () => {
    const a = await node({ name: 'a' });
    // A port nothing listens on: the dial's connection error must be heard, whatever the timeout.
    const closed = await node({ name: 'gone' });
    const address = `127.0.0.1:${closed.port}`;
    await closed.stop();
    for (const timeout of [-1, 0, Number.NaN, '1000', 2 ** 31]) {
      const error: any = await a.connect(address, { timeout: timeout as never }).catch((e) => e);
      expect(error, String(timeout)).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe('connect() timeout');
    }
    await expect(a.connect(address, 5 as never)).rejects.toThrow(InvalidOptionsError);
    // And a good one still dials (and fails as a dial does).
    await expect(a.connect(address, { timeout: 1000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('parseAddress', () => {
  it('parses name@host:port and host:port', () => {
    expect(parseAddress('a@127.0.0.1:4000')).toEqual({ name: 'a', host: '127.0.0.1', port: 4000 });
    expect(parseAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseAddress('b@[::1]:9')).toEqual({ name: 'b', host: '::1', port: 9 });
  });
  it('throws InvalidOptionsError on anything else', () => {
    for (const bad of ['', 'a@', 'host', 'host:', 'host:0', 'host:70000', '@h:1', 'a b@h:1', ':80', 'h:8x']) {
      expect(() => parseAddress(bad), bad).toThrow(InvalidOptionsError);
    }
  });
  it('takes IPv6 addresses in brackets only, and says so', () => {
    for (const bad of ['::1', 'fe80::1', '::1:4000', 'a@::1:4000']) {
      expect(() => parseAddress(bad), bad).toThrow(
        /an IPv6 address must be in brackets .* Write it as "\[::1\]:4000"/,
      );
    }
    expect(() => parseAddress(':4000')).toThrow(/missing the host before ":port"/);
  });
});

describe('mesh via customStrategy', () => {
  for (const count of [2, 3, 10]) {
    it(`links ${count} nodes into a full mesh`, async () => {
      const list: string[] = [];
      const strategy = customStrategy({ discover: () => list });
      const nodes = await Promise.all(
        Array.from({ length: count }, (_, i) => node({ name: `m${i}`, strategy })),
      );
      list.push(...nodes.map((n) => n.id));
      await Promise.all(nodes.map((n) => n.healer.refresh()));
      await Promise.all(nodes.map((n) => waitForNodes(n, count - 1)));
      for (const n of nodes) {
        expect(n.nodes().sort()).toEqual(list.filter((id) => id !== n.id).sort());
      }
    });
  }
});

describe('handshake', () => {
  it('refuses a wrong cookie, logs it on both sides without the cookie, and reports it in failed', async () => {
    const logsA: string[] = [];
    const logsB: string[] = [];
    const a = await node({ name: 'a', cookie: 'cookie-of-a', log: (l) => logsA.push(l) });
    const b = await node({
      name: 'b',
      cookie: 'cookie-of-b',
      log: (l) => logsB.push(l),
      strategy: customStrategy({ discover: () => [a.id] }),
    });
    const result = await b.healer.refresh();
    expect(result.connected).toEqual([]);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.node).toBe(a.id);
    expect(result.failed[0]!.error).toBeInstanceOf(HandshakeError);
    expect((result.failed[0]!.error as HandshakeError).reason).toBe('cookie');
    expect(logsA.join('\n')).toMatch(/refused link from b@.*cookie/);
    expect(logsB.join('\n')).toMatch(/link to a@.*refused.*cookie/);
    for (const line of [...logsA, ...logsB]) expect(line).not.toMatch(/cookie-of/);
    expect(a.nodes()).toEqual([]);
    expect(b.nodes()).toEqual([]);
  });

  it('a cookie that differs by a line break says so, to the node whose cookie has it only', async () => {
    const logsA: string[] = [];
    const logsB: string[] = [];
    const a = await node({ name: 'a', cookie: 'the-cookie', log: (l) => logsA.push(l) });
    const b = await node({ name: 'b', cookie: 'the-cookie\n', log: (l) => logsB.push(l) });
    const error: any = await b.connect(a.id).catch((e) => e);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.reason).toBe('cookie');
    expect(error.message).toMatch(/different cookies .*readFileSync\(file, 'utf8'\)\.trim\(\)/);
    expect(error.message).toMatch(/b@127\.0\.0\.1:\d+'s own cookie begins or ends with whitespace/);
    expect(logsB.join('\n')).toMatch(/own cookie begins or ends with whitespace/);
    // The other end is told nothing about b's cookie, and a's own cookie is clean.
    expect(logsA.join('\n')).toMatch(/refused link from b@.*different cookies/);
    expect(logsA.join('\n')).not.toMatch(/whitespace/);
    // Dialed the other way, the note is b's again.
    const back: any = await a.connect(b.id).catch((e) => e);
    expect(back.message).not.toMatch(/whitespace/);
    expect(logsB.join('\n')).toMatch(/refused link from a@.*own cookie begins or ends with whitespace/);
  });

  it('refuses another cluster, on both sides', async () => {
    const logsA: string[] = [];
    const logsB: string[] = [];
    const a = await node({ name: 'a', cluster: 'one', log: (l) => logsA.push(l) });
    const b = await node({
      name: 'b',
      cluster: 'two',
      log: (l) => logsB.push(l),
      strategy: customStrategy({ discover: () => [a.id] }),
    });
    const result = await b.healer.refresh();
    expect((result.failed[0]!.error as HandshakeError).reason).toBe('cluster');
    // The same words read right on both sides.
    const said = `${b.id} belongs to cluster "two", ${a.id} to "one"`;
    expect(logsA.join('\n')).toContain(said);
    expect(logsB.join('\n')).toContain(said);
    expect((result.failed[0]!.error as HandshakeError).message).toContain(said);
  });

  it('confirms the name an address promises', async () => {
    const a = await node({ name: 'a' });
    const b = await node({ name: 'b' });
    const error: any = await b.connect(`zed@127.0.0.1:${a.port}`).catch((e) => e);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.reason).toBe('name');
    expect(await b.connect(`127.0.0.1:${a.port}`)).toBe(a.id);
    // An existing link answers at once, and still checks the name.
    expect(await b.connect(a.id)).toBe(a.id);
    await expect(b.connect(`zed@127.0.0.1:${a.port}`)).rejects.toMatchObject({ reason: 'name' });
  });

  it('does not link a node to itself', async () => {
    const a = await node({ name: 'a' });
    await expect(a.connect(a.id)).rejects.toMatchObject({ reason: 'self' });
    await expect(a.connect(`localhost:${a.port}`)).rejects.toMatchObject({ reason: 'self' });
  });

  it('settles simultaneous dials on one link, every time', async () => {
    const a = await node({ name: 'a' });
    const b = await node({ name: 'b' });
    a.handle('who', () => 'a');
    b.handle('who', () => 'b');
    for (let round = 0; round < 20; round++) {
      const [x, y] = await Promise.all([a.connect(b.id), b.connect(a.id)]);
      expect([x, y]).toEqual([b.id, a.id]);
      expect(a.nodes()).toEqual([b.id]);
      expect(b.nodes()).toEqual([a.id]);
      // The one link carries calls both ways.
      expect(await a.call(b.id, 'who')).toBe('b');
      expect(await b.call(a.id, 'who')).toBe('a');
      const downs = Promise.all([nextEvent(a, 'nodedown', b.id), nextEvent(b, 'nodedown', a.id)]);
      await (round % 2 ? a.disconnect(b.id) : b.disconnect(a.id));
      await downs;
    }
  });
});

describe('many simultaneous dials', () => {
  it('waits for the links the other ends kept without a nodeup listener each', async () => {
    // The largest id: the others' dials win, and each of this node's dials waits for the link
    // the other end dialed. Dozens wait at once while a cluster forms; no MaxListeners warning.
    const here = await node({ name: 'zz' });
    const others = await Promise.all(Array.from({ length: 14 }, (_, i) => node({ name: `n${i}` })));
    const listeners = here.listenerCount('nodeup');
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ids = await Promise.all(others.flatMap((o) => [o.connect(here.id), here.connect(o.id)]));
      expect(ids.filter((id) => id === here.id)).toHaveLength(14);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    expect(here.nodes().sort()).toEqual(others.map((o) => o.id).sort());
    expect(here.listenerCount('nodeup')).toBe(listeners);
  });
});

describe('calls and messages', () => {
  async function pair() {
    const a = await node({ name: 'a' });
    const b = await node({ name: 'b' });
    await a.connect(b.id);
    await waitForNodes(b, 1);
    return { a, b };
  }

  it('passes structured clones both ways', async () => {
    const { a, b } = await pair();
    b.handle('echo', (...args: unknown[]) => args);
    const value = {
      map: new Map<unknown, unknown>([['k', new Set([1, 2])]]),
      date: new Date(1_700_000_000_000),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float64Array([0.5]),
      nested: [undefined, null, -0, Number.NaN, 'ü'],
    };
    const [echoed, second] = await a.call<unknown[]>(b.id, 'echo', value, 'two');
    expect(echoed).toEqual(value);
    expect(second).toBe('two');
    expect((echoed as typeof value).map.get('k')).toBeInstanceOf(Set);
  });

  it('a method has one handler: handle() refuses one already handled, until unhandle()', async () => {
    const { a, b } = await pair();
    b.handle('who', () => 'first');
    let error: any;
    try {
      b.handle('who', () => 'second');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toBe(
      `Invalid option \`method\`: is already handled on node ${b.id}: a method has one handler, and handle() does not replace it (got "who"). Remove the first one with unhandle("who") before registering another, or register this one under another name.`,
    );
    expect(await a.call(b.id, 'who')).toBe('first');
    expect(b.unhandle('who')).toBe(true);
    await expect(a.call(b.id, 'who')).rejects.toThrow(`No handler "who" on node ${b.id}`);
    expect(b.unhandle('who')).toBe(false);
    b.handle('who', () => 'second');
    expect(await a.call(b.id, 'who')).toBe('second');
  });

  it('awaits async handlers and runs local handlers with invoke', async () => {
    const { a, b } = await pair();
    b.handle('add', async (x: number, y: number) => x + y);
    expect(await a.call(b.id, 'add', 2, 3)).toBe(5);
    expect(await b.invoke('add', [4, 5])).toBe(9);
    await expect(b.invoke('missing', [])).rejects.toThrow(UnknownMethodError);
    await expect(b.invoke('missing', [])).rejects.toThrow(/Registered: "add"/);
  });

  it('rejects with a RemoteError that keeps the remote name, message and stack', async () => {
    const { a, b } = await pair();
    b.handle('fail', function failingHandler() {
      throw new TypeError('it broke over there');
    });
    const error: any = await a.call(b.id, 'fail').catch((e) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.name).toBe('RemoteError');
    expect(error.remoteName).toBe('TypeError');
    expect(error.node).toBe(b.id);
    expect(error.message).toContain('it broke over there');
    expect(error.remoteStack).toContain('failingHandler');
    expect(error.stack).toContain('remote stack');
    const unknown: any = await a.call(b.id, 'nope').catch((e) => e);
    expect(unknown.remoteName).toBe('UnknownMethodError');
    expect(unknown.message).toContain('Registered: "fail"');
  });

  it('reports a result that cannot be cloned', async () => {
    const { a, b } = await pair();
    b.handle('fn', () => () => 1);
    await expect(a.call(b.id, 'fn')).rejects.toThrow(/structured clone/);
    await expect(a.call(b.id, 'fn', () => 1)).rejects.toThrow(/could not be cloned/);
  });

  it('names an argument or payload that cannot be cloned; the link stays up', async () => {
    const { a, b } = await pair();
    b.handle('echo', (x: unknown) => x);
    const call: any = await a.call(b.id, 'echo', { onDone: () => 1 }).catch((e) => e);
    expect(call).toBeInstanceOf(InvalidOptionsError);
    expect(call.option).toBe('call(node, "echo", ...args)');
    expect(call.message).toContain(`cannot be sent to ${b.id}`);
    const send: any = (() => {
      try {
        a.send(b.id, 'news', Symbol('x'));
      } catch (error) {
        return error;
      }
    })();
    expect(send).toBeInstanceOf(InvalidOptionsError);
    expect(send.option).toBe('send(node, "news", payload)');
    expect(a.nodes()).toEqual([b.id]);
    expect(await a.call(b.id, 'echo', 1)).toBe(1);
  });

  it('a call, reply or message larger than maxPayload fails alone, named; the link and the calls in flight stay', async () => {
    const a = await node({ name: 'a', maxPayload: 4096 });
    const b = await node({ name: 'b', maxPayload: 4096 });
    await a.connect(b.id);
    await waitForNodes(b, 1);
    b.handle('echo', (x: unknown) => x);
    b.handle('slow', () => new Promise((r) => setTimeout(r, 100, 'slow done')));
    b.handle('big', () => 'y'.repeat(10_000));
    const inFlight = a.call(b.id, 'slow');
    inFlight.catch(() => {}); // awaited below; not unhandled if an expectation fails first
    const call: any = await a.call(b.id, 'echo', 'x'.repeat(10_000)).catch((e) => e);
    expect(call).toBeInstanceOf(InvalidOptionsError);
    expect(call.option).toBe('call(node, "echo", ...args)');
    expect(call.message).toMatch(
      /is 9\.8 KiB once encoded, more than the 4 KiB a link carries in one frame \(maxPayload\)/,
    );
    expect(call.message.length).toBeLessThan(400); // the value named, not all of it
    expect(call.message).toContain(
      'Send it in parts (nodes started with startNode() may be given a larger maxPayload, all alike).',
    );
    expect(() => a.send(b.id, 'news', new Uint8Array(5000))).toThrow(
      /`send\(node, "news", payload\)`: is .* \(maxPayload\)/,
    );
    const reply: any = await a.call(b.id, 'big').catch((e) => e);
    expect(reply).toBeInstanceOf(RemoteError);
    expect(reply.remoteName).toBe('RangeError');
    expect(reply.message).toMatch(/The handler's result is 9\.8 KiB once encoded/);
    expect(await inFlight).toBe('slow done');
    expect(a.nodes()).toEqual([b.id]);
    expect(await a.call(b.id, 'echo', 'x'.repeat(1000))).toHaveLength(1000);
  });

  it("a call too large for the receiver's maxPayload (from a node allowing more) fails alone, named after the receiver's limit", async () => {
    // Each end says its maxPayload in the handshake; a node sends nothing the other would refuse.
    const a = await node({ name: 'a', maxPayload: 1024 * 1024 });
    const b = await node({ name: 'b', maxPayload: 4096 });
    const c = await node({ name: 'c' });
    await Promise.all([a.connect(b.id), a.connect(c.id), b.connect(c.id)]);
    await waitForNodes(b, 2);
    b.handle('echo', (x: unknown) => x);
    c.handle('echo', (x: unknown) => x);
    const error: any = await a.call(b.id, 'echo', 'x'.repeat(10_000)).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toMatch(
      new RegExp(
        `is 9\\.8 KiB once encoded, more than the 4 KiB ${b.id.replaceAll('.', '\\.')} takes in one frame \\(its maxPayload\\)`,
      ),
    );
    expect(() => a.send(b.id, 'news', 'x'.repeat(10_000))).toThrow(InvalidOptionsError);
    // The link stayed; what fits still goes, and a node allowing more takes the large call.
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());
    expect(await a.call(b.id, 'echo', 'small')).toBe('small');
    expect(await a.call(c.id, 'echo', 'x'.repeat(10_000))).toHaveLength(10_000);
    // A reply too large for the caller fails that call alone, too.
    a.handle('big', () => 'x'.repeat(10_000));
    await expect(b.call(a.id, 'big')).rejects.toThrow(
      /The handler's result is .* takes in one frame \(its maxPayload\)/,
    );
    expect(a.nodes().sort()).toEqual([b.id, c.id].sort());
  });

  it('times out with RpcTimeoutError', async () => {
    const { a, b } = await pair();
    b.handle('hang', () => new Promise(() => {}));
    const error: any = await a.callWithOptions(b.id, 'hang', [], { timeout: 100 }).catch((e) => e);
    expect(error).toBeInstanceOf(RpcTimeoutError);
    expect(error.timeout).toBe(100);
    expect(error.method).toBe('hang');
  });

  it('rejects calls to a node that is not linked with NodeDownError, at once', async () => {
    const { a, b } = await pair();
    await expect(a.call('ghost@127.0.0.1:1', 'x')).rejects.toThrow(NodeDownError);
    await expect(a.call('ghost@127.0.0.1:1', 'x')).rejects.toThrow(/not linked.*linked: b@/);
    // host:port of a linked node works too.
    b.handle('ok', () => 'ok');
    expect(await a.call(`127.0.0.1:${b.port}`, 'ok')).toBe('ok');
  });

  it('rejects a method, topic, args or options that are not valid at the caller, before anything is written: the link and the calls in flight stay', async () => {
    const { a, b } = await pair();
    b.handle('echo', (...args: unknown[]) => args);
    b.handle('sleep', (ms: number) => new Promise((r) => setTimeout(r, ms, ms)));
    const inFlight = a.call(b.id, 'sleep', 200);
    inFlight.catch(() => {}); // awaited below; not unhandled if an expectation fails first
    const rejected = async (promise: Promise<unknown>) => {
      const error: any = await promise.then(
        () => new Error('resolved'),
        (e) => e,
      );
      expect(error).toBeInstanceOf(InvalidOptionsError);
      return error.option;
    };
    const any = a as any;
    expect(await rejected(any.call(b.id, 42))).toBe('method');
    expect(await rejected(any.call(b.id))).toBe('method');
    expect(await rejected(any.call(b.id, null, 1))).toBe('method');
    expect(await rejected(a.call(b.id, ''))).toBe('method');
    expect(await rejected(any.callWithOptions(b.id, 42, [], {}))).toBe('method');
    expect(await rejected(any.callWithOptions(b.id, 'echo', 5, {}))).toBe('args');
    expect(await rejected(any.callWithOptions(b.id, 'echo', 'abc', {}))).toBe('args');
    for (const topic of [42, undefined, { a: 1 }]) {
      let thrown: any;
      try {
        any.send(b.id, topic, 'x');
      } catch (error) {
        thrown = error;
      }
      expect(thrown, String(topic)).toBeInstanceOf(InvalidOptionsError);
      expect(thrown.option).toBe('topic');
    }
    expect(await inFlight).toBe(200);
    expect(a.nodes()).toEqual([b.id]);
    expect(b.nodes()).toEqual([a.id]);
    expect(await a.call(b.id, 'echo', 1)).toEqual([1]);
  });

  it('checks the timeout of callWithOptions (a positive number of ms), 5000 ms when none is given', async () => {
    const { a, b } = await pair();
    b.handle('echo', (x: unknown) => x);
    for (const timeout of [-1, 0, 'abc', Number.POSITIVE_INFINITY, Number.NaN, 2 ** 31]) {
      const error: any = await a
        .callWithOptions(b.id, 'echo', [1], { timeout: timeout as number })
        .catch((e) => e);
      expect(error, String(timeout)).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe('callWithOptions() timeout');
    }
    const notObject: any = await a.callWithOptions(b.id, 'echo', [1], 5 as never).catch((e) => e);
    expect(notObject).toBeInstanceOf(InvalidOptionsError);
    expect(notObject.message).toContain('{ timeout: 5000 }');
    // Options may be left out (from JavaScript): the default timeout.
    expect(await (a as any).callWithOptions(b.id, 'echo', ['no options'])).toBe('no options');
    expect(await a.callWithOptions(b.id, 'echo', ['{}'], {})).toBe('{}');
  });

  it('says what is wrong with a target: not a node id, this node itself, or this node stopped', async () => {
    const { a, b } = await pair();
    b.handle('echo', (x: unknown) => x);
    for (const target of [undefined, 42, 'nonsense', '']) {
      const error: any = await a.call(target as string, 'echo', 1).catch((e) => e);
      expect(error, String(target)).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe('node');
      expect(() => a.send(target as string, 't', 1), String(target)).toThrow(InvalidOptionsError);
    }
    const self: any = await a.call(a.id, 'echo', 1).catch((e) => e);
    expect(self).toBeInstanceOf(InvalidOptionsError);
    expect(self.message).toContain(`is this node itself (${a.id})`);
    expect(self.message).toContain('Call the handler directly');
    await expect(a.call(`127.0.0.1:${a.port}`, 'echo', 1)).rejects.toThrow(/this node itself/);
    // A message to itself is dropped, as to any node that is not linked.
    expect(() => a.send(a.id, 't', 1)).not.toThrow();
    await a.stop();
    const stopped: any = await a.call(b.id, 'echo', 1).catch((e) => e);
    expect(stopped).toBeInstanceOf(NodeDownError);
    expect(stopped.message).toContain(`the calling node, ${a.id}, is stopped`);
    await expect(a.connect(b.id)).rejects.toThrow(/is stopped/);
  });

  it('an Error in a value crosses as an Error with its message and stack, not its class, name or other fields', async () => {
    const { a, b } = await pair();
    b.handle('echo', (x: unknown) => x);
    class AppError extends Error {
      code = 'E_APP';
      override name = 'AppError';
    }
    const error = new AppError('boom', { cause: new Error('underneath') });
    const [echoed, typed] = await a.call<[any, any]>(b.id, 'echo', [error, new TypeError('t')]);
    expect(echoed).toBeInstanceOf(Error);
    expect(echoed).not.toBeInstanceOf(AppError);
    expect(echoed.name).toBe('Error');
    expect(echoed.message).toBe('boom');
    expect(echoed.code).toBeUndefined();
    expect(echoed.stack).toContain('boom');
    expect(echoed.cause).toBeInstanceOf(Error);
    expect(echoed.cause.message).toBe('underneath');
    expect(typed).toBeInstanceOf(TypeError);
  });

  it('rejects pending calls with NodeDownError when the target stops', async () => {
    const { a, b } = await pair();
    b.handle('hang', () => new Promise(() => {}));
    const pending = a.call(b.id, 'hang').catch((e) => e);
    await b.stop();
    const error: any = await pending;
    expect(error).toBeInstanceOf(NodeDownError);
    expect(error.node).toBe(b.id);
  });

  it('a call in flight when the calling node stops says that the caller stopped', async () => {
    const { a, b } = await pair();
    b.handle('hang', () => new Promise(() => {}));
    const pending = a.call(b.id, 'hang').catch((e) => e);
    await a.stop();
    const error: any = await pending;
    expect(error).toBeInstanceOf(NodeDownError);
    expect(error.message).toBe(
      `Call hang to node ${b.id} failed: the node was left by this node, ${a.id}, as it stops (its stop() was called).`,
    );
  });

  it('a burst of calls and messages in one turn (batched into few writes) arrives whole and in order', async () => {
    const { a, b } = await pair();
    const order: number[] = [];
    b.handle('echo', (i: number) => i);
    const all = new Promise<void>((resolve) =>
      b.on('message', (_from, _topic, i) => {
        order.push(i as number);
        if (order.length === 500) resolve();
      }),
    );
    // Synchronously, in one turn: far more frames than one write takes.
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) {
      a.send(b.id, 'seq', i);
      calls.push(a.call(b.id, 'echo', i));
    }
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    await all;
    expect(order).toEqual(Array.from({ length: 500 }, (_, i) => i));
    // A lone call after the burst is not held back by it.
    expect(await a.call(b.id, 'echo', 'after')).toBe('after');
  });

  it('delivers send() as a message event', async () => {
    const { a, b } = await pair();
    const got = new Promise<unknown[]>((resolve) => b.once('message', (...args) => resolve(args)));
    a.send(b.id, 'topic', { when: new Date(5) });
    expect(await got).toEqual([a.id, 'topic', { when: new Date(5) }]);
    // To a node that is not linked, a message is dropped.
    expect(() => a.send('ghost@127.0.0.1:1', 't', 1)).not.toThrow();
  });

  it('mirrors nodeup and nodedown on the healer', async () => {
    const a = await node({ name: 'a' });
    const b = await node({ name: 'b' });
    const up = new Promise((resolve) => a.healer.once('nodeup', resolve));
    await a.connect(b.id);
    expect(await up).toBe(b.id);
    const down = new Promise((resolve) => a.healer.once('nodedown', (...args) => resolve(args)));
    await b.disconnect(a.id);
    expect(await down).toEqual([
      b.id,
      { reason: 'disconnected', detail: 'closed the link (code 1000, disconnect)' },
    ]);
  });
});

describe('stop() and block()', () => {
  it('leaves politely: the others do not redial a node that left', async () => {
    const list: string[] = [];
    const strategy = customStrategy({ discover: () => list });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => node({ name, strategy })));
    list.push(a!.id, b!.id, c!.id);
    await Promise.all([a!, b!, c!].map((n) => n.healer.refresh()));
    await Promise.all([a!, b!, c!].map((n) => waitForNodes(n, 2)));
    const downs = Promise.all([nextEvent(a!, 'nodedown', c!.id), nextEvent(b!, 'nodedown', c!.id)]);
    await c!.stop();
    await downs;
    // c is still discovered (its registration is stale), but it left: no redial, no failure.
    const [ra, rb] = await Promise.all([a!.healer.refresh(), b!.healer.refresh()]);
    expect(ra.failed).toEqual([]);
    expect(rb.failed).toEqual([]);
    expect(ra.connected).toEqual([]);
    // A new process with that id is linked again: it dials, the others accept.
    const again = await node({ name: 'c', port: c!.port, strategy });
    expect(again.id).toBe(c!.id);
    await again.healer.refresh();
    await waitForNodes(again, 2);
    await waitForNodes(a!, 2);
  });

  it('a call in flight to a node that stops fails as "left the cluster", even when its unregistering unlinks it at once elsewhere', async () => {
    // A registry that tells the other healers at once (as the local registry's watch does): the
    // other end's healer refreshes before the unregistering returns.
    const list: string[] = [];
    const nodes: ClusterNode[] = [];
    const strategy = customStrategy({
      discover: () => list,
      register: (ctx) => {
        list.push(ctx.self.id);
        return async () => {
          list.splice(list.indexOf(ctx.self.id), 1);
          await Promise.all(nodes.filter((n) => n.id !== ctx.self.id).map((n) => n.healer.refresh()));
        };
      },
    });
    const a = await node({ name: 'a', strategy });
    const b = await node({ name: 'b', strategy });
    nodes.push(a, b);
    // a's healer links b itself: it would unlink b once b is no longer discovered.
    expect((await a.healer.refresh()).connected).toEqual([b.id]);
    await waitForNodes(b, 1);
    b.handle('hang', () => new Promise(() => {}));
    const pending = a.call(b.id, 'hang').catch((e) => e);
    // The call reached b before it stops.
    b.handle('echo', (x: unknown) => x);
    expect(await a.call(b.id, 'echo', 1)).toBe(1);
    await b.stop();
    const error: any = await pending;
    expect(error).toBeInstanceOf(NodeDownError);
    expect(error.message).toContain('left the cluster');
  });

  it("says when a node's healer unlinked a node its strategy no longer discovers", async () => {
    const list: string[] = [];
    const logs: string[] = [];
    const strategy = customStrategy({ name: 'listed', discover: () => list });
    const a = await node({ name: 'a', strategy, log: (line) => logs.push(line) });
    const b = await node({ name: 'b', strategy });
    list.push(a.id, b.id);
    expect((await a.healer.refresh()).connected).toEqual([b.id]);
    b.handle('hang', () => new Promise(() => {}));
    const pending = a.call(b.id, 'hang').catch((e) => e);
    list.splice(list.indexOf(b.id), 1);
    const downs = Promise.all([nodedown(a, b.id), nodedown(b, a.id)]);
    expect((await a.healer.refresh()).disconnected).toEqual([b.id]);
    // Both ends say so in their nodedown.
    expect((await downs).map((down) => down.reason)).toEqual(['undiscovered', 'undiscovered']);
    const error: any = await pending;
    expect(error).toBeInstanceOf(NodeDownError);
    expect(error.message).toContain(
      `was no longer discovered by the strategy "listed" of ${a.id}, whose healer unlinked it`,
    );
    expect(logs.join('\n')).toContain(`lost its link to ${b.id}: it was no longer discovered`);
  });

  it('blocks names: cuts links, refuses dials both ways, healer skips them quietly, until unblocked', async () => {
    const list: string[] = [];
    const strategy = customStrategy({ discover: () => list });
    const a = await node({ name: 'a', strategy });
    const b = await node({ name: 'b', strategy });
    list.push(a.id, b.id);
    await a.healer.refresh();
    await waitForNodes(b, 1);
    const down = nextEvent(b, 'nodedown', a.id);
    a.block(['b']);
    await down;
    expect(a.nodes()).toEqual([]);
    // b (not blocking) dials a: refused quietly; a's own refresh skips b.
    const rb = await b.healer.refresh();
    expect(rb.connected).toEqual([]);
    expect(rb.failed).toEqual([]);
    const ra = await a.healer.refresh();
    expect(ra).toMatchObject({ connected: [], failed: [] });
    await expect(a.connect(b.id)).rejects.toMatchObject({ reason: 'blocked' });
    await expect(b.connect(a.id)).rejects.toMatchObject({ reason: 'blocked' });
    expect(b.nodes()).toEqual([]);
    // A call across the block says why it is not linked; from the other side, only that it is not.
    await expect(a.call(b.id, 'ping')).rejects.toThrow(
      `the node is not linked to ${a.id}: ${a.id} blocks "b" (a partition, or node.block()) (linked: none)`,
    );
    await expect(b.call(a.id, 'ping')).rejects.toThrow(`the node is not linked to ${b.id} (linked: none)`);
    // unblock() heals at once (it triggers a refresh).
    const up = nextEvent(a, 'nodeup', b.id);
    a.unblock();
    await up;
  });

  it('nodedown says why the link went down, on both ends: disconnect(), block(), stop()', async () => {
    const a = await node({ name: 'a' });
    const b = await node({ name: 'b' });
    const downs = () => Promise.all([nodedown(a, b.id), nodedown(b, a.id)]);
    await a.connect(b.id);
    let both = downs();
    await a.disconnect(b.id);
    expect(await both).toEqual([
      { reason: 'disconnected', detail: `was unlinked by ${a.id}` },
      { reason: 'disconnected', detail: 'closed the link (code 1000, disconnect)' },
    ]);
    await a.connect(b.id);
    both = downs();
    a.block(['b']);
    expect((await both).map((down) => down.reason)).toEqual(['blocked', 'blocked']);
    a.unblock();
    await a.connect(b.id);
    both = downs();
    await b.stop();
    expect(await both).toEqual([
      { reason: 'left', detail: 'left the cluster' },
      { reason: 'stopping', detail: `was left by this node, ${b.id}, as it stops (its stop() was called)` },
    ]);
  });

  it('a link cut by block() says on each end who blocks whom', async () => {
    const logs = { a: [] as string[], b: [] as string[] };
    const a = await node({ name: 'a', log: (line) => logs.a.push(line) });
    const b = await node({ name: 'b', log: (line) => logs.b.push(line) });
    await a.connect(b.id);
    const downs = Promise.all([nextEvent(a, 'nodedown', b.id), nextEvent(b, 'nodedown', a.id)]);
    a.block(['b']);
    await downs;
    expect(logs.a).toContain(
      `peer-cluster: ${a.id} lost its link to ${b.id}: it is blocked by this node (a partition, or node.block())`,
    );
    expect(logs.b).toContain(
      `peer-cluster: ${b.id} lost its link to ${a.id}: it blocks this node (a partition, or node.block()), and closed the link`,
    );
  });

  it('unblocked second, a node dials at once the node whose dial it refused meanwhile (a heal is not held up)', async () => {
    const list: string[] = [];
    // Polls far apart: only the refreshes that unblock() triggers can link them.
    const options = { strategy: customStrategy({ discover: () => list }), healer: { pollInterval: 60_000 } };
    const x = await node({ name: 'x', ...options });
    const y = await node({ name: 'y', ...options });
    x.block(['y']);
    y.block(['x']);
    list.push(x.id, y.id);
    // The designated dialer of the pair is unblocked first: its dial is refused by the other.
    const endpoint = (n: ClusterNode) => n.id.slice(n.id.indexOf('@') + 1);
    const [first, second] = designatedDialer(endpoint(x), endpoint(y)) ? [x, y] : [y, x];
    first.unblock();
    expect(await first.healer.refresh()).toMatchObject({ connected: [], failed: [] });
    // Unblocked, the other owes it a dial: it does not wait out its grace (2 s), nor the poll.
    second.unblock();
    await waitForNodes(second, 1, 1000);
  });
});

describe('heartbeats', () => {
  it('keep nodes with different heartbeat settings linked (a PING is answered when nothing else went out)', async () => {
    const fast = await node({ name: 'fast', heartbeat: { interval: 50, timeout: 200 } });
    const slow = await node({ name: 'slow', heartbeat: { interval: 2000, timeout: 8000 } });
    let downs = 0;
    fast.on('nodedown', () => downs++);
    slow.on('nodedown', () => downs++);
    await fast.connect(slow.id);
    await waitForNodes(slow, 1);
    // The other way round: the slow node dials, so PINGs come every 2 s unless the fast one asks.
    const fast2 = await node({ name: 'fast2', heartbeat: { interval: 50, timeout: 200 } });
    fast2.on('nodedown', () => downs++);
    await slow.connect(fast2.id);
    await waitForNodes(fast2, 1);
    // Absence of an event over time: five of the fast nodes' timeouts, with no traffic but heartbeats.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(downs).toBe(0);
    expect(fast.nodes()).toEqual([slow.id]);
    expect(fast2.nodes()).toEqual([slow.id]);
  });
});
