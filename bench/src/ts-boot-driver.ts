// One boot of one peer in a fresh process, for ts-app-boot: the process is new, so nothing of
// the TypeScript path is warm (esbuild not loaded, its service not started, nothing memoized),
// which is what a test run pays for its first TypeScript peer. Reports the ms over IPC.
//   node ts-boot-driver.js <app path> <cluster name>
import { performance } from 'node:perf_hooks';
import { spawnPeer } from '@peer-cluster/core';

const [app, cluster] = process.argv.slice(2);
const start = performance.now();
const peer = await spawnPeer({ cluster: cluster!, apps: [app!] });
const ms = performance.now() - start;
await peer.stop();
process.send!({ ms }, () => process.exit(0));
