// The environment class, to extend, from the package's `./environment` entry: CommonJS and ESM
// custom environments get the class itself.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { TestEnvironment } from 'jest-environment-node';
import { expect, it } from 'vitest';

const require = createRequire(import.meta.url);

it('require() and import of jest-environment-peer-cluster/environment give the class to extend', async () => {
  const required = require('jest-environment-peer-cluster/environment') as typeof TestEnvironment;
  const imported = (await import('jest-environment-peer-cluster/environment')).default as unknown;
  // (Imported here through Vitest's loader: another instance of the same module.)
  expect(typeof imported).toBe('function');
  expect((imported as { name: string }).name).toBe('PeerClusterEnvironment');
  expect(typeof required).toBe('function');
  expect((required as unknown as { default: unknown }).default).toBe(required);
  expect(required.prototype).toBeInstanceOf(TestEnvironment);
  // An ES module custom environment, loaded by Node itself.
  const native = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import E from 'jest-environment-peer-cluster/environment'; console.log(typeof E, E.name, E === E.default)",
    ],
    { encoding: 'utf8' },
  );
  expect(native.trim()).toBe('function PeerClusterEnvironment true');
  // What a custom environment file does.
  class Mine extends required {}
  expect(Mine.prototype).toBeInstanceOf(required);
});
