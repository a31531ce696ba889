// Why a mesh (or a peer's links) did not form, in the words of the healers that should have
// formed it: each peer with a missing link says which strategy it runs, what its latest refresh
// discovered and what failed to link, and whether the peer it misses was among what it
// discovered. Appended to the WaitTimeoutError of waitForMesh (and so of startCluster) and of
// waitForNodes, so that the error says "static-hosts discovered only 127.0.0.1:1 (ECONNREFUSED)"
// instead of leaving it to the logs.

import { clearTimeout, setTimeout } from '../clock.js';
import type { HealerReport } from '../healer/findings.js';
import { endpointOfId } from '../healer/refresh.js';
import type { Peer } from '../peer/peer.js';

/** How long a peer gets to answer; a paused or stuck one is reported as such. */
const ANSWER_WITHIN = 500;
const LIST = 4;

/** One line per peer that misses links: `peer-1 (strategy "x"): …`. */
export async function explainMissingLinks(missing: [Peer, Peer][]): Promise<string[]> {
  const misses = new Map<Peer, Peer[]>();
  for (const [from, to] of missing) misses.set(from, [...(misses.get(from) ?? []), to]);
  return Promise.all([...misses].map(([peer, others]) => explainPeer(peer, others)));
}

/** What `peer`'s healer found, and whether it found the `others` it should be linked to. */
export async function explainPeer(peer: Peer, others: Peer[] = []): Promise<string> {
  // A stopped process answers nothing: no need to wait for it.
  if (peer.state === 'paused') return `${peer.name}: is paused, so its healer does not run (resume() it)`;
  if (peer.state === 'booting') return `${peer.name}: is still booting`;
  const report = await ask(peer);
  if (typeof report === 'string') return `${peer.name}: ${report}`;
  return `${peer.name} (strategy ${report.strategy === null ? 'none' : `"${report.strategy}"`}): ${describe(report, others)}`;
}

async function ask(peer: Peer): Promise<HealerReport | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(resolve, ANSWER_WITHIN, `did not answer within ${ANSWER_WITHIN} ms (is it busy?)`);
  });
  try {
    return await Promise.race([
      (peer.control('healer-report') as Promise<HealerReport>).catch(
        (error: Error) => `could not be asked (${error.message})`,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(report: HealerReport, others: Peer[]): string {
  const { refresh } = report;
  if (report.strategy === null) return 'no strategy, so it links only what it is told to';
  if (!refresh) return 'no refresh has finished yet';
  const parts = [
    `its latest refresh (${refresh.ago} ms ago) discovered ${list(refresh.discovered, 'no node')}`,
  ];
  const strategyError = refresh.failed.find((f) => f.node === '*');
  // An error's message often ends a sentence (InvalidOptionsError's do): not before the `;` here.
  if (strategyError) parts.push(`the strategy failed: ${String(strategyError.error).replace(/\.$/, '')}`);
  const failed = refresh.failed.filter((f) => f.node !== '*');
  if (failed.length > 0)
    parts.push(
      `failed to link ${list(
        failed.map((f) => `${f.node} (${f.ago} ms ago: ${f.error})`),
        '',
      )}`,
    );
  if (refresh.blocked.length > 0)
    parts.push(`blocks ${list(refresh.blocked, '')} (a partition, or node.block())`);
  if (refresh.dialing.length > 0) parts.push(`is dialing ${list(refresh.dialing, '')} (no answer yet)`);
  if (refresh.waiting.length > 0)
    parts.push(`left ${list(refresh.waiting, '')} to dial it first (it dials them too after a grace)`);
  if (refresh.next.length > 0)
    parts.push(`dials ${list(refresh.next, '')} at its next refresh (unlinked since the latest)`);
  const endpoints = new Set(refresh.discovered.map(endpointOfId));
  const unseen = others.filter((other) => !endpoints.has(endpointOfId(other.node)));
  if (unseen.length > 0)
    parts.push(
      `it did not discover ${list(
        unseen.map((p) => `${p.name} (${p.node})`),
        '',
      )}`,
    );
  return parts.join('; ');
}

function list(items: string[], none: string): string {
  if (items.length === 0) return none;
  const shown = items.slice(0, LIST).join(', ');
  return items.length > LIST ? `${shown} and ${items.length - LIST} more` : shown;
}
