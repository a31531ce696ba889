// Inside a peer: load the declared apps in order and stop them in reverse. An app exporting
// `start(ctx)` is awaited; its returned `{ stop }` or an exported `stop(ctx)` runs on graceful
// stop. A module without `start` is a side-effect app (e.g. a server listening on PORT).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AppContext } from '../types.js';
import { type BootApp, importModule } from './protocol.js';

export interface RunningApp {
  name: string;
  stop: (() => unknown) | undefined;
}

type AppModule = { start?: (ctx: AppContext) => unknown; stop?: (ctx: AppContext) => unknown };

export async function startApp(app: BootApp, ctx: AppContext): Promise<RunningApp> {
  const mod = (await loadModule(app.url)) as AppModule & { default?: AppModule };
  // CommonJS apps and `export default { start }` keep their functions on the default export.
  const api: AppModule = typeof mod.start !== 'function' && isApp(mod.default) ? mod.default : mod;
  let stop: (() => unknown) | undefined = typeof api.stop === 'function' ? () => api.stop!(ctx) : undefined;
  if (typeof api.start === 'function') {
    const started = (await api.start(ctx)) as { stop?: () => unknown } | undefined;
    if (started && typeof started.stop === 'function') stop = () => started.stop!();
  }
  return { name: app.name, stop };
}

/**
 * require() where this Node can require ES modules (20.19+, 22.12+), else import(). The first
 * import() of a process starts Node's ES module loader, ≈3 ms of CPU per peer here; require() of
 * the same one-line ES module costs ≈1. The module runs the same either way. A module graph with
 * top-level await (or a require cycle) cannot be required: Node says so before running any of
 * it, and it is imported instead. Any other error is the app's own and is not retried (a
 * CommonJS module that threw would run again).
 */
function loadModule(url: string): Promise<unknown> {
  if (!(process.features as { require_module?: boolean }).require_module || !url.startsWith('file:')) {
    return importModule(url);
  }
  try {
    return Promise.resolve(createRequire(url)(fileURLToPath(url)));
  } catch (error) {
    if (NOT_REQUIRABLE.has((error as NodeJS.ErrnoException)?.code ?? '')) return importModule(url);
    return Promise.reject(error);
  }
}

const NOT_REQUIRABLE = new Set(['ERR_REQUIRE_ASYNC_MODULE', 'ERR_REQUIRE_CYCLE_MODULE', 'ERR_REQUIRE_ESM']);

function isApp(value: unknown): value is AppModule {
  return typeof value === 'object' && value !== null && typeof (value as AppModule).start === 'function';
}

/** Stops the apps in reverse order; an app whose stop throws is reported and the others still stop. */
export async function stopApps(apps: RunningApp[]): Promise<void> {
  for (const app of [...apps].reverse()) {
    try {
      await app.stop?.();
    } catch (error) {
      process.stderr.write(
        `peer-cluster: app ${app.name} failed to stop: ${(error as Error)?.stack ?? error}\n`,
      );
    }
  }
}
