// An app whose stop is slow (STOP_MS ms) or never ends (STOP_MS=never): what stopTimeout is for.
export function start(ctx) {
  const ms = ctx.env.STOP_MS ?? 'never';
  return {
    stop: () =>
      ms === 'never' ? new Promise(() => {}) : new Promise((resolve) => setTimeout(resolve, Number(ms))),
  };
}
