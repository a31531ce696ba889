// Writes the figures of bench/results/latest.json into the README's performance table (between
// the bench-table markers), with the command and the machine they came from. `npm run bench:readme`.
import { readFileSync, writeFileSync } from 'node:fs';

const readmePath = new URL('../README.md', import.meta.url);
const results = JSON.parse(readFileSync(new URL('./results/latest.json', import.meta.url), 'utf8'));

const goal = (f) => (f.ratio === null ? `≤ ${f.goalValue} ${f.unit}` : `ratio ≤ ${f.goal}`);
const holds = (f) => (f.ratio === null ? f.value <= f.goalValue : f.ratio <= f.goal);
const header = ['figure', 'value', 'floor', 'ratio', 'goal', 'holds'];
const rows = results.figures.map((f) => [
  `\`${f.name}\``,
  `${f.value} ${f.unit}`,
  f.floor === null ? '—' : `${f.floor} ${f.unit}`,
  String(f.ratio ?? '—'),
  goal(f),
  holds(f) ? 'yes' : '**no**',
]);
// Columns padded the way the formatter (Biome) lays out Markdown tables, so `npm run lint` passes.
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
const table = [
  `\`npm run bench\` on ${results.at.slice(0, 10)}, Node ${results.node}, ${results.machine}:`,
  '',
  line(header),
  line(widths.map((w) => '-'.repeat(w))),
  ...rows.map(line),
  '',
].join('\n');
const readme = readFileSync(readmePath, 'utf8');
const updated = readme.replace(/(<!-- bench-table -->\n)[\s\S]*?(<!-- \/bench-table -->)/, `$1${table}$2`);
writeFileSync(readmePath, updated);
console.log(table);
