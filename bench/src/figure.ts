// What a figure is, and how it is measured: its floor and its value sampled in the same process,
// interleaved run by run (and alternating which goes first), so that whatever else the machine
// does at a given moment lands on both sides of the ratio.
import { median } from './stats.js';

export type Unit = 'ms' | 'µs' | 'MiB';

export interface RunOptions {
  /** The small version for CI: fewer runs, fewer peers. */
  quick: boolean;
}

/**
 * One benchmark. `value` and `floor` each return one sample; the harness calls them `runs`
 * times, interleaved, after one unrecorded warm-up of each.
 */
export interface Figure<S = unknown> {
  name: string;
  unit: Unit;
  /** What the value measures, one line, for the table and the README. */
  what: string;
  /** What the floor measures; absent for a figure with no baseline. */
  floorWhat?: string;
  /** The ratio value/floor must stay under this… */
  goal?: number;
  /** …or, for a figure with no floor, the value itself (in `unit`). */
  goalValue?: number;
  runs: number;
  /** Shown next to the figure when the run differs from the full one (e.g. fewer peers in --quick). */
  note?: string;
  /** Shared state for all the runs (a running cluster, echo processes…), torn down at the end. */
  setup?(): Promise<S>;
  value(state: S): Promise<number>;
  floor?(state: S): Promise<number>;
  teardown?(state: S): Promise<void>;
}

export interface Measured {
  name: string;
  value: number;
  unit: Unit;
  floor: number | null;
  ratio: number | null;
  goal?: number;
  goalValue?: number;
  runs: number;
  samples: { value: number[]; floor: number[] };
}

/** Runs one figure: setup, warm-up, `runs` interleaved samples, teardown (also on failure). */
export async function measure<S>(figure: Figure<S>, progress: (line: string) => void): Promise<Measured> {
  const state = (await figure.setup?.()) as S;
  const sample = async (which: 'value' | 'floor'): Promise<number> => {
    const n = await figure[which]!(state);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${figure.name}: a ${which} sample came out as ${n}`);
    return n;
  };
  const values: number[] = [];
  const floors: number[] = [];
  try {
    // The first sample pays for cold disk caches, the registry daemon's start, esbuild's start…:
    // none of that is what the figure is about.
    if (figure.floor) await sample('floor');
    await sample('value');
    for (let run = 0; run < figure.runs; run++) {
      const floorFirst = run % 2 === 0;
      if (figure.floor && floorFirst) floors.push(await sample('floor'));
      values.push(await sample('value'));
      if (figure.floor && !floorFirst) floors.push(await sample('floor'));
      progress(
        `  ${figure.name} run ${run + 1}/${figure.runs}: ${fmt(values.at(-1)!)} ${figure.unit}` +
          (figure.floor ? ` (floor ${fmt(floors.at(-1)!)})` : ''),
      );
    }
  } finally {
    await figure.teardown?.(state);
  }
  const value = median(values);
  const floor = figure.floor ? median(floors) : null;
  const measured: Measured = {
    name: figure.name,
    value,
    unit: figure.unit,
    floor,
    ratio: floor === null || floor === 0 ? null : value / floor,
    runs: figure.runs,
    samples: { value: values, floor: floors },
  };
  if (figure.goal !== undefined) measured.goal = figure.goal;
  if (figure.goalValue !== undefined) measured.goalValue = figure.goalValue;
  return measured;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}
