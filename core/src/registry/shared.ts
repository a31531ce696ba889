// One registry connection per process and registry address, opened on first use and reopened after
// it is lost. Its socket is unref'd while idle, so it never keeps a process alive.
import { outsideTests } from '../peer/test-scope.js';
import { formatRegistryAddress, resolveRegistryAddress } from './address.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';

const clients = new Map<string, Promise<RegistryClient>>();

export function sharedRegistryClient(options: RegistryClientOptions = {}): Promise<RegistryClient> {
  const key = formatRegistryAddress(resolveRegistryAddress(options));
  const cached = clients.get(key);
  if (cached) return cached;
  // Opened in a test's hook, it lives on: outside the test's async context, which it would keep.
  const opening = outsideTests(() =>
    RegistryClient.connect(options).then(
      (client) => {
        // Every node of the process, and every lease, may hold a listener on it.
        client.setMaxListeners(0);
        client.once('close', () => {
          if (clients.get(key) === opening) clients.delete(key);
        });
        return client;
      },
      (error) => {
        clients.delete(key);
        throw error;
      },
    ),
  );
  clients.set(key, opening);
  return opening;
}
