// Where the bench's fixtures and results live, whatever the working directory.
import { fileURLToPath } from 'node:url';

/** The bench package directory (this file is compiled into `bench/dist/`). */
export const benchDir = fileURLToPath(new URL('..', import.meta.url));
export const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
export const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));

/** Every cluster the bench starts is named `bench-…`, so the leak check can find its processes. */
export const CLUSTER_PREFIX = 'bench-';
/** `PEER_CLUSTER` of the floors' bare children: a leaked one shows up like a leaked peer. */
export const FLOOR_CLUSTER = 'bench-floor';
