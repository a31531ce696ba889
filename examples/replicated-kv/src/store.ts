// The replicated map itself, free of transport: last writer wins, decided by a Lamport clock with
// the writing node's id as tie-break, so every node that has seen the same writes holds the same map.

export interface Version {
  clock: number;
  node: string;
}

export interface Entry {
  value: unknown;
  version: Version;
  /** A delete is a tombstone, so it replicates and wins over older writes like any write. */
  deleted?: boolean;
}

export function newer(a: Version, b: Version): boolean {
  return a.clock !== b.clock ? a.clock > b.clock : a.node > b.node;
}

export class Store {
  readonly entries = new Map<string, Entry>();
  private clock = 0;

  constructor(readonly node: string) {}

  /** A local write: stamps it with the next clock value and returns the entry to replicate. */
  write(key: string, value: unknown, deleted = false): Entry {
    this.clock += 1;
    const entry: Entry = { value, version: { clock: this.clock, node: this.node }, deleted };
    this.entries.set(key, entry);
    return entry;
  }

  /** A replicated write: kept only if newer than what we hold. Returns whether it changed anything. */
  merge(key: string, entry: Entry): boolean {
    this.clock = Math.max(this.clock, entry.version.clock);
    const current = this.entries.get(key);
    if (current && !newer(entry.version, current.version)) return false;
    this.entries.set(key, entry);
    return true;
  }

  mergeAll(entries: Iterable<[string, Entry]>): number {
    let changed = 0;
    for (const [key, entry] of entries) if (this.merge(key, entry)) changed++;
    return changed;
  }

  get(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    return entry?.deleted ? undefined : entry;
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, entry] of [...this.entries].sort(([a], [b]) => a.localeCompare(b))) {
      if (!entry.deleted) out[key] = entry.value;
    }
    return out;
  }
}
