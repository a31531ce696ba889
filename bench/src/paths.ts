// Where the bench's fixtures and results live, whatever the working directory.
import { fileURLToPath } from 'node:url';

/** The bench package directory (this file is compiled into `bench/dist/`). */
export const benchDir = fileURLToPath(new URL('..', import.meta.url));
export const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
export const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));

/**
 * Every cluster this bench run starts is named `bench-<pid>-…`, so the leak check finds its own
 * processes and never another run's (two benches, or a bench beside a test run).
 */
export const CLUSTER_PREFIX = `bench-${process.pid}-`;
/** `PEER_CLUSTER` of the floors' bare children: a leaked one shows up like a leaked peer. */
export const FLOOR_CLUSTER = `${CLUSTER_PREFIX}floor`;
