// What a healer found lately, kept for errors that explain a missing link (cluster/explain-mesh.ts):
// its latest refresh, and the latest failure of each address it still discovers and has not linked
// (a refresh does not dial an address again at once after a failure, so its own result alone would
// not say why). Kept by the healer itself, so the first refresh, run while startNode starts the
// node, is in it too.
import type { Node } from '../link/node.js';
import type { RefreshResult } from '../types.js';
import { designatedDialer, endpointOfId } from './refresh.js';

/** A healer's findings, as a peer answers the parent's `healer-report`. */
export interface HealerReport {
  /** The strategy's name, or null for a node without one. */
  strategy: string | null;
  /**
   * The latest refresh, if one ran: how long ago (ms) and what it discovered; the latest failure
   * (how long ago) of each discovered address still unlinked (`node: '*'`: the strategy's own);
   * and of the ones discovered, unlinked, and not failed: those it blocks (a partition), those it
   * is dialing (no answer yet), those left to the other end to dial first, and those this node
   * dials first but not yet (unlinked since the latest refresh): the next one dials them.
   */
  refresh?: {
    ago: number;
    discovered: string[];
    failed: { node: string; error: string; ago: number }[];
    blocked: string[];
    dialing: string[];
    waiting: string[];
    next: string[];
  };
}

export class Findings {
  #latest: { at: number; result: RefreshResult } | undefined;
  /** What the latest refresh discovered, and '*' (the strategy). */
  #discovered = new Set<string>(['*']);
  readonly #failures = new Map<string, { at: number; error: string }>();
  readonly #node: Node;

  constructor(node: Node) {
    this.#node = node;
  }

  note(result: RefreshResult): void {
    const at = Date.now();
    this.#latest = { at, result };
    const failures = this.#failures;
    const current = new Set(['*', ...result.discovered]);
    this.#discovered = current;
    for (const address of failures.keys()) if (!current.has(address)) failures.delete(address);
    if (!result.failed.some((f) => f.node === '*')) failures.delete('*');
    for (const { node, error } of result.failed)
      failures.set(node, { at, error: error?.message ?? String(error) });
    this.#forgetLinked();
  }

  /** A dial that failed after its refresh was over: kept while the address is still discovered. */
  failed(address: string, error: unknown): void {
    if (!this.#discovered.has(address)) return;
    this.#failures.set(address, {
      at: Date.now(),
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** `dialing(endpoint)`: whether a dial to that host:port is in flight. */
  report(strategy: string | null, dialing: (endpoint: string) => boolean = () => false): HealerReport {
    const report: HealerReport = { strategy };
    if (!this.#latest) return report;
    this.#forgetLinked();
    const node = this.#node;
    const { at, result } = this.#latest;
    const now = Date.now();
    const settled = new Set([
      node.endpoint,
      ...node.nodes().map(endpointOfId),
      ...[...this.#failures.keys()].map(endpointOfId),
    ]);
    // Blocked names (a partition, or node.block()) are skipped by the healer on purpose.
    const isBlocked = (address: string) =>
      address.includes('@') && node.isBlocked(address.slice(0, address.lastIndexOf('@')));
    const unsettled = result.discovered.filter((address) => !settled.has(endpointOfId(address)));
    report.refresh = {
      ago: now - at,
      discovered: result.discovered,
      failed: [...this.#failures].map(([address, f]) => ({ node: address, error: f.error, ago: now - f.at })),
      blocked: unsettled.filter(isBlocked),
      dialing: unsettled.filter((address) => !isBlocked(address) && dialing(endpointOfId(address))),
      waiting: [],
      next: [],
    };
    // Neither blocked nor dialing: left to the other end to dial first, or (this node dials it
    // first) unlinked since the latest refresh, which the next one dials.
    for (const address of unsettled) {
      if (isBlocked(address) || dialing(endpointOfId(address))) continue;
      const first = designatedDialer(node.endpoint, endpointOfId(address));
      (first ? report.refresh.next : report.refresh.waiting).push(address);
    }
    return report;
  }

  /** Linked now: what failed before is no news. */
  #forgetLinked(): void {
    const linked = new Set(this.#node.nodes().map(endpointOfId));
    for (const address of this.#failures.keys())
      if (linked.has(endpointOfId(address))) this.#failures.delete(address);
  }
}
