// A registry daemon of a test file's own (port 0, no idle exit), with its log lines and the
// clients connected to it, all closed when the file ends.
import { RegistryClient, type RegistryHandle, runRegistry } from '@peer-cluster/core/registry';
import { afterAll, beforeAll } from 'vitest';

export interface TestRegistry {
  /** The running daemon (from the file's beforeAll on). */
  readonly handle: RegistryHandle;
  /** Every line it logged. */
  readonly lines: string[];
  /** A client connected to it, closed when the file ends. */
  connect(): Promise<RegistryClient>;
}

export function useTestRegistry(): TestRegistry {
  let handle: RegistryHandle | undefined;
  const lines: string[] = [];
  const clients: RegistryClient[] = [];
  beforeAll(async () => {
    handle = await runRegistry({ port: 0, idleTimeout: 0, log: (line) => lines.push(line) });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await handle?.close();
  });
  return {
    get handle() {
      if (!handle) throw new Error('The test registry runs from the beforeAll of its file on.');
      return handle;
    },
    lines,
    async connect() {
      const client = await RegistryClient.connect({ port: this.handle.port, autoStart: false });
      clients.push(client);
      return client;
    },
  };
}
