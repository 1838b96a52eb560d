/**
 * kafkajs 2.2 schedules its request queue's throttle check at `throttledUntil − Date.now()` even
 * when it is not throttled (`throttledUntil` starts at −1, network/requestQueue/index.js), so Node
 * 24 prints a `TimeoutNegativeWarning: -1796… is a negative number` to stderr at every component's
 * start. It is harmless — Node runs the timer after 1 ms, which is what kafkajs means — but it is
 * noise in operators' logs that trains them to ignore warnings.
 *
 * This drops that warning only when kafkajs' request queue raised it (judged by the warning's
 * stack); every other warning, a negative timeout of our own included, is printed by Node's own
 * handlers as before. Installed once per process.
 */
const KAFKAJS_REQUEST_QUEUE = /kafkajs[\\/]src[\\/]network[\\/]requestQueue[\\/]/;
let installed = false;

export function isKafkajsNegativeTimeoutWarning(warning: Error): boolean {
  return warning.name === 'TimeoutNegativeWarning' && KAFKAJS_REQUEST_QUEUE.test(warning.stack ?? '');
}

export function silenceKafkajsNegativeTimeoutWarning(): void {
  if (installed) return;
  installed = true;
  const previous = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (isKafkajsNegativeTimeoutWarning(warning)) return;
    for (const listener of previous) listener.call(process, warning);
  });
}
