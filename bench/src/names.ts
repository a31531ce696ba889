// Cluster names: unique per run (a cluster's name is also its registry namespace, and a stopped
// cluster's peers may still be unregistering), and prefixed so the leak check finds them.
import { randomBytes } from 'node:crypto';
import { CLUSTER_PREFIX } from './paths.js';

export function clusterName(figure: string): string {
  return `${CLUSTER_PREFIX}${figure}-${randomBytes(3).toString('hex')}`;
}
