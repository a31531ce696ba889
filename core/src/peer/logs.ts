// A peer's stdout and stderr, line by line with timestamps, in a ring buffer. The pipes are
// always drained, whatever the mode: a peer flooding stdout must never stall on a full pipe.

import type { Readable } from 'node:stream';
import { clearTimeout, now as clockNow, setTimeout } from '../clock.js';
import type { LogsMode } from '../options.js';

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

  constructor(
    private readonly name: string,
    private readonly mode: LogsMode,
    private readonly onLine: (line: LogLine) => void,
  ) {}

  attach(stream: Readable, kind: 'stdout' | 'stderr'): void {
    stream.setEncoding('utf8');
    const slot = kind === 'stdout' ? 0 : 1;
    this.#read[slot] = 0;
    let partial = '';
    stream.on('data', (chunk: string) => {
      this.#read[slot] += Buffer.byteLength(chunk);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      if (partial.length > MAX_LINE) {
        this.add(kind, partial);
        partial = '';
      }
      for (const line of parts) this.add(kind, line);
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
  add(stream: 'stdout' | 'stderr', text: string): void {
    const line = text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}… (${text.length} chars)` : text;
    const entry: LogLine = { at: clockNow(), stream, line: line.endsWith('\r') ? line.slice(0, -1) : line };
    if (stream === 'stderr') {
      this.#stderr.push(entry.line);
      if (this.#stderr.length > 40) this.#stderr.shift();
    }
    this.onLine(entry);
    if (this.mode === 'silent') return;
    if (this.#lines.length < KEEP) this.#lines.push(entry);
    else {
      this.#lines[this.#start] = entry;
      this.#start = (this.#start + 1) % KEEP;
    }
    if (this.mode === 'inherit') {
      (stream === 'stderr' ? process.stderr : process.stdout).write(`[${this.name}] ${entry.line}\n`);
    }
  }

  lines(): LogLine[] {
    return [...this.#lines.slice(this.#start), ...this.#lines.slice(0, this.#start)];
  }

  /** The last `count` stdout lines kept (none when logs are 'silent'), for boot errors. */
  stdoutTail(count = 10): string {
    return this.lines()
      .filter((l) => l.stream === 'stdout')
      .slice(-count)
      .map((l) => l.line)
      .join('\n');
  }

  /** The last `count` stderr lines, for boot errors. */
  stderrTail(count = 20): string {
    return this.#stderr.slice(-count).join('\n');
  }
}
