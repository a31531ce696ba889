// A peer's stdout and stderr, line by line with timestamps, in a ring buffer. The pipes are
// always drained, whatever the mode: a peer flooding stdout must never stall on a full pipe.

import type { Readable } from 'node:stream';
import { clearTimeout, now as clockNow, setTimeout } from '../clock.js';
import type { LogsMode } from '../options.js';
import { realmArray, realmObject } from './realm.js';

export interface LogLine {
  /** Epoch ms when the parent read the line. */
  at: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** Lines kept per peer. */
const KEEP = 2000;
/** Longest line kept whole; a longer one is cut (a runaway line must not eat the parent's memory). */
const MAX_LINE = 16 * 1024;

/** Longest a control answer waits for the output written before it (a stuck pipe must not hang it). */
const SETTLE_TIMEOUT = 1000;

export class PeerLogs {
  #lines: LogLine[] = [];
  /** Bytes read so far from [stdout, stderr], and who waits for more. */
  #read: [number, number] = [0, 0];
  #waiting = new Set<() => void>();
  #start = 0;
  // Kept in every mode, even 'silent': a boot error must be able to show why.
  #stderr: string[] = [];
  /** stderr lines read in all, and how many of them came before the current process's. */
  #stderrCount = 0;
  #stderrBefore = 0;
  /** Lines kept in all, and how many of them came before the current process's. */
  #kept = 0;
  #keptBefore = 0;

  constructor(
    private readonly name: string,
    private readonly mode: LogsMode,
    private readonly onLine: (line: LogLine) => void,
  ) {}

  attach(stream: Readable, kind: 'stdout' | 'stderr'): void {
    stream.setEncoding('utf8');
    const slot = kind === 'stdout' ? 0 : 1;
    this.#read[slot] = 0;
    if (kind === 'stderr') this.#stderrBefore = this.#stderrCount;
    else this.#keptBefore = this.#kept;
    let partial = '';
    // A line longer than MAX_LINE is kept as its head, at once; the rest of it, up to its newline,
    // is dropped as it comes.
    let dropping = false;
    stream.on('data', (chunk: string) => {
      this.#read[slot] += Buffer.byteLength(chunk);
      let text = chunk;
      if (dropping) {
        const end = text.indexOf('\n');
        dropping = end === -1;
        text = dropping ? '' : text.slice(end + 1);
      }
      const parts = (partial + text).split('\n');
      partial = parts.pop()!;
      for (const line of parts) this.add(kind, line);
      if (partial.length > MAX_LINE) {
        this.add(kind, partial, true);
        partial = '';
        dropping = true;
      }
      this.#wake();
    });
    stream.on('end', () => {
      if (partial) this.add(kind, partial);
      partial = '';
      this.#read[slot] = Number.POSITIVE_INFINITY;
      this.#wake();
    });
    stream.on('error', () => {});
  }

  /** Undefined when everything up to `mark` was read; else a promise of it (or of a timeout). */
  settle([out, err]: [number, number]): Promise<void> | undefined {
    const caughtUp = () => this.#read[0] >= out && this.#read[1] >= err;
    if (caughtUp()) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(check);
        resolve();
      };
      const check = () => {
        if (caughtUp()) done();
      };
      const timer = setTimeout(done, SETTLE_TIMEOUT);
      this.#waiting.add(check);
    });
  }

  #wake(): void {
    for (const check of [...this.#waiting]) check();
  }

  /** Also used for the harness's own notes about the peer. */
  add(stream: 'stdout' | 'stderr', text: string, continues = false): void {
    const line = text.length > MAX_LINE ? cut(text, continues) : text;
    const entry: LogLine = realmObject({
      at: clockNow(),
      stream,
      line: line.endsWith('\r') ? line.slice(0, -1) : line,
    });
    if (stream === 'stderr') {
      this.#stderr.push(entry.line);
      this.#stderrCount++;
      if (this.#stderr.length > 40) this.#stderr.shift();
    }
    this.onLine(entry);
    const echoing = this.mode === 'inherit' && !echoSilenced;
    // What the inspector says (nodeArgs: ['--inspect=0']) is for the person debugging the peer:
    // shown whatever the logs mode, or they would have to find its URL in peer.logs().
    if (!echoing && stream === 'stderr' && INSPECTOR.test(entry.line))
      process.stderr.write(`[${this.name}] ${entry.line}\n`);
    // Kept whatever the mode, 'silent' too, for peer.waitForLog(): 'silent' shows none of them.
    this.#kept++;
    if (this.#lines.length < KEEP) this.#lines.push(entry);
    else {
      this.#lines[this.#start] = entry;
      this.#start = (this.#start + 1) % KEEP;
    }
    if (echoing) {
      echo(
        stream === 'stderr' ? process.stderr : (stdoutEcho ?? process.stdout),
        `[${this.name}] ${entry.line}\n`,
      );
    }
  }

  /** The lines kept, oldest first (none when logs are 'silent'). */
  lines(): LogLine[] {
    return this.mode === 'silent' ? realmArray([]) : realmArray(this.#all());
  }

  /** The lines kept of the current process, oldest first, whatever the mode (for waitForLog). */
  current(): LogLine[] {
    const lines = this.#all();
    const own = Math.min(lines.length, this.#kept - this.#keptBefore);
    return lines.slice(lines.length - own);
  }

  #all(): LogLine[] {
    return [...this.#lines.slice(this.#start), ...this.#lines.slice(0, this.#start)];
  }

  /** The current process's last `count` stdout lines kept (none when logs are 'silent'), for boot errors. */
  stdoutTail(count = 10): string {
    if (this.mode === 'silent') return '';
    return this.current()
      .filter((l) => l.stream === 'stdout')
      .slice(-count)
      .map((l) => l.line)
      .join('\n');
  }

  /** The last `count` stderr lines, for boot errors, V8's native stack frames folded (foldNativeFrames). */
  stderrTail(count = 20): string {
    return foldNativeFrames(this.#stderr.map((line) => ({ line })))
      .slice(-count)
      .map((entry) => entry.line)
      .join('\n');
  }

  /** What the current process printed of a fatal error before it aborted (see fatalError). */
  fatalError(): string | undefined {
    const own = Math.min(this.#stderr.length, this.#stderrCount - this.#stderrBefore);
    return fatalError(this.#stderr.slice(this.#stderr.length - own));
  }
}

/** Where `logs: 'inherit'` echoes the peers' stdout, when not this process's stdout (see echoPeerStdoutTo). */
let stdoutEcho: NodeJS.WriteStream | undefined;

/**
 * Echo the peers' stdout (`logs: 'inherit'`) to `stream` instead of this process's stdout, which a
 * runner keeps for itself: `jest --json` writes its results there, and Jest's workers forward
 * their stdout to it. `undefined` restores stdout.
 */
export function echoPeerStdoutTo(stream: NodeJS.WriteStream | undefined): void {
  stdoutEcho = stream;
}

/** The runner silenced the tests' console (`jest --silent`): `logs: 'inherit'` echoes nothing. */
let echoSilenced = false;

/**
 * Whether `logs: 'inherit'` echoes the peers' lines at all: a runner whose tests' console is
 * silenced silences them too. They are kept all the same, for logs() and failure reports.
 */
export function silencePeerEcho(silent: boolean): void {
  echoSilenced = silent;
}

/**
 * How much of this process's stdout (or stderr) may wait to be written before `logs: 'inherit'`
 * stops echoing lines to it. The peers' pipes are drained whatever happens, so a peer that writes
 * faster than this process's own output is read (a runner's pipe, a CI log) would otherwise pile
 * all it writes up in this process's memory.
 */
const ECHO_BACKLOG = 8 * 1024 * 1024;
/** Lines not echoed to each stream since it fell behind (until it drains). */
const notEchoed = new Map<NodeJS.WritableStream, number>();

function echo(out: NodeJS.WriteStream, text: string): void {
  const skipped = notEchoed.get(out);
  if (skipped !== undefined || out.writableLength > ECHO_BACKLOG) {
    notEchoed.set(out, (skipped ?? 0) + 1);
    if (skipped === undefined) {
      out.once('drain', () => {
        const count = notEchoed.get(out) ?? 0;
        notEchoed.delete(out);
        out.write(
          `peer-cluster: ${count} line${count === 1 ? '' : 's'} of the peers' output not echoed here: this process's output fell behind (each peer's logs() keeps its last ${KEEP})\n`,
        );
      });
    }
    return;
  }
  out.write(text);
}

/** The inspector's lines: its URL, or the port it could not have (two peers on 9229). */
const INSPECTOR = /^(Debugger listening on ws:\/\/|Starting inspector on \S+ failed)/;

/**
 * The first MAX_LINE characters of a long line, copied: a slice would keep the whole chunk it came
 * from alive. ASCII marks keep an ASCII line one byte per character in V8 (a "…" made each kept
 * line two bytes per character, so the ring held twice what KEEP × MAX_LINE says).
 */
function cut(text: string, continues: boolean): string {
  const head = Buffer.from(text.slice(0, MAX_LINE)).toString();
  return `${head}... (${continues ? 'over ' : ''}${text.length} chars)`;
}

/** A frame of the native stack trace Node prints after a fatal error: ` 9: 0x15247d6 v8::internal::…`. */
const NATIVE_FRAME = /^\s*\d+: 0x[0-9a-f]+\b/;

/**
 * `entries` with each run of native stack frames folded into one line that says how many were
 * left out. After an out-of-memory error they are ≈20 lines of V8 internals that would push the
 * line that says what happened out of a boot error's tail or a failure report.
 */
export function foldNativeFrames<T extends { line: string }>(entries: readonly T[]): T[] {
  const out: T[] = [];
  let run = 0;
  for (const entry of entries) {
    if (!NATIVE_FRAME.test(entry.line)) {
      run = 0;
      out.push(entry);
      continue;
    }
    run++;
    const folded = { ...entry, line: `(${run} native stack frame${run === 1 ? '' : 's'} left out)` };
    if (run === 1) out.push(folded);
    else out[out.length - 1] = folded;
  }
  return out;
}

/**
 * The message of the last fatal error V8 or Node printed before aborting the process:
 * `FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory`, or a failed
 * check (`# Fatal error in …` and the line after it).
 */
export function fatalError(stderr: readonly string[]): string | undefined {
  for (let i = stderr.length - 1; i >= 0; i--) {
    const line = stderr[i]!;
    const fatal = /^FATAL ERROR: (.+)$/.exec(line);
    if (fatal) return fatal[1]!.trim();
    if (line.startsWith('# Fatal error in ')) {
      const next = stderr[i + 1];
      return [line.slice(2).trim(), next?.startsWith('# ') ? next.slice(2).trim() : '']
        .filter(Boolean)
        .join(': ');
    }
  }
  return undefined;
}

/** How to say that a process died of `fatal`, with what to do when it ran out of memory. */
export function describeFatal(fatal: string): string {
  const hint = /out of memory/i.test(fatal)
    ? ". It ran out of memory: if it needs more, raise the peer's heap limit with nodeArgs: ['--max-old-space-size=<MiB>']"
    : '';
  return `after a fatal error: ${fatal}${hint}`;
}
