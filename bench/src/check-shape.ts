// `npm test` in bench: the JSON a --quick run wrote has the shape DESIGN.md promises, with every
// figure measured. Goals are not checked: a shared CI machine is too noisy for that.
//   node dist/check-shape.js <results.json>
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { figures } from './figures/index.js';

const finite = v.pipe(v.number(), v.finite('must be a finite number'));
const positive = v.pipe(finite, v.gtValue(0, 'must be > 0'));
const measured = v.pipe(finite, v.minValue(0, 'must be ≥ 0'));
const unit = v.picklist(['ms', 'µs', 'MiB']);
const runs = v.pipe(v.number(), v.integer(), v.minValue(1));
const figure = v.union([
  v.object({
    name: v.string(),
    value: measured,
    unit,
    floor: positive,
    ratio: positive,
    goal: positive,
    runs,
  }),
  v.object({
    name: v.string(),
    value: measured,
    unit,
    floor: v.null(),
    ratio: v.null(),
    goalValue: positive,
    runs,
  }),
]);
const results = v.object({
  machine: v.pipe(v.string(), v.minLength(1)),
  node: v.pipe(v.string(), v.regex(/^v\d+\./)),
  at: v.pipe(v.string(), v.isoTimestamp()),
  figures: v.array(figure),
});

const file = process.argv[2];
if (!file) throw new Error('usage: node dist/check-shape.js <results.json>');
const parsed = v.safeParse(results, JSON.parse(readFileSync(file, 'utf8')));
if (!parsed.success) {
  const problems = v.flatten(parsed.issues);
  process.stderr.write(
    `${file} does not have the shape of DESIGN.md:\n${JSON.stringify(problems, null, 2)}\n`,
  );
  process.exit(1);
}
const expected = figures({ quick: true }).map((f) => f.name);
const got = parsed.output.figures.map((f) => f.name);
if (JSON.stringify(expected) !== JSON.stringify(got)) {
  process.stderr.write(`${file} has figures ${got.join(', ')}; expected ${expected.join(', ')}\n`);
  process.exit(1);
}
for (const f of parsed.output.figures) {
  if ('ratio' in f && f.ratio !== null && Math.abs(f.ratio - f.value / f.floor) > 0.02 * f.ratio + 0.01) {
    process.stderr.write(`${f.name}: ratio ${f.ratio} is not value/floor (${f.value}/${f.floor})\n`);
    process.exit(1);
  }
}
process.stdout.write(`${file}: ${got.length} figures, shape ok\n`);
