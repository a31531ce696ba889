/**
 * `httpDirectory` — a third-party peer-cluster strategy, built only on the public contract: nodes
 * register with a small HTTP directory service and discover each other by asking it.
 *
 * Options:
 *   url      the directory's base URL, e.g. `http://127.0.0.1:4000` (required)
 *   timeout  ms to wait for the directory on each request (default 2000)
 *
 * Example:
 *   import { httpDirectory } from '@peer-cluster/example-custom-strategy';
 *   const cluster = await startCluster({ count: 3, apps: ['./app.js'],
 *                                        strategy: httpDirectory({ url: directory.url }) });
 *
 * The directory (`startDirectory()` in directory.ts) keeps `cluster → node ids` and forgets a node
 * when it unregisters. A real deployment would expire entries too; a test directory needs not.
 */
import { InvalidOptionsError, portableStrategy, type Strategy } from '@peer-cluster/core/peer';

export interface HttpDirectoryOptions {
  url: string;
  /** @default 2000 */
  timeout?: number;
}

export function httpDirectory(options: HttpDirectoryOptions): Strategy {
  let base: URL;
  try {
    base = new URL(options?.url);
  } catch {
    throw new InvalidOptionsError(
      'url',
      options?.url,
      'must be an absolute http URL',
      'For example http://127.0.0.1:4000.',
    );
  }
  const timeout = options.timeout ?? 2000;
  const endpoint = (cluster: string) => new URL(`/clusters/${encodeURIComponent(cluster)}/nodes`, base);

  // portableStrategy: a runner's config may hold it too (it crosses to the workers as its spec).
  return portableStrategy({
    name: 'http-directory',
    // Lets a strategy built in the test process be re-created inside each peer.
    spec: { module: import.meta.url, export: 'httpDirectory', options },

    async discover({ self, signal }) {
      const res = await fetch(endpoint(self.cluster), {
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]),
      });
      if (!res.ok) throw new Error(`directory answered ${res.status} for ${self.cluster}`);
      return (await res.json()) as string[];
    },

    async register({ self }) {
      const put = (method: 'PUT' | 'DELETE') =>
        fetch(endpoint(self.cluster), { method, body: self.id, signal: AbortSignal.timeout(timeout) });
      const res = await put('PUT');
      if (!res.ok) throw new Error(`directory refused ${self.id}: ${res.status}`);
      return async () => {
        await put('DELETE').catch(() => {});
      };
    },
  });
}
