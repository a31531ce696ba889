// Inside a peer: load the declared apps in order and stop them in reverse. An app exporting
// `start(ctx)` is awaited; the stop function it returns (bare or as `{ stop }`), else an exported
// `stop(ctx)`, runs on graceful stop. A module without `start` is a side-effect app (e.g. a server listening on PORT).
import type { AppContext } from '../types.js';
import { type BootApp, loadModule } from './protocol.js';

export interface RunningApp {
  name: string;
  stop: (() => unknown) | undefined;
}

type AppModule = { start?: (ctx: AppContext) => unknown; stop?: (ctx: AppContext) => unknown };

export async function startApp(app: BootApp, ctx: AppContext): Promise<RunningApp> {
  const mod = (await loadModule(app.url)) as AppModule & { default?: AppModule };
  // CommonJS apps and `export default { start }` keep their functions on the default export.
  const api: AppModule = typeof mod.start !== 'function' && isApp(mod.default) ? mod.default : mod;
  const unused = uncalled(mod);
  // On the peer's stderr, so a failed test's report shows why the app's handlers are missing.
  if (unused)
    process.stderr.write(
      `peer-cluster: app ${app.name} was loaded as a side-effect app: ${unused}, which is not called. An app's entry point is an exported \`start(ctx)\` (\`export async function start(ctx)\`).\n`,
    );
  let stop: (() => unknown) | undefined = typeof api.stop === 'function' ? () => api.stop!(ctx) : undefined;
  if (typeof api.start === 'function') {
    const started = (await api.start(ctx)) as (() => unknown) | { stop?: () => unknown } | undefined;
    // `return () => server.close()` is the shape of React's effects and of many a test helper.
    if (typeof started === 'function') stop = () => started();
    else if (started && typeof started.stop === 'function') stop = () => started.stop!();
  }
  return { name: app.name, stop };
}

/** What an app without a callable `start` exports that looks meant to be one (`export default async function`). */
function uncalled(mod: { start?: unknown; default?: unknown }): string | undefined {
  if (mod.start !== undefined && typeof mod.start !== 'function')
    return `its \`start\` export is not a function (${typeof mod.start})`;
  if (mod.start === undefined && !isApp(mod.default) && looksLikeStart(mod.default))
    return 'its default export is a function';
  return undefined;
}

/**
 * A default export shaped like `start(ctx)`: named `start`, async, or a bare function of one
 * parameter at most. Not a request handler (`(req, res)`, an Express app with its methods on it),
 * which a side-effect app may well export.
 */
function looksLikeStart(value: unknown): boolean {
  if (typeof value !== 'function') return false;
  if (value.name === 'start' || value.constructor?.name === 'AsyncFunction') return true;
  return value.length <= 1 && Object.keys(value).length === 0;
}

function isApp(value: unknown): value is AppModule {
  return typeof value === 'object' && value !== null && typeof (value as AppModule).start === 'function';
}

/**
 * Stops the apps in reverse order; an app whose stop throws is reported and the others still stop.
 * Resolves with what each failed stop threw, as `[app, one line]`. `onStop` is told each app
 * whose stop is about to run.
 */
export async function stopApps(
  apps: RunningApp[],
  onStop?: (app: string) => void,
): Promise<[string, string][]> {
  const failed: [string, string][] = [];
  for (const app of [...apps].reverse()) {
    try {
      if (app.stop) onStop?.(app.name);
      await app.stop?.();
    } catch (error) {
      process.stderr.write(
        `peer-cluster: app ${app.name} failed to stop: ${(error as Error)?.stack ?? error}\n`,
      );
      const line = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      failed.push([app.name, line.split('\n')[0]!]);
    }
  }
  return failed;
}
