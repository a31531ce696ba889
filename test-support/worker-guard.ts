// A test worker outlives an aborted run: on Ctrl-C the outer vitest exits without ending a worker
// whose test still runs (seen: the fork worker adopted by init, its test and the fixture runner it
// started alive for good). So a worker whose parent is gone (its IPC channel closed) ends itself
// after a grace for a normal shutdown to finish first; what it started with a parent-death signal
// (fixture runners, peers) then dies with it.
if (process.connected) {
  process.once('disconnect', () => {
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 2000).unref();
  });
}
