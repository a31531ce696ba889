// startNode as core's main entry exports it: the link layer (ws, crypto, the healer) loads on the
// first call, so a test process that only starts clusters, and never links, does not load it
// (≈25 ms). Once loaded, calls go straight through, in the same ticks as a direct call. The peer
// runtime imports link/node.js itself.
import type { ClusterNode, NodeOptions } from './types.js';

let link: typeof import('./link/node.js') | undefined;

/** The link layer's module, once something has loaded it. */
export function loadedLinkLayer(): Promise<typeof import('./link/node.js')> {
  if (link) return Promise.resolve(link);
  return import('./link/node.js').then((loaded) => {
    link = loaded;
    return loaded;
  });
}

/** Start a node: its link listener, and its healer if a strategy is given. */
export function startNode(options: NodeOptions): Promise<ClusterNode> {
  if (link) return link.startNode(options);
  return loadedLinkLayer().then((loaded) => loaded.startNode(options));
}
