// `npm run demo`: a 3-peer cluster of replicated-kv. It shows the mesh forming, kills a peer,
// writes while it is down, restarts it, watches it heal and catch up, prints the cluster timeline
// and stops everything. Plain JavaScript on the public API, so it reads as a usage example.
import { fileURLToPath } from 'node:url';
import { startCluster } from '@peer-cluster/core';

const root = fileURLToPath(new URL('.', import.meta.url));
// Bold on a terminal only: piped into a file or a CI log, plain text.
const step = (text) => console.log(process.stdout.isTTY ? `\n\x1b[1m== ${text}\x1b[0m` : `\n== ${text}`);
const t0 = Date.now();

async function http(peer, path, init) {
  const res = await fetch(peer.url(path), init);
  return res.json();
}

async function showMesh(cluster) {
  for (const peer of cluster.peers) {
    if (peer.state !== 'running') continue;
    const nodes = await peer.nodes();
    console.log(
      `  ${peer.name.padEnd(8)} ${peer.node.padEnd(26)} pid ${String(peer.pid).padEnd(7)} links → ${nodes.join(', ') || '(none)'}`,
    );
  }
}

step('Booting 3 peers of replicated-kv (logs are live, prefixed with the peer name)');
const cluster = await startCluster({ count: 3, root, apps: ['./src/app.ts'], logs: 'inherit' });
try {
  console.log(`cluster ${cluster.name} ready and meshed in ${Date.now() - t0} ms`);
  await showMesh(cluster);

  const [a, b, c] = cluster.peers;
  step(`Writing colour=blue on ${a.name}`);
  await http(a, '/kv/colour', { method: 'PUT', body: JSON.stringify('blue') });
  await c.waitForNodes(2);
  console.log(`  ${c.name} reads colour = ${JSON.stringify(await c.call('kv.get', 'colour'))}`);

  step(`Killing ${b.name} (SIGKILL)`);
  await b.kill();
  await a.waitForNodes(1);
  console.log(`  ${a.name} now sees: ${(await a.nodes()).join(', ')}`);

  step(`Writing colour=green and size=42 on ${a.name} while ${b.name} is down`);
  await http(a, '/kv/colour', { method: 'PUT', body: JSON.stringify('green') });
  await http(a, '/kv/size', { method: 'PUT', body: '42' });

  step(`Restarting ${b.name} (same name, ports and node id)`);
  const restartedAt = Date.now();
  await b.restart();
  await cluster.waitForMesh();
  console.log(`  mesh healed ${Date.now() - restartedAt} ms after the restart began`);
  await showMesh(cluster);

  step(`${b.name} catches up`);
  // Its app logs the catch-up; a line printed before this call counts too, so there is no race.
  const { line } = await b.waitForLog(/caught up/);
  console.log(`  ${b.name} logged "${line}"`);
  console.log(`  ${b.name} holds ${JSON.stringify(await b.call('kv.snapshot'))}`);

  step('Cluster timeline (ms since the demo began)');
  const rows = cluster.timeline.map((e) => [
    String(e.at - t0),
    e.type,
    e.peer ?? '',
    e.node ?? '',
    // A nodedown's reason (`dropped`, `heartbeat`, `blocked`…) in short; its detail says it at length.
    e.reason ?? e.detail ?? '',
  ]);
  const width = (i) => Math.max(...rows.map((row) => row[i].length));
  const widths = [width(0), width(1), width(2), width(3)];
  for (const [at, type, peer, node, detail] of rows) {
    const cells = [
      at.padStart(widths[0]),
      type.padEnd(widths[1]),
      peer.padEnd(widths[2]),
      node.padEnd(widths[3]),
    ];
    console.log(`  ${cells.join('  ')}  ${detail}`.trimEnd());
  }
} finally {
  step('Stopping the cluster');
  await cluster.stop();
  console.log(`done in ${Date.now() - t0} ms; no peer left running.`);
}
