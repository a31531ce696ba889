// The bench's command line (node's own parseArgs: nothing to install).
import { parseArgs } from 'node:util';

export const USAGE = `Usage: npm run bench [-- options]

  --quick           the small version for CI: 3 runs a figure, 10 peers instead of 50 (< ~60 s)
  --only NAME       run only this figure (repeat, or separate with commas)
  --runs N          override every figure's run count
  --out PATH        where to write the JSON
                    (default bench/results/latest.json for a full run; quick.tmp.json with
                    --quick; partial.tmp.json with --only or --runs)
  --list            list the figures and exit
  --markdown        also print the table as Markdown (for the README)
  --help`;

export interface CliOptions {
  quick: boolean;
  only: string[];
  runs: number | undefined;
  out: string | undefined;
  list: boolean;
  markdown: boolean;
  help: boolean;
}

export function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true, default: [] },
      runs: { type: 'string' },
      out: { type: 'string' },
      list: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  let runs: number | undefined;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1)
      throw new Error(`--runs must be a whole number ≥ 1 (got ${values.runs})`);
  }
  return {
    quick: values.quick,
    only: values.only.flatMap((o) => o.split(',')).filter(Boolean),
    runs,
    out: values.out,
    list: values.list,
    markdown: values.markdown,
    help: values.help,
  };
}
