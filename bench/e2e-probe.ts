/**
 * Preloaded (`node --expose-gc --import ./bench/e2e-probe.ts cli/main.ts <component>`) into each
 * component the end-to-end benchmark starts: answers a memory request on the IPC channel after two
 * full collections, so the benchmark reads heap and RSS per patient stream without changing the
 * component. Does nothing when the process has no IPC channel.
 */
const gc = (globalThis as { gc?: () => void }).gc;

if (process.send) {
  process.on('message', (message) => {
    if (message !== 'pb-bench-memory') return;
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.send!({ pbBenchMemory: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, collected: gc !== undefined } });
  });
  // The channel must not keep a component alive after SIGTERM.
  process.channel?.unref();
}
