// Type tests of the public API, as a user of the published packages writes it: checked by
// `tsc -p tsconfig.tests.json` (part of `npm run typecheck`), never run. Each `@ts-expect-error`
// is a mistake the types must catch; each expectTypeOf, a type a user relies on. (The checks that
// need a consumer's `exactOptionalPropertyTypes` are in core/test/fixtures/packed/consumer-types.ts.)
import { type EventEmitter, errorMonitor, once } from 'node:events';
import type { AppContext, LogLine, Peer } from '@peer-cluster/core';
import { dns } from '@peer-cluster/strategy-dns';
import { localRegistry } from '@peer-cluster/strategy-local-registry';
import type * as jest from 'jest-environment-peer-cluster';
import { expectTypeOf } from 'vitest';
import type * as vitest from 'vitest-environment-peer-cluster';

declare const peer: Peer;

export async function evaluate(): Promise<void> {
  // The arg is inferred from the value given, and the result is the function's, awaited.
  expectTypeOf(peer.evaluate((ctx, arg) => arg.x + ctx.port, { x: 1 })).toEqualTypeOf<Promise<number>>();
  expectTypeOf(peer.evaluate(async (ctx) => ctx.name)).toEqualTypeOf<Promise<string>>();
  expectTypeOf(peer.evaluate((_ctx, n: number) => n * 2, 3)).toEqualTypeOf<Promise<number>>();
  await peer.evaluate((ctx) => {
    expectTypeOf(ctx).toEqualTypeOf<AppContext>();
    ctx.cluster.on('message', (from, topic, payload) => {
      expectTypeOf(from).toEqualTypeOf<string>();
      expectTypeOf(topic).toEqualTypeOf<string>();
      expectTypeOf(payload).toBeUnknown();
    });
    expectTypeOf(ctx.cluster.call<number>('a@127.0.0.1:1', 'm')).toEqualTypeOf<Promise<number>>();
  });
  expectTypeOf(peer.evaluate<string, boolean>((_ctx, yes) => (yes ? 'y' : 'n'), true)).toEqualTypeOf<
    Promise<string>
  >();
  // A function that takes an arg runs with undefined when none is given: the arg is required.
  // @ts-expect-error no arg for a function that needs one
  await peer.evaluate((_ctx, n: number) => n * 2);
  // @ts-expect-error an arg of the wrong type
  await peer.evaluate((_ctx, n: number) => n * 2, 'three');
  // An optional parameter may go without.
  expectTypeOf(peer.evaluate((_ctx, n?: number) => n ?? 0)).toEqualTypeOf<Promise<number>>();
}

export async function events(): Promise<void> {
  peer.on('exit', (code, signal) => {
    expectTypeOf(code).toEqualTypeOf<number | null>();
    expectTypeOf(signal).toEqualTypeOf<NodeJS.Signals | null>();
  });
  // A peer is a Node EventEmitter still: node:events' helpers take it.
  expectTypeOf(peer).toExtend<EventEmitter>();
  await once(peer, 'exit');
  // @ts-expect-error no event 'exited' (it is 'exit')
  peer.on('exited', () => {});
  // @ts-expect-error 'log' gives a LogLine
  peer.once('log', (line: string) => line);
  await peer.evaluate((ctx) => {
    // @ts-expect-error no event 'messages' (it is 'message')
    ctx.cluster.on('messages', () => {});
    // @ts-expect-error 'refresh' gives a RefreshResult
    ctx.cluster.healer.once('refresh', (result: string) => result);
    // errorMonitor where there is an 'error' event (the healer's), with what 'error' gives.
    ctx.cluster.healer.on(errorMonitor, (error) => expectTypeOf(error).toEqualTypeOf<Error>());
    // @ts-expect-error a node has no 'error' event: an errorMonitor listener would never run
    ctx.cluster.on(errorMonitor, () => {});
  });
  // The events of every EventEmitter, typed as @types/node types them, and any symbol, untyped.
  peer.on('newListener', (event, listener) => {
    expectTypeOf(event).toEqualTypeOf<string | symbol>();
    expectTypeOf(listener).toEqualTypeOf<(...args: any[]) => void>();
  });
  peer.prependListener('removeListener', (event: string | symbol) => event);
  peer.once(Symbol.for('app.event'), (...args) => expectTypeOf(args).toEqualTypeOf<any[]>());
  // @ts-expect-error 'newListener' gives the event name first
  peer.on('newListener', (listener: () => void) => listener);
  // The methods that return the emitter return it typed, so a chain keeps the events.
  expectTypeOf(peer.setMaxListeners(20).on('exit', () => {})).toEqualTypeOf<Peer>();
  // @ts-expect-error no event 'exited', after setMaxListeners
  peer.setMaxListeners(20).on('exited', () => {});
  // @ts-expect-error no event 'exited', after removeAllListeners
  peer.removeAllListeners('log').off('exited', () => {});
}

export async function waitForLog(): Promise<void> {
  expectTypeOf(peer.waitForLog('ready')).toEqualTypeOf<Promise<LogLine>>();
  expectTypeOf(
    peer.waitForLog(/port (\d+)/, { timeout: 1000, stream: 'stderr', since: 'now' }),
  ).toEqualTypeOf<Promise<LogLine>>();
  // @ts-expect-error a stream is 'stdout' or 'stderr'
  await peer.waitForLog('ready', { stream: 'out' });
  // @ts-expect-error the timeout is an option, not the second argument
  await peer.waitForLog('ready', 1000);
  // @ts-expect-error a pattern is a string or a RegExp
  await peer.waitForLog((line: string) => line.includes('ready'));
}

export function strategies(): void {
  dns({ query: 'app.local', port: 4369 });
  dns({ query: 'app.local', type: 'AAAA', port: 4369, basename: 'app', servers: ['127.0.0.1:53'] });
  dns({ query: '_app._tcp.local', type: 'SRV' });
  // A and AAAA records carry no port: dns() throws without one.
  // @ts-expect-error no port for an A query
  dns({ query: 'app.local' });
  // @ts-expect-error no port for an AAAA query
  dns({ query: 'app.local', type: 'AAAA' });
  // @ts-expect-error an unknown option
  dns({ query: 'app.local', port: 4369, ttl: 5 });
  localRegistry({ port: 14369 });
}

// What a test file needs comes from its plugin, without a dependency on core.
export type PluginTypes = [
  vitest.AppContext,
  vitest.App,
  vitest.AppStop,
  vitest.ClusterEvent,
  vitest.ClusterNode,
  vitest.LogLine,
  vitest.PeerEvents,
  vitest.StrategyData,
  vitest.WaitForLogOptions,
  jest.AppContext,
  jest.App,
  jest.ClusterEvent,
  jest.ClusterNode,
  jest.LogLine,
  jest.PeerEvents,
  jest.StrategyData,
  jest.WaitForLogOptions,
];
expectTypeOf<vitest.AppContext>().toEqualTypeOf<AppContext>();
expectTypeOf<jest.AppContext>().toEqualTypeOf<AppContext>();

export function errorClasses(): void {
  // The plugins give the error classes as values, the same classes as core's.
  expectTypeOf<typeof vitest.PeerExitedError>().toEqualTypeOf<
    typeof import('@peer-cluster/core').PeerExitedError
  >();
  expectTypeOf<typeof jest.PeerExitedError>().toEqualTypeOf<
    typeof import('@peer-cluster/core').PeerExitedError
  >();
  expectTypeOf<typeof jest.LogTimeoutError>().toEqualTypeOf<
    typeof import('@peer-cluster/core').LogTimeoutError
  >();
  expectTypeOf<typeof vitest.LogTimeoutError>().toEqualTypeOf<
    typeof import('@peer-cluster/core').LogTimeoutError
  >();
}
