// Each peer answers with where it lives, so the test can see the addresses DNS handed out.
export function start(ctx) {
  ctx.cluster.handle('where', () => `${ctx.name} on ${ctx.host}`);
}
