// Node ids are text anyone can make up: a connection that has proven nothing states one in its
// hello, and any local process registers one with the registry. A node name may hold a terminal
// escape (only whitespace, "@" and "/" are refused), so a node's log lines must carry such an id
// escaped: it cannot restyle, clear or retitle the terminal of whoever reads them.
import net from 'node:net';
import { localRegistryStrategy, RegistryClient, runRegistry } from '@peer-cluster/core/registry';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionPath, DialerHandshake, newIncarnation } from '../dist/link/handshake.js';
import { linkSocket } from '../dist/link/socket.js';
import { node, stopAll } from './fixtures/node/helpers.js';

afterEach(stopAll);

/** Retitles the terminal, then clears it. */
const ESCAPES = '\u001b]0;owned\u0007\u001b[2J';
// biome-ignore lint/suspicious/noControlCharactersInRegex: what the log lines must not hold
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;

describe('a made-up node id in a log line', () => {
  it('from a hello that fails its handshake, is escaped', async () => {
    const logs: string[] = [];
    const t = await node({ name: 'target', log: (l) => logs.push(l) });
    const socket = net.connect(t.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const ws = linkSocket(socket, { dialer: true, maxPayload: 1 << 20 });
    const handshake = new DialerHandshake({
      local: {
        id: `${ESCAPES}x@127.0.0.1:1`,
        cluster: 'default',
        incarnation: newIncarnation(),
        maxPayload: 1 << 20,
      },
      cookie: 'not the cookie',
      timeout: 5000,
      address: t.id,
      path: () => connectionPath(socket, 'dialer'),
      check: () => undefined,
      log: () => {},
    });
    const refused = await new Promise<Error | null>((resolve) => handshake.run(ws, resolve));
    expect(refused).toMatchObject({ reason: 'cookie' });
    const line = logs.find((l) => l.includes('refused link from'));
    expect(line).toContain('\\u001b]0;owned\\u0007\\u001b[2Jx@127.0.0.1:1');
    expect(logs.filter((l) => CONTROL.test(l))).toEqual([]);
  });

  it('from the registry, dialed and failed by the healer, is escaped', async () => {
    const registry = await runRegistry({ port: 0, idleTimeout: 0 });
    const squatter = await RegistryClient.connect({ port: registry.port, autoStart: false });
    try {
      // A local process registers an id nobody listens at.
      const dead = await new Promise<number>((resolve) => {
        const server = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as net.AddressInfo;
          server.close(() => resolve(port));
        });
      });
      const id = `${ESCAPES}x@127.0.0.1:${dead}`;
      await squatter.register('default', { id, name: `${ESCAPES}x`, host: '127.0.0.1', port: dead });
      const logs: string[] = [];
      let failed!: () => void;
      const logged = new Promise<void>((resolve) => {
        failed = resolve;
      });
      await node({
        name: 'target',
        strategy: localRegistryStrategy({ port: registry.port }),
        log: (l) => {
          logs.push(l);
          if (l.includes('dials failed')) failed();
        },
      });
      await logged;
      expect(logs.find((l) => l.includes('dials failed'))).toContain('\\u001b]0;owned\\u0007\\u001b[2Jx@');
      expect(logs.filter((l) => CONTROL.test(l))).toEqual([]);
    } finally {
      await stopAll();
      await squatter.close();
      await registry.close();
    }
  });
});
