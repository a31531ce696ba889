// Every code block of the README is exercised: a block marked `file:` is that file (which a suite
// runs), one marked `excerpt:` is a contiguous part of it, a shell block holds only commands that
// exist, and the performance table is the last full bench run's.
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode } from '@peer-cluster/core';
import { describe, expect, it } from 'vitest';
import { killWhenTestEnds } from '../test-support/children.js';

const repo = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const rootPackage = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const cli = join(repo, 'core/dist/cli/main.js');

interface Block {
  lang: string;
  body: string;
  marker?: { kind: 'file' | 'excerpt'; path: string };
  line: number;
}

function blocks(): Block[] {
  const found: Block[] = [];
  const re = /(?:<!-- (file|excerpt): (\S+) -->\n)?```(\w*)\n([\s\S]*?)```/g;
  for (let m = re.exec(readme); m; m = re.exec(readme)) {
    found.push({
      lang: m[3]!,
      body: m[4]!,
      line: readme.slice(0, m.index).split('\n').length,
      ...(m[1] && { marker: { kind: m[1] as 'file' | 'excerpt', path: m[2]! } }),
    });
  }
  return found;
}

const workspacePackages = new Set(
  [
    'core',
    'strategies/local-registry',
    'strategies/static-hosts',
    'strategies/dns',
    'plugin-vitest',
    'plugin-jest',
  ].map((dir) => JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8')).name as string),
);

describe('README', () => {
  it('starts with the two commands', () => {
    const first = blocks()
      .slice(0, 2)
      .map((b) => b.body.trim());
    expect(first).toEqual(['npm install && npm run demo', 'npm test']);
  });

  it.each(blocks().map((b) => [`${b.lang} block at line ${b.line}`, b] as const))(
    '%s is exercised',
    (_, block) => {
      if (block.marker) {
        const source = readFileSync(join(repo, block.marker.path), 'utf8');
        if (block.marker.kind === 'file') expect(block.body).toBe(source);
        // The formatter may re-indent an excerpt; compare its lines without leading blanks.
        else expect(trimmedLines(source)).toContain(trimmedLines(block.body));
        return;
      }
      expect(block.lang, 'a code block that is not a shell block needs a file: or excerpt: marker').toBe(
        'sh',
      );
      for (const line of block.body.trim().split('\n')) {
        for (const command of line.split('&&').map((c) => c.trim())) checkCommand(command);
      }
    },
  );

  it('shows the figures of the last full bench run', () => {
    const results = JSON.parse(readFileSync(join(repo, 'bench/results/latest.json'), 'utf8'));
    const table = /<!-- bench-table -->\n([\s\S]*?)<!-- \/bench-table -->/.exec(readme)![1]!;
    for (const figure of results.figures) {
      const row = table.split('\n').find((l: string) => l.startsWith(`| \`${figure.name}\``));
      expect(row, `a row for ${figure.name}`).toBeDefined();
      expect(row).toContain(String(figure.value));
    }
  });
});

const trimmedLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .join('\n');

function checkCommand(command: string): void {
  const [tool, ...args] = command.split(/\s+/);
  if (tool === 'npm' && args[0] === 'install' && args.length === 1) return;
  if (tool === 'npm' && args[0] === 'test') return;
  if (tool === 'npm' && args[0] === 'run') {
    expect(Object.keys(rootPackage.scripts)).toContain(args[1]);
    return;
  }
  if (tool === 'npm' && args[0] === 'install' && args[1] === '--save-dev') {
    for (const name of args.slice(2)) expect(workspacePackages).toContain(name);
    return;
  }
  if (tool === 'npx' && args[0] === 'peer-cluster') {
    const help = execFileSync(process.execPath, [cli, args[1]!, '--help'], { encoding: 'utf8' });
    for (const flag of args.slice(2).filter((a) => a.startsWith('--'))) expect(help).toContain(flag);
    return;
  }
  throw new Error(`the README runs a command no test knows: ${command}`);
}

describe("README's startNode example", () => {
  it('links a worker to the nodes of its hosts file and answers calls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readme-node-'));
    const cookie = 'readme-secret';
    const main = await startNode({ name: 'main', cookie });
    try {
      writeFileSync(join(dir, 'cluster.cookie'), `${cookie}\n`);
      writeFileSync(join(dir, 'cluster.hosts'), `# the nodes to link\n${main.id}\n`);
      const worker = fork(join(repo, 'core/test/fixtures/readme/node.mjs'), [], {
        cwd: dir,
        env: { PATH: process.env.PATH, PEER_CLUSTER: 'readme' },
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      });
      killWhenTestEnds(worker);
      let out = '';
      worker.stdout!.on('data', (d) => (out += d));
      const [{ id }] = (await once(worker, 'message')) as [{ id: string }];
      const [linked] = (await once(main, 'nodeup')) as [string];
      expect(linked).toBe(id);
      expect(await main.call(id, 'ping')).toBe('pong');
      worker.disconnect();
      await once(worker, 'exit');
      expect(out).toContain(`linked to ${main.id}`);
    } finally {
      await main.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
