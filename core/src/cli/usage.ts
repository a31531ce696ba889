// Command-line parsing shared by the `peer-cluster` subcommands: a bad argument is a usage error
// that names the argument and shows the command's help, never a stack trace.
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  name: string;
  summary: string;
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(argv: string[]): Promise<number>;
}

export function parse(command: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: command.options, allowPositionals: false, strict: true });
  } catch (error) {
    // node:util's messages name the offending flag; keep them, drop the code prefix.
    throw new UsageError((error as Error).message.replace(/^TypeError \[\w+\]: /, ''), command.help);
  }
}

export function integerOption(
  name: string,
  raw: unknown,
  help: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim()) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
    throw new UsageError(`--${name} must be an integer ${range}, got ${JSON.stringify(raw)}`, help);
  }
  return value;
}
