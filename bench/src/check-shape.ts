// `npm test` in bench: the JSON a --quick run wrote has the shape DESIGN.md promises, with every
// figure measured. Goals are not checked: a shared CI machine is too noisy for that.
//   node dist/check-shape.js <results.json>
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { figures } from './figures/index.js';

const finite = z.number().refine(Number.isFinite, { error: 'must be a finite number' });
const positive = finite.refine((n) => n > 0, { error: 'must be > 0' });
const figure = z.union([
  z.object({
    name: z.string(),
    value: finite.refine((n) => n >= 0, { error: 'must be ≥ 0' }),
    unit: z.enum(['ms', 'µs', 'MiB']),
    floor: positive,
    ratio: positive,
    goal: positive,
    runs: z.number().int().positive(),
  }),
  z.object({
    name: z.string(),
    value: finite.refine((n) => n >= 0, { error: 'must be ≥ 0' }),
    unit: z.enum(['ms', 'µs', 'MiB']),
    floor: z.null(),
    ratio: z.null(),
    goalValue: positive,
    runs: z.number().int().positive(),
  }),
]);
const results = z.object({
  machine: z.string().min(1),
  node: z.string().regex(/^v\d+\./),
  at: z.iso.datetime(),
  figures: z.array(figure),
});

const file = process.argv[2];
if (!file) throw new Error('usage: node dist/check-shape.js <results.json>');
const parsed = results.safeParse(JSON.parse(readFileSync(file, 'utf8')));
if (!parsed.success) {
  process.stderr.write(`${file} does not have the shape of DESIGN.md:\n${z.prettifyError(parsed.error)}\n`);
  process.exit(1);
}
const expected = figures({ quick: true }).map((f) => f.name);
const got = parsed.data.figures.map((f) => f.name);
if (JSON.stringify(expected) !== JSON.stringify(got)) {
  process.stderr.write(`${file} has figures ${got.join(', ')}; expected ${expected.join(', ')}\n`);
  process.exit(1);
}
for (const f of parsed.data.figures) {
  if ('ratio' in f && f.ratio !== null && Math.abs(f.ratio - f.value / f.floor) > 0.02 * f.ratio + 0.01) {
    process.stderr.write(`${f.name}: ratio ${f.ratio} is not value/floor (${f.value}/${f.floor})\n`);
    process.exit(1);
  }
}
process.stdout.write(`${file}: ${got.length} figures, shape ok\n`);
