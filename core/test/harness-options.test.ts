// How the runner plugins read their environment options and check usePeers' arguments, before any
// peer starts: mistakes that would otherwise boot peers without their apps, or silently ignore a value.

import { join } from 'node:path';
import { customStrategy, InvalidOptionsError } from '@peer-cluster/core';
import {
  ClusterUnavailableError,
  createUsePeers,
  environmentClusterOptions,
  harnessState,
  wantsFailureReport,
} from '@peer-cluster/core/harness';
import { describe, expect, it } from 'vitest';

const HINT = 'Set it in test.environmentOptions.';

function caught(act: () => unknown): InvalidOptionsError {
  try {
    act();
  } catch (error) {
    return error as InvalidOptionsError;
  }
  throw new Error('expected a throw');
}

describe("a runner's environment options", () => {
  it("take the cluster options from the 'peer-cluster' key, beside other environments' options", () => {
    const all = { jsdom: { url: 'http://localhost/' }, 'peer-cluster': { apps: ['./app.js'] } };
    expect(environmentClusterOptions(all, 'environmentOptions', HINT)).toEqual({ apps: ['./app.js'] });
    expect(environmentClusterOptions({ jsdom: {} }, 'environmentOptions', HINT)).toBeUndefined();
    expect(environmentClusterOptions(undefined, 'environmentOptions', HINT)).toBeUndefined();
  });

  it('name a file comment the options may have come from, when there is one', () => {
    // Spelled in two parts: Vitest reads a file's "@…-environment-options" comments as JSON.
    const comment = `the @${'jest'}-environment-options comment of /p/a.test.js`;
    const error = caught(() =>
      environmentClusterOptions({ apps: ['./app.js'] }, 'testEnvironmentOptions', HINT, comment),
    );
    expect(error.message).toContain(
      `Move it into testEnvironmentOptions['peer-cluster']: { apps: … }. It may come from ${comment}.`,
    );
  });

  it("name a cluster option given outside the 'peer-cluster' key, which would be ignored", () => {
    const error = caught(() =>
      environmentClusterOptions({ apps: ['./app.js'] }, 'testEnvironmentOptions', HINT),
    );
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('testEnvironmentOptions.apps');
    expect(error.value).toEqual(['./app.js']);
    expect(error.message).toContain("Move it into testEnvironmentOptions['peer-cluster']: { apps: … }.");
  });

  it('name a mistake in the options where they are set, not at each usePeers', () => {
    const error = caught(() =>
      environmentClusterOptions({ 'peer-cluster': { app: ['./app.js'] } }, 'testEnvironmentOptions', HINT),
    );
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe("testEnvironmentOptions['peer-cluster'].app");
    expect(error.message).toContain('is not an option');
    expect(error.message).toContain('Did you mean apps? Known options: apps,');
    const far = caught(() =>
      environmentClusterOptions({ 'peer-cluster': { replicas: 3 } }, 'testEnvironmentOptions', HINT),
    );
    expect(far.message).toContain('is not an option (got 3). Known options: apps,');
    const cased = caught(() =>
      environmentClusterOptions({ 'peer-cluster': { boottimeout: 1 } }, 'testEnvironmentOptions', HINT),
    );
    expect(cased.message).toContain('Did you mean bootTimeout?');
    const comment = `the @${'jest'}-environment-options comment of /p/a.test.js`;
    const typed = caught(() =>
      environmentClusterOptions(
        { 'peer-cluster': { bootTimeout: '5s' } },
        'testEnvironmentOptions',
        HINT,
        comment,
      ),
    );
    expect(typed.option).toBe("testEnvironmentOptions['peer-cluster'].bootTimeout");
    expect(typed.message).toContain(`It may come from ${comment}.`);
    // A relative root is the project's, resolved by usePeers: not checked against the cwd here.
    const options = { apps: ['./app.js'], root: 'no/such/dir/here' };
    expect(environmentClusterOptions({ 'peer-cluster': options }, 'testEnvironmentOptions', HINT)).toEqual(
      options,
    );
    // Given the project's root, it is checked here too, resolved from it.
    const missing = caught(() =>
      environmentClusterOptions({ 'peer-cluster': options }, 'testEnvironmentOptions', HINT, undefined, '/p'),
    );
    expect(missing.option).toBe("testEnvironmentOptions['peer-cluster'].root");
    // Named as written, with what it resolved against: the value to fix is the one written.
    expect(missing.value).toBe('no/such/dir/here');
    expect(missing.message).toContain(
      'must be an existing directory, and no/such/dir/here (resolved against /p: /p/no/such/dir/here) does not exist',
    );
    expect(missing.message).toContain('(got "no/such/dir/here")');
    const here = { apps: ['./app.js'], root: '.' };
    expect(
      environmentClusterOptions(
        { 'peer-cluster': here },
        'testEnvironmentOptions',
        HINT,
        undefined,
        process.cwd(),
      ),
    ).toEqual(here);
  });

  it("name a misspelt 'peer-cluster' key, whose options would be ignored", () => {
    for (const key of ['peerCluster', 'peer-clutser', 'peer_cluster', 'PeerCluster']) {
      const error = caught(() =>
        environmentClusterOptions({ [key]: { apps: ['./app.js'] } }, 'testEnvironmentOptions', HINT),
      );
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe(`testEnvironmentOptions.${key}`);
      expect(error.message).toContain("looks like a misspelling of 'peer-cluster'");
    }
    // Other environments' options stay theirs.
    expect(
      environmentClusterOptions(
        { customExportConditions: ['node'], cluster: {} },
        'testEnvironmentOptions',
        HINT,
      ),
    ).toBeUndefined();
  });

  it("name options nested under 'peer-cluster' twice (a file's comment that repeats the key)", () => {
    const error = caught(() =>
      environmentClusterOptions(
        { 'peer-cluster': { 'peer-cluster': { apps: [] } } },
        'environmentOptions',
        HINT,
      ),
    );
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe("environmentOptions['peer-cluster']['peer-cluster']");
    expect(error.message).toContain('holds the options themselves');
  });

  it('name a strategy without a spec, which cannot cross to the workers, whichever the runner', () => {
    const custom = customStrategy({ name: 'mine', discover: () => [] });
    // In band the strategy itself; in a worker, what cloning or JSON left of it.
    for (const strategy of [custom, structuredClone(custom), JSON.parse(JSON.stringify(custom))]) {
      const error = caught(() =>
        environmentClusterOptions({ 'peer-cluster': { strategy } }, 'environmentOptions', HINT),
      );
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe("environmentOptions['peer-cluster'].strategy");
      expect(error.message).toContain('is a strategy without a spec ("mine", customStrategy, say)');
      expect(error.message).toContain('Give it to usePeers(count, { strategy })');
    }
  });

  it('name a function-valued option, which a worker would not get (Jest drops it from the JSON)', () => {
    for (const [key, value] of [
      ['env', ({ index }: { index: number }) => ({ I: String(index) })],
      ['host', () => '127.0.0.2'],
    ] as const) {
      const error = caught(() =>
        environmentClusterOptions({ 'peer-cluster': { [key]: value } }, 'testEnvironmentOptions', HINT),
      );
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.option).toBe(`testEnvironmentOptions['peer-cluster'].${key}`);
      expect(error.message).toContain('cannot carry to its workers');
      expect(error.message).toContain(`Give it to usePeers(count, { ${key} })`);
    }
  });

  it('name a value that is not an object', () => {
    const error = caught(() => environmentClusterOptions({ 'peer-cluster': 3 }, 'environmentOptions', HINT));
    expect(error.option).toBe("environmentOptions['peer-cluster']");
    expect(error.message).toContain(HINT);
  });
});

describe('usePeers arguments', () => {
  const registered: string[] = [];
  const usePeers = createUsePeers({
    beforeAll: () => registered.push('beforeAll'),
    afterAll: () => registered.push('afterAll'),
    state: () => harnessState({}),
    projectRoot: () => process.cwd(),
  });

  it('a count given both as the argument and in the options is an error, and registers nothing', () => {
    const error = caught(() => usePeers(2, { count: 5 }));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('count');
    expect(error.value).toBe(5);
    expect(error.message).toContain("as usePeers' first argument (2) and in its options");
    expect(registered).toEqual([]);
  });

  it('a bad option is an error at the usePeers call, before any hook is registered', () => {
    const error = caught(() => usePeers(2, { env: { DB: { host: 'db.local' } } as never }));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('env.DB');
    // Thrown from usePeers itself: its stack leads to the test file's line.
    expect(error.stack).toMatch(/usePeers/);
    expect(registered).toEqual([]);
  });

  it('a relative root that does not exist is named as written, with the project root it resolved against', () => {
    const error = caught(() => usePeers(1, { root: 'no-such-dir' }));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.option).toBe('root');
    expect(error.value).toBe('no-such-dir');
    expect(error.message).toContain(
      `and no-such-dir (resolved against ${process.cwd()}: ${join(process.cwd(), 'no-such-dir')}) does not exist`,
    );
    expect(registered).toEqual([]);
  });
});

describe('which failures get a report', () => {
  const misuse = new InvalidOptionsError('count', 0, 'must be at least 1');
  const stopped = new ClusterUnavailableError('stopped', 'usePeers(2) was already stopped');

  it('not those where every error is a misuse of the harness, however the runner keeps them', () => {
    expect(wantsFailureReport([misuse])).toBe(false);
    expect(wantsFailureReport([stopped, misuse])).toBe(false);
    // Jest keeps [error, asyncError]; Vitest's serialized errors are plain objects.
    expect(wantsFailureReport([[misuse, new Error('async')]])).toBe(false);
    expect(wantsFailureReport([{ name: 'ClusterUnavailableError', message: 'x' }])).toBe(false);
  });

  it('every other failure', () => {
    expect(wantsFailureReport([new Error('expected 1 to be 2')])).toBe(true);
    expect(wantsFailureReport([misuse, { name: 'AssertionError', message: 'x' }])).toBe(true);
    expect(wantsFailureReport(['a thrown string'])).toBe(true);
  });
});
