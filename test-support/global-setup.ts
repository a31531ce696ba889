import { peerProcesses, waitForNoPeers } from './procs.js';

// Every test run must end with no peer process left, whatever the tests did.
export default function setup() {
  const before = new Set(peerProcesses().map((p) => p.pid));
  return async () => {
    try {
      await waitForNoPeers({ timeout: 3000 });
    } catch (error) {
      const leaked = peerProcesses().filter((p) => !before.has(p.pid));
      for (const p of leaked) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {}
      }
      if (leaked.length > 0) throw error;
    }
  };
}
