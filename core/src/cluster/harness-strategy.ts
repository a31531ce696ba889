// The strategy answered by the test process itself: it spawned every peer, so it knows their link
// addresses. Peers register through it (over the control channel) and watch it, so a new peer is
// discovered the moment it registers, with no polling. Scoped by cluster name.
import { EventEmitter } from 'node:events';
import type { NodeId, Strategy } from '../types.js';

const members = new Map<string, Set<NodeId>>();
const changes = new EventEmitter();
changes.setMaxListeners(0);

// Registrations arriving in one burst (a cluster booting) become one change per cluster: every
// change makes every watching peer refresh.
const pending = new Set<string>();
function changed(cluster: string): void {
  if (pending.size === 0) {
    setImmediate(() => {
      const clusters = [...pending];
      pending.clear();
      for (const c of clusters) changes.emit('change', c);
    });
  }
  pending.add(cluster);
}

export function harnessStrategy(): Strategy {
  return {
    name: 'harness',
    discover: ({ self }) => [...(members.get(self.cluster) ?? [])].filter((id) => id !== self.id),
    register: ({ self }) => {
      let set = members.get(self.cluster);
      if (!set) {
        set = new Set();
        members.set(self.cluster, set);
      }
      set.add(self.id);
      changed(self.cluster);
      return () => {
        set.delete(self.id);
        if (set.size === 0 && members.get(self.cluster) === set) members.delete(self.cluster);
        changed(self.cluster);
      };
    },
    watch: ({ self }, onChange) => {
      const listener = (cluster: string) => {
        if (cluster === self.cluster) onChange();
      };
      changes.on('change', listener);
      return () => changes.off('change', listener);
    },
  };
}
