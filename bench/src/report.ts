// The results: `bench/results/latest.json` in the shape DESIGN.md gives, and the table printed at
// the end with each figure's goal and whether it holds.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Figure, fmt, type Measured, type Unit } from './figure.js';
import { round } from './stats.js';

/** One entry of `figures` in the JSON (DESIGN.md, "Benchmarks (contract)"). */
export interface FigureResult {
  name: string;
  /** Median of the runs; null when the figure failed. */
  value: number | null;
  unit: Unit;
  /** Median of the floor's runs, measured in the same run; null for a figure with no floor. */
  floor: number | null;
  /** value / floor; null for a figure with no floor. */
  ratio: number | null;
  /** The ratio the figure must stay under. */
  goal?: number;
  /** For a figure with no floor: the value it must stay under, in `unit`. */
  goalValue?: number;
  runs: number;
  /** Set when this run differs from the full one (--quick). */
  note?: string;
  /** Why the figure could not be measured. */
  error?: string;
}

export interface Results {
  machine: string;
  node: string;
  at: string;
  figures: FigureResult[];
}

export function toResult(m: Measured, figure: Figure<any>): FigureResult {
  return {
    name: m.name,
    value: round(m.value),
    unit: m.unit,
    floor: m.floor === null ? null : round(m.floor),
    ratio: m.ratio === null ? null : round(m.ratio),
    ...goals(figure),
    runs: m.runs,
    ...(figure.note ? { note: figure.note } : {}),
  };
}

export function failedResult(figure: Figure<any>, error: unknown): FigureResult {
  return {
    name: figure.name,
    value: null,
    unit: figure.unit,
    floor: null,
    ratio: null,
    ...goals(figure),
    runs: 0,
    ...(figure.note ? { note: figure.note } : {}),
    error: error instanceof Error ? error.message : String(error),
  };
}

function goals(figure: Figure<any>): { goal?: number; goalValue?: number } {
  if (figure.goal !== undefined) return { goal: figure.goal };
  if (figure.goalValue !== undefined) return { goalValue: figure.goalValue };
  return {};
}

/** Whether the figure meets its goal; undefined when it could not be measured. */
export function holds(r: FigureResult): boolean | undefined {
  if (r.value === null) return undefined;
  if (r.goal !== undefined && r.ratio !== null) return r.ratio <= r.goal;
  if (r.goalValue !== undefined) return r.value <= r.goalValue;
  return undefined;
}

export async function writeResults(path: string, results: Results): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
}

export function table(results: Results): string {
  const head = ['figure', 'value', 'floor', 'ratio', 'goal', 'holds'];
  const rows = results.figures.map((r) => {
    const ok = holds(r);
    return [
      r.note ? `${r.name} (${r.note})` : r.name,
      r.value === null ? 'failed' : `${fmt(r.value)} ${r.unit}`,
      r.floor === null ? '—' : `${fmt(r.floor)} ${r.unit}`,
      r.ratio === null ? '—' : r.ratio.toFixed(2),
      r.goal !== undefined ? `≤ ${r.goal}` : r.goalValue !== undefined ? `≤ ${r.goalValue} ${r.unit}` : '—',
      ok === undefined ? '—' : ok ? 'yes' : 'NO',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const r of results.figures) if (r.error) out.push(`${r.name} failed: ${r.error}`);
  return out.join('\n');
}

/** The same table as Markdown, for the README's performance section. */
export function markdownTable(results: Results): string {
  const rows = results.figures.map((r) => {
    const ok = holds(r);
    return `| \`${r.name}\` | ${r.value === null ? 'failed' : `${fmt(r.value)} ${r.unit}`} | ${
      r.floor === null ? '—' : `${fmt(r.floor)} ${r.unit}`
    } | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${
      r.goal !== undefined ? `≤ ${r.goal}` : `≤ ${r.goalValue} ${r.unit}`
    } | ${ok === undefined ? '—' : ok ? 'yes' : 'no'} |`;
  });
  return [
    '| figure | value | floor | ratio | goal | holds |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
