/**
 * Mends a busy loop in kafkajs 2.2's request queue (src/network/requestQueue/index.js).
 *
 * The queue checks its pending requests, then re-arms the check at `throttledUntil − Date.now()`
 * whether or not anything is pending. `throttledUntil` is −1 unless the broker throttled the
 * client. So on an idle connection the delay is about −1.8 × 10¹² ms, which Node runs after 1 ms,
 * and the check re-arms itself. Every broker connection of every kafkajs client therefore runs a
 * 1 ms timer for as long as it is connected. Node 24 also prints `TimeoutNegativeWarning` the
 * first time. This is kafkajs issue #1751, still open upstream; the fix proposed in its discussion
 * does what this one does.
 *
 * Measured idle on Kafka (`node bench/idle-cpu.ts`, BENCHMARKS.md "Idle CPU"): the processor used
 * 53.7 CPU ms per second before and 19.7 after; processor, gateway and dashboard-api together 149
 * before and 48 after.
 *
 * Nothing waits on that timer while the queue is empty:
 * - `push` sends at once when it may, and otherwise enqueues and schedules a check itself;
 * - a fulfilled or timed-out request checks the queue;
 * - a throttle only matters to requests, which are then pending and scheduled.
 * So the replacement schedules a check only while requests are pending. It keeps kafkajs' timing:
 * the throttle's end, or its own 10 ms re-check (`CHECK_PENDING_REQUESTS_INTERVAL`) while waiting
 * for an in-flight slot.
 *
 * The method is replaced only when its source is the one read here. A kafkajs that changed it is
 * left alone; the test (test/platform/bus/kafkajs-request-queue.test.ts) checks the behaviour, not
 * the version, so an upgrade that still spins fails there.
 */
import { createRequire } from 'node:module';

/** The parts of kafkajs' RequestQueue the replacement uses (all instance fields of 2.2.x). */
interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
}

/** kafkajs' own re-check interval while requests wait for an in-flight slot, ms. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

/** Statements of the 2.2.x method that make the loop: the delay computed whatever is pending. */
const SPINNING_SOURCE = [/let scheduleAt = this\.throttledUntil - Date\.now\(\)/, /if \(this\.pending\.length > 0\) \{\s*scheduleAt = scheduleAt > 0 \? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL/];

function scheduleCheckWhilePending(this: RequestQueueInternals): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const untilUnthrottledMs = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    untilUnthrottledMs > 0 ? untilUnthrottledMs : CHECK_PENDING_REQUESTS_INTERVAL_MS,
  );
}

export type RequestQueueMend = 'mended' | 'already mended' | 'left alone: not the known kafkajs code';

/**
 * Replaces kafkajs' `RequestQueue.prototype.scheduleCheckPendingRequests` (once per process; kafkajs
 * is loaded once, from node_modules, by everything in the process).
 */
export function mendKafkajsRequestQueue(): RequestQueueMend {
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: { scheduleCheckPendingRequests: () => void } };
  const proto = RequestQueue.prototype;
  if (proto.scheduleCheckPendingRequests === scheduleCheckWhilePending) return 'already mended';
  const source = String(proto.scheduleCheckPendingRequests);
  if (!SPINNING_SOURCE.every((statement) => statement.test(source))) return 'left alone: not the known kafkajs code';
  proto.scheduleCheckPendingRequests = scheduleCheckWhilePending;
  return 'mended';
}
