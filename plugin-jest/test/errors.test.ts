// The errors of the CommonJS shim test files require are core's named errors too.
import { createRequire } from 'node:module';
import { PeerClusterError } from '@peer-cluster/core';
import { expect, it } from 'vitest';

const require = createRequire(import.meta.url);

it('MissingEnvironmentError is a PeerClusterError, though the shim cannot require core', () => {
  const { usePeers, MissingEnvironmentError } = require('jest-environment-peer-cluster') as {
    usePeers: (count: number) => unknown;
    MissingEnvironmentError: new () => Error;
  };
  let error: unknown;
  try {
    usePeers(2);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(MissingEnvironmentError);
  expect(error).toBeInstanceOf(PeerClusterError);
  expect((error as Error).name).toBe('MissingEnvironmentError');
});
