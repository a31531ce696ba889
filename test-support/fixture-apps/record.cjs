// What a fixture test observed, written where the e2e test reads it (E2E_OUT). Shared by the Vitest
// and Jest fixture projects (copied into each one's root).
const { existsSync, readdirSync, renameSync, watch, writeFileSync } = require('node:fs');
const { connect } = require('node:net');
const { join } = require('node:path');
const { threadId } = require('node:worker_threads');

/** This worker: thread pools share one pid, so the worker is the thread. */
const worker = `${process.pid}-${threadId}`;

/** The first line a peer's app answers on its port: its name. */
function probe(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => resolve(data.trim()));
    socket.on('error', (error) => resolve(`error: ${error.message}`));
  });
}

async function describeCluster(cluster) {
  return {
    cluster: cluster.name,
    names: cluster.peers.map((p) => p.name),
    ports: cluster.peers.map((p) => p.port),
    answers: await Promise.all(cluster.peers.map((p) => probe(p.port))),
    nodeIds: cluster.peers.map((p) => p.node),
    pids: cluster.peers.map((p) => p.pid),
    links: await Promise.all(cluster.peers.map((p) => p.nodes())),
    workerPid: process.pid,
    worker,
    // The Node the runner and the peers run on.
    nodeVersions: [process.version, ...(await Promise.all(cluster.peers.map((p) => p.call('node-version'))))],
    tracked: globalThis[Symbol.for('peer-cluster')]?.clusters.size,
    since: cluster.timeline[0]?.at,
    at: Date.now(),
  };
}

function record(name, data) {
  const out = process.env.E2E_OUT;
  if (!out) return;
  // Whole or not at all: `recorded` (and the e2e test) take a record that exists as written.
  const file = join(out, `${name}.json`);
  writeFileSync(`${file}.${worker}.tmp`, JSON.stringify(data));
  renameSync(`${file}.${worker}.tmp`, file);
}

/** Resolves once every `<name>.json` record exists in E2E_OUT (written by other files of the run). */
function recorded(...names) {
  const out = process.env.E2E_OUT;
  const all = () => names.every((name) => existsSync(join(out, `${name}.json`)));
  return new Promise((resolve) => {
    const watcher = watch(out, () => {
      if (all()) {
        watcher.close();
        resolve();
      }
    });
    if (all()) {
      watcher.close();
      resolve();
    }
  });
}

/**
 * With E2E_MEET set, waits (its cluster up) until a file of another worker has called this too. Two
 * files that both call it prove that the run used parallel workers, and their clusters are up at
 * the same time however the files were scheduled. Fails when no other worker comes.
 */
function meetAnotherWorker(name, timeout = 50_000) {
  const out = process.env.E2E_OUT;
  if (!out || !process.env.E2E_MEET) return Promise.resolve();
  // The worker is in the name: a marker is never read half written.
  writeFileSync(join(out, `${name}.${worker}.meet`), '');
  return new Promise((resolve, reject) => {
    const watcher = watch(out);
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${name}: no file of another worker met this one within ${timeout} ms`));
    }, timeout);
    const look = () => {
      if (!readdirSync(out).some((f) => f.endsWith('.meet') && !f.endsWith(`.${worker}.meet`))) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    };
    watcher.on('change', look);
    look();
  });
}

module.exports = { describeCluster, meetAnotherWorker, record, recorded };
