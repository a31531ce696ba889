// The floor of an RPC between two peers: a raw `ws` echo between two processes
// (perMessageDeflate off, small binary messages), measured in the calling process like the value.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { FLOOR_CLUSTER, fixture } from '../paths.js';

export interface WsEcho {
  /** p50 µs of `count` sequential round trips. */
  rtt(count: number): Promise<number>;
  /** µs per message, `count` messages with `window` in flight. */
  throughput(count: number, window: number): Promise<number>;
  close(): Promise<void>;
  /** The calling end's and the echoing end's pids. */
  pids: { client: number; server: number };
}

interface EchoChild {
  child: ChildProcess;
  /** Rejects when the child exits: whatever was waiting on it fails instead of hanging. */
  gone: Promise<never>;
  what: string;
}

function forkChild(script: string, args: string[]): EchoChild {
  const child = fork(fixture(script), args, {
    execArgv: [],
    serialization: 'advanced',
    env: { PATH: process.env.PATH ?? '', PEER_CLUSTER: FLOOR_CLUSTER },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const gone = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`${script} exited (code ${code}, signal ${signal})`);
  });
  gone.catch(() => {});
  return { child, gone, what: script };
}

async function nextMessage<T>({ child, gone }: EchoChild): Promise<T> {
  const [message] = (await Promise.race([once(child, 'message'), gone])) as [T];
  return message;
}

export async function startWsEcho(): Promise<WsEcho> {
  const server = forkChild('ws-echo-server.mjs', []);
  const children = [server];
  try {
    const { port } = await nextMessage<{ port: number }>(server);
    const client = forkChild('ws-echo-client.mjs', [String(port)]);
    children.push(client);
    await nextMessage(client);
    const ask = async (message: object): Promise<number> => {
      client.child.send(message);
      return (await nextMessage<{ result: number }>(client)).result;
    };
    return {
      rtt: (count) => ask({ op: 'rtt', count }),
      throughput: (count, window) => ask({ op: 'throughput', count, window }),
      close: () => reap(children),
      pids: { client: client.child.pid!, server: server.child.pid! },
    };
  } catch (error) {
    await reap(children);
    throw error;
  }
}

async function reap(children: EchoChild[]): Promise<void> {
  await Promise.all(
    children.map(async ({ child, gone }) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await gone.catch(() => {});
    }),
  );
}
