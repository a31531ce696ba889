#!/usr/bin/env node
// `npm run bench`: measures every figure against its floor in this one process, prints the table
// and writes the JSON. Exits 1 when a figure could not be measured or a process leaked; a figure
// that misses its goal is reported, not failed (goals are for people, not for CI).
import { resolve } from 'node:path';
import { parseCli, USAGE } from './cli.js';
import { type Figure, measure } from './figure.js';
import { figures } from './figures/index.js';
import { waitForNoLeaks } from './leaks.js';
import { describeMachine } from './machine.js';
import { resultsDir } from './paths.js';
import {
  type FigureResult,
  failedResult,
  markdownTable,
  type Results,
  table,
  toResult,
  writeResults,
} from './report.js';

async function main(): Promise<number> {
  let cli: ReturnType<typeof parseCli>;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const all: Figure<any>[] = figures({ quick: cli.quick });
  if (cli.list) {
    for (const f of all)
      process.stdout.write(
        `${f.name.padEnd(20)} ${f.what}${f.floorWhat ? `\n${''.padEnd(20)} floor: ${f.floorWhat}` : ''}\n`,
      );
    return 0;
  }
  const unknown = cli.only.filter((name) => !all.some((f) => f.name === name));
  if (unknown.length) {
    process.stderr.write(
      `Unknown figure ${unknown.join(', ')}. Figures: ${all.map((f) => f.name).join(', ')}\n`,
    );
    return 2;
  }
  const selected = cli.only.length ? all.filter((f) => cli.only.includes(f.name)) : all;
  if (cli.runs !== undefined) for (const f of selected) f.runs = cli.runs;

  const machine = describeMachine();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`peer-cluster bench${cli.quick ? ' --quick' : ''} on ${machine}, Node ${process.version}`);
  const at = new Date().toISOString();
  const results: FigureResult[] = [];
  const started = Date.now();
  for (const figure of selected) {
    log(`${figure.name}: ${figure.what}${figure.floorWhat ? `\n  floor: ${figure.floorWhat}` : ''}`);
    // One retry: on a shared machine another suite's `peer-cluster reap` or rebuild can hit a
    // run. A product failure fails twice, and the first failure is in the log either way.
    for (let attempt = 1; ; attempt++) {
      try {
        results.push(toResult(await measure(figure, log), figure));
        break;
      } catch (error) {
        log(`  ${figure.name} FAILED (attempt ${attempt}): ${(error as Error)?.stack ?? error}`);
        if (attempt < 2) continue;
        results.push(failedResult(figure, error));
        break;
      }
    }
  }
  const report: Results = { machine, node: process.version, at, figures: results };
  // Only a full run replaces latest.json (the README's table is written from it).
  const partial = cli.only.length > 0 || cli.runs !== undefined;
  const name = cli.quick ? 'quick.tmp.json' : partial ? 'partial.tmp.json' : 'latest.json';
  const out = resolve(cli.out ?? `${resultsDir}${name}`);
  await writeResults(out, report);

  process.stdout.write(`\n${table(report)}\n\n`);
  if (cli.markdown) process.stdout.write(`${markdownTable(report)}\n\n`);
  process.stdout.write(`wrote ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);

  const leaks = await waitForNoLeaks();
  if (leaks.length) {
    log(`LEAKED processes:\n${leaks.map((l) => `  pid ${l.pid} (${l.cluster}): ${l.cmd}`).join('\n')}`);
    return 1;
  }
  return results.some((r) => r.error) ? 1 : 0;
}

process.exitCode = await main();
