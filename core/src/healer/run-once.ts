// runOnce: one refresh of a node with a strategy, without a loop (Barnacle's run-once). It starts
// with no links of its own, so it connects what is missing and never disconnects anything.

import { InvalidOptionsError, RefreshTimeoutError } from '../errors.js';
import { notCalled, timeoutOption } from '../link/options.js';
import { loadedLinkLayer } from '../start-node.js';
import type { ClusterNode, RefreshResult, Strategy } from '../types.js';
import { DEFAULT_REFRESH_TIMEOUT } from './healer.js';
import { refreshOnce } from './refresh.js';

export async function runOnce(
  node: ClusterNode,
  strategy: Strategy,
  options: { timeout?: number | undefined } = {},
): Promise<RefreshResult> {
  // The link layer is loaded here rather than with core's main entry (see start-node.ts).
  const { Node } = await loadedLinkLayer();
  if (!(node instanceof Node)) {
    throw new InvalidOptionsError('node', node, 'runOnce needs a node from startNode()');
  }
  if (typeof strategy?.discover !== 'function') {
    throw new InvalidOptionsError(
      'strategy',
      strategy,
      notCalled(strategy) ?? 'expected a strategy with a discover(ctx) function',
    );
  }
  const timeout = timeoutOption('runOnce()', options, DEFAULT_REFRESH_TIMEOUT);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new RefreshTimeoutError('runOnce', strategy.name, timeout)),
    timeout,
  );
  try {
    const { result } = await refreshOnce(node, strategy, new Set(), controller.signal, Date.now() + timeout);
    return result;
  } finally {
    clearTimeout(timer);
  }
}
