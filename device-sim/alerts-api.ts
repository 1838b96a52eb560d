/**
 * Reads the alerts of simulated devices from the dashboard API (`GET /v1/alerts`, product.md
 * "Clinician API"), for the simulation report. Needs a token that sees the patients: an admin
 * token sees all.
 */
import type { Alert } from '../contracts/alert.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { GroundTruthEpisode } from './ground-truth.ts';
import type { DeviceClockSpec } from './device-clock.ts';
import { buildSimReport, type SimReport, type UnmonitoredPeriod } from './report.ts';

/** The API's largest page (dashboard-api/server.ts MAX_ALERT_LIMIT). */
const MAX_LIMIT = 10_000;

/** Options for {@link fetchAlerts}. */
export interface FetchAlertsOptions {
  /** Base URL of the dashboard API, e.g. `http://localhost:8080`. */
  apiUrl: string;
  /** Bearer token. */
  token: string;
  /** Only alerts changed at or after this wall-clock time, ms since the epoch (`since`). */
  sinceMs?: number;
  /**
   * Ask per patient (one request each) instead of once for all visible patients: needed when
   * more than 10 000 alerts may match.
   */
  patientIds?: readonly string[];
  /** Requests at a time when asking per patient (default 4). */
  concurrency?: number;
  fetch?: typeof globalThis.fetch;
}

/** What came back. */
export interface FetchedAlerts {
  alerts: Alert[];
  /** A page was full: there may be more alerts than were returned. */
  truncated: boolean;
}

const failed = (message: string, cause?: unknown) => new PulsebridgeError('PB_SIM_FAILED', message, cause === undefined ? {} : { cause });

/**
 * Fetches alerts, newest first per request, de-duplicated by id.
 * @throws PulsebridgeError `PB_SIM_FAILED` when the API cannot be reached or refuses the request
 */
export async function fetchAlerts(o: FetchAlertsOptions): Promise<FetchedAlerts> {
  const doFetch = o.fetch ?? globalThis.fetch;
  const base = o.apiUrl.replace(/\/+$/, '');
  const one = async (patientId?: string) => {
    const q = new URLSearchParams({ limit: String(MAX_LIMIT) });
    if (patientId !== undefined) q.set('patientId', patientId);
    if (o.sinceMs !== undefined) q.set('since', new Date(o.sinceMs).toISOString());
    const url = `${base}/v1/alerts?${q.toString()}`;
    let res: Response;
    try {
      res = await doFetch(url, { headers: { Authorization: `Bearer ${o.token}`, Accept: 'application/json' } });
    } catch (err) {
      throw failed(`The dashboard API at ${base} could not be reached (${(err as Error).message})`, err);
    }
    if (!res.ok) {
      const body = (await res.text().catch(() => '')).slice(0, 300);
      throw failed(`The dashboard API at ${base} answered ${res.status} to GET /v1/alerts${body ? `: ${body}` : ''}`);
    }
    const json = (await res.json()) as { alerts?: Alert[] };
    if (!Array.isArray(json.alerts)) throw failed(`The dashboard API at ${base} answered GET /v1/alerts without an alerts list`);
    return json.alerts;
  };

  const pages: Alert[][] = [];
  if (o.patientIds === undefined) pages.push(await one());
  else {
    const queue = [...o.patientIds];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) pages.push(await one(id));
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  }
  const byId = new Map<string, Alert>();
  for (const page of pages) for (const a of page) byId.set(a.id, a);
  return { alerts: [...byId.values()], truncated: pages.some((p) => p.length >= MAX_LIMIT) };
}

/** Input of {@link reportFromApi}. */
export interface ReportFromApiInput {
  scenario: string;
  t0Ms: number;
  endMs: number;
  devices: readonly string[];
  episodes: readonly GroundTruthEpisode[];
  /** Wall-clock start of the run: alerts not changed since are not asked for. */
  wallStartMs: number;
  api: Omit<FetchAlertsOptions, 'sinceMs'>;
  toleranceMs?: number;
  /** Where devices sent no rhythm (report.ts `unmonitoredPeriods`). */
  unmonitored?: readonly UnmonitoredPeriod[];
  /** Each device's clock offset and drift (report.ts `ReportInput.deviceClocks`). */
  deviceClocks?: Readonly<Record<string, DeviceClockSpec>>;
}

/** Fetches the run's alerts and builds the simulation report (report.ts). */
export async function reportFromApi(input: ReportFromApiInput): Promise<{ report: SimReport; truncated: boolean }> {
  const { alerts, truncated } = await fetchAlerts({ ...input.api, sinceMs: input.wallStartMs - 1000 });
  const report = buildSimReport({
    scenario: input.scenario, t0Ms: input.t0Ms, endMs: input.endMs, devices: input.devices, episodes: input.episodes, alerts,
    ...(input.toleranceMs === undefined ? {} : { toleranceMs: input.toleranceMs }),
    ...(input.unmonitored === undefined ? {} : { unmonitored: input.unmonitored }),
    ...(input.deviceClocks === undefined ? {} : { deviceClocks: input.deviceClocks }),
  });
  return { report, truncated };
}
