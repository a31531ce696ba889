#!/usr/bin/env node
// `peer-cluster`: up, registry, ls, reap. Each subcommand lives in its own file.
import { readFileSync } from 'node:fs';
import { lsCommand } from './ls.js';
import { reapCommand } from './reap.js';
import { registryCommand } from './registry.js';
import { upCommand } from './up.js';
import { type Command, UsageError } from './usage.js';

const commands: Command[] = [upCommand, registryCommand, lsCommand, reapCommand];

const help = `Usage: peer-cluster <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(10)}${c.summary}`).join('\n')}

Run \`peer-cluster <command> --help\` (or \`peer-cluster help <command>\`) for a command's options,
\`peer-cluster --version\` for the version.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command is a usage error: the help goes where errors go, and nothing runs.
    console.error(help);
    return 2;
  }
  if (name === 'help' && rest.length > 0) {
    // `peer-cluster help ls` is `peer-cluster ls --help`.
    const command = commands.find((c) => c.name === rest[0]);
    if (!command || rest.length > 1)
      throw new UsageError(
        `help takes one command name, got ${rest.map((a) => JSON.stringify(a)).join(' ')}`,
        help,
      );
    console.log(command.help);
    return 0;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(help);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const manifest = new URL('../../package.json', import.meta.url);
    console.log((JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`, help);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`peer-cluster: ${error.message}\n\n${error.help}`);
      process.exitCode = 2;
    } else if (error instanceof Error && error.name !== 'Error') {
      // Our named errors already say what went wrong and what to do; the stack adds nothing.
      console.error(`peer-cluster: ${error.name}: ${error.message}`);
      process.exitCode = 1;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  },
);
