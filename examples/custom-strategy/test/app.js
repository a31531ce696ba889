export function start(ctx) {
  ctx.cluster.handle('whoami', () => ctx.name);
}
