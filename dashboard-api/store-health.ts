/**
 * Whether the vitals store (InfluxDB in production) can serve the API's reads: the patient trend
 * (`GET /v1/patients/{id}/vitals`) and the ECG strip of an alert. The API itself keeps serving
 * alerts and live telemetry through a store outage, so /healthz stays 200 — but said `ok` while
 * every trend and strip request failed (session 32's operator walkthrough). Now a probe runs every
 * {@link STORE_PROBE_DEFAULTS.intervalMs}; after {@link STORE_PROBE_DEFAULTS.failuresToReport} failed
 * probes in a row /healthz says `degraded` with `vitalsStore: { status: 'unreachable', … }`,
 * `pb_dashboard_vitals_store_unreachable` is 1, and one error line is logged (one info line when it
 * answers again). Two in a row, so a single slow answer does not page anyone.
 */
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { VitalsStore } from '../platform/store/vitals-store.ts';

export const STORE_PROBE_DEFAULTS = {
  /** Between probes, ms. */
  intervalMs: 10_000,
  /** A probe that has not answered in this long counts as failed, ms. */
  timeoutMs: 5_000,
  /** Failed probes in a row before the store is reported unreachable. */
  failuresToReport: 2,
};

/** What /healthz says about the store while it cannot serve. */
export interface StoreProblem {
  status: 'unreachable';
  /** When the first of the failed probes ran (ISO). */
  since: string;
  /** The last probe's error. */
  reason: string;
}

export interface StoreHealth {
  /** Undefined while the store serves (or has not failed often enough yet). */
  problem(): StoreProblem | undefined;
  close(): void;
}

export function watchStoreHealth(o: {
  store: Pick<VitalsStore, 'ping'>;
  logger: Logger;
  metrics: MetricsRegistry;
  intervalMs?: number;
  timeoutMs?: number;
  failuresToReport?: number;
  now?: () => number;
}): StoreHealth {
  const now = o.now ?? Date.now;
  const intervalMs = o.intervalMs ?? STORE_PROBE_DEFAULTS.intervalMs;
  const timeoutMs = o.timeoutMs ?? STORE_PROBE_DEFAULTS.timeoutMs;
  const failuresToReport = o.failuresToReport ?? STORE_PROBE_DEFAULTS.failuresToReport;
  const gauge = o.metrics.gauge('pb_dashboard_vitals_store_unreachable', '1 while the vitals store (InfluxDB) has failed the API\'s probes: trends and ECG strips cannot be read');
  gauge.set({}, 0);
  // A store without a network (SQLite, embedded) has nothing to probe: no timer.
  if (!o.store.ping) return { problem: () => undefined, close: () => {} };
  const ping = o.store.ping.bind(o.store);
  let failures = 0;
  let firstFailureMs = 0;
  let reported: StoreProblem | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  async function probe(): Promise<void> {
    const startedMs = now();
    let failure: string | undefined;
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ping(),
        new Promise((_, reject) => { timeout = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs); }),
      ]);
    } catch (err) {
      failure = (err as Error).message || String(err);
    } finally {
      clearTimeout(timeout);
    }
    if (closed) return;
    if (failure === undefined) {
      if (reported) o.logger.info('the vitals store answers again: trends and ECG strips can be read', { unreachableSince: reported.since });
      failures = 0;
      reported = undefined;
      gauge.set({}, 0);
      return;
    }
    if (failures === 0) firstFailureMs = startedMs;
    failures += 1;
    if (failures < failuresToReport) return;
    const first = !reported;
    reported = { status: 'unreachable', since: new Date(firstFailureMs).toISOString(), reason: failure };
    gauge.set({}, 1);
    if (first) o.logger.error('the vitals store cannot be read: patient trends and ECG strips fail until it answers (alerts and live telemetry are not affected)', { reason: failure });
  }

  function schedule(): void {
    if (closed) return;
    timer = setTimeout(() => { void probe().finally(schedule); }, intervalMs);
    timer.unref();
  }
  void probe().finally(schedule);

  return {
    problem: () => reported,
    close: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}
