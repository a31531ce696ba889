// What a failed test's report shows about its cluster: the peers, the timeline around the
// failure and the peers' last log lines, name-prefixed and on one clock (relative to the
// test's start), so a reader sees which peer said what, when, next to what happened.
import { now as clockNow } from '../clock.js';
import type { InFlight } from '../peer/channel.js';
import { mapCompiledLine } from '../peer/compiled-stacks.js';
import { foldNativeFrames } from '../peer/logs.js';
import type { TestScope } from '../peer/test-scope.js';
import { printable } from '../printable.js';
import { table } from '../table.js';
import type { ClusterEvent } from '../types.js';

/** The parts of a Cluster the report reads (a stopped cluster still has them). */
export interface ReportedCluster {
  readonly name: string;
  readonly peers: readonly ReportedPeer[];
  readonly timeline: readonly ClusterEvent[];
  /** What the test awaits of the cluster as a whole and has not settled yet (waitForMesh). */
  inFlight?(): readonly InFlight[];
}

export interface ReportedPeer {
  readonly name: string;
  readonly state: string;
  readonly node?: string;
  readonly pid?: number | undefined;
  logs(): readonly { at: number; stream: string; line: string }[];
  /** What the test awaits of the peer and has not settled yet: requests, waits. */
  inFlight?(): readonly InFlight[];
}

export interface FailureReportOptions {
  /** Epoch ms the failed test started: times are shown relative to it. @default now */
  since?: number;
  /** Log lines shown, the most recent across all peers. @default 40 */
  lines?: number;
  /** Timeline events shown: those since the test started, plus a few before for context. @default 30 */
  events?: number;
  /**
   * The failed test's scope, when its plugin ran it in one (concurrent tests): what it began is
   * its own whenever it began, and what another test still running began is left out.
   */
  scope?: TestScope | undefined;
}

/** Events from before the test that are still shown, for context. */
const EVENTS_BEFORE = 5;

export function formatFailureReport(cluster: ReportedCluster, options: FailureReportOptions = {}): string {
  const since = options.since ?? clockNow();
  const maxLines = options.lines ?? 40;
  const maxEvents = options.events ?? 30;
  const peers = [...cluster.peers];
  const out: string[] = [];

  out.push(`cluster ${cluster.name}: ${peers.length} peer${peers.length === 1 ? '' : 's'}`);
  out.push(
    ...indent(
      table([
        ['peer', 'state', 'node', 'pid'],
        ...peers.map((p) => [p.name, p.state, p.node ?? '-', p.pid === undefined ? '-' : String(p.pid)]),
      ]),
    ),
  );

  // A partition outlives the test that made it (until cluster.heal()): the next test's failure
  // may well be it, and its event is soon out of the timeline's window. Said whenever in force.
  const cut = cluster.timeline.findLast((e) => e.type === 'partition' || e.type === 'heal');
  if (cut?.type === 'partition')
    out.push(
      '',
      `partition in force since ${relative(cut.at, since)}${cut.at < since ? ' (made before this test began; cluster.heal() lifts it)' : ''}: ${cut.detail ?? ''}`,
    );

  // A test that timed out was most often waiting on one of these: say which, and for how long.
  const now = clockNow();
  const waiting = [
    ...safeInFlight(cluster).map((w) => ({ on: 'cluster', ...w })),
    ...peers.flatMap((peer) => safeInFlight(peer).map((w) => ({ on: peer.name, ...w }))),
  ]
    // What another test running alongside this one (concurrent tests) awaits is in its own report.
    .filter((w) => w.scope === undefined || w.scope === options.scope || w.scope.ended)
    .sort((a, b) => a.since - b.since);
  // What an earlier test left unsettled (a call it did not await to the end) is not what this one
  // waited for: said apart, so it does not read as the cause. Without scopes, the time tells.
  const current = waiting.filter((w) =>
    w.scope === undefined ? w.since >= since : w.scope === options.scope,
  );
  if (current.length > 0) {
    out.push('', 'waiting for (awaited by the test process, not settled yet):');
    out.push(
      ...indent(
        table(
          current.map((w) => [
            relative(w.since, since),
            w.on,
            w.what,
            `for ${((now - w.since) / 1000).toFixed(3)}s`,
            w.detail ?? '',
          ]),
        ),
      ),
    );
  }
  const before = waiting.filter((w) => w.scope === undefined && w.since < since);
  if (before.length > 0) out.push('', `still pending from before this test began: ${listed(before)}`);
  const ended = waiting.filter((w) => w.scope !== undefined && w.scope !== options.scope);
  if (ended.length > 0) out.push('', `still pending from tests that have ended: ${listed(ended)}`);

  const timeline = [...cluster.timeline];
  const firstDuring = timeline.findIndex((e) => e.at >= since);
  const from =
    firstDuring === -1
      ? Math.max(0, timeline.length - EVENTS_BEFORE)
      : Math.max(0, firstDuring - EVENTS_BEFORE);
  const window = timeline.slice(from);
  // Over the budget, what happened to the peers (a kill, a crash, a pause) is kept before the
  // links' echoes of it: in a large cluster one kill is a nodedown from every other peer.
  const kept = new Set<(typeof window)[number]>();
  for (const e of [...window].reverse()) if (!LINK_EVENTS.has(e.type) && kept.size < maxEvents) kept.add(e);
  for (const e of [...window].reverse()) if (kept.size < maxEvents) kept.add(e);
  const events = window.filter((e) => kept.has(e));
  // Two reasons an event is not shown, said apart: it came before the few kept for context, or
  // the window was over its budget (where link events go first).
  const plural = (n: number) => `${n} ${n === 1 ? 'event' : 'events'}`;
  const dropped = window.length - events.length;
  const hidden = [
    ...(from > 0 ? [`${plural(from)} before these not shown`] : []),
    ...(dropped > 0 ? [`${plural(dropped)} left out to fit, link events first`] : []),
  ];
  out.push('', `timeline (time relative to the test's start${hidden.map((h) => `; ${h}`).join('')}):`);
  if (events.length === 0) out.push('  (no events)');
  out.push(
    ...indent(
      table(
        events.map((e) => [
          relative(e.at, since),
          e.type,
          e.peer ?? '',
          // A nodedown: `peer-2@… heartbeat: was silent for 2004 ms or more (…)`.
          [e.node, e.reason && e.detail ? `${e.reason}: ${e.detail}` : (e.reason ?? e.detail)]
            .filter(Boolean)
            .join(' '),
        ]),
      ),
    ),
  );

  const logs = peers
    .flatMap((peer) => foldNativeFrames(safeLogs(peer)).map((entry) => ({ peer: peer.name, ...entry })))
    .sort((a, b) => a.at - b.at);
  const shown = logs.slice(-maxLines);
  const hiddenLines = logs.length - shown.length;
  if (shown.length === 0) out.push('', 'logs: (the peers wrote nothing)');
  else
    out.push(
      '',
      `logs (last ${shown.length} ${shown.length === 1 ? 'line' : 'lines'} of the peers' output${hiddenLines ? `, ${hiddenLines} earlier` : ''}; ! marks stderr):`,
    );
  const width = Math.max(0, ...shown.map((l) => l.peer.length));
  for (const entry of shown) {
    const mark = entry.stream === 'stderr' ? '!' : '|';
    out.push(
      `  ${relative(entry.at, since).padStart(9)}  ${entry.peer.padEnd(width)} ${mark} ${plain(mapCompiledLine(entry.line))}`,
    );
  }
  return out.join('\n');
}

/** The reports of several clusters, or undefined when there is none. */
export function formatFailureReports(
  clusters: Iterable<ReportedCluster>,
  options: FailureReportOptions = {},
): string | undefined {
  const reports: string[] = [];
  for (const cluster of clusters) {
    try {
      reports.push(formatFailureReport(cluster, options));
    } catch (error) {
      // A report is a courtesy: it must never hide the test's own failure.
      reports.push(
        `cluster ${safeName(cluster)}: no report (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }
  if (reports.length === 0) return undefined;
  return `peer-cluster: what the peers did around this failure\n\n${reports.join('\n\n')}`;
}

/** Errors that say the test used the harness wrongly: what the peers did has nothing to add. */
const MISUSE = new Set([
  'InvalidOptionsError',
  'ClusterUnavailableError',
  'MisplacedUsePeersError',
  'MissingEnvironmentError',
]);

/**
 * Whether a failure with these errors gets a report: not when each is a misuse of the harness (a
 * bad option, a handle used outside its scope), which the error itself explains. Runners keep an
 * error as itself or as `[error, asyncError]` (Jest).
 */
export function wantsFailureReport(errors: readonly unknown[]): boolean {
  return errors.some((entry) => {
    const error = Array.isArray(entry) ? entry[0] : entry;
    const name = typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
    return typeof name !== 'string' || !MISUSE.has(name);
  });
}

/**
 * The report as an error object that runners print beside the test's own errors: the name says
 * what it is, and it has no stack frames of its own.
 */
export function failureReportError(text: string): Error {
  const error = new Error(text);
  error.name = 'PeerClusterReport';
  error.stack = `${error.name}: ${text}`;
  return error;
}

/**
 * A log line as the report shows it: colours and other terminal escapes taken out, and any other
 * control character (a `\r` of a progress bar) shown escaped, so that no line can overwrite the
 * report's own columns.
 */
function plain(line: string): string {
  return printable(line.replace(TERMINAL_ESCAPES, ''));
}

// CSI sequences (colours, cursor moves) and OSC sequences (titles, links).
// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are what it finds
const TERMINAL_ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

/** Requests and waits in one line: the first five, and how many more. */
function listed(waits: readonly (InFlight & { on: string })[]): string {
  const shown = waits.slice(0, 5).map((w) => `${w.on} ${w.what}`);
  if (waits.length > 5) shown.push(`${waits.length - 5} more`);
  return shown.join(', ');
}

/** Events that echo a change in the links, as many as there are peers to see it. */
const LINK_EVENTS = new Set(['nodeup', 'nodedown', 'mesh']);

function safeLogs(peer: ReportedPeer): readonly { at: number; stream: string; line: string }[] {
  try {
    return peer.logs();
  } catch {
    return [];
  }
}

function safeInFlight(of: ReportedPeer | ReportedCluster): readonly InFlight[] {
  try {
    return of.inFlight?.() ?? [];
  } catch {
    return [];
  }
}

function safeName(cluster: ReportedCluster): string {
  try {
    return cluster.name;
  } catch {
    return '?';
  }
}

function relative(at: number, since: number): string {
  const ms = at - since;
  const sign = ms < 0 ? '-' : '+';
  return `${sign}${(Math.abs(ms) / 1000).toFixed(3)}s`;
}

function indent(lines: string[]): string[] {
  return lines.map((line) => `  ${line}`);
}
