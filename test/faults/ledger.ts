/**
 * End-to-end accounting of one fault case: what the devices had acknowledged, what the bus holds,
 * what the store holds, which alerts the processor raised, which reached the clinician's WebSocket
 * and which the EHR holds, each compared with what was expected, and the result row that
 * RELIABILITY.md is written from (scripts/reliability-report.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import type { TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { GroundTruthEpisode } from '../../device-sim/index.ts';
import { KafkaBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { InfluxVitalsStore } from '../../platform/store/index.ts';
import type { ReliabilityRow } from '../../scripts/reliability-report.ts';
import { sleep } from '../helpers/wait.ts';
import { faultServices, RESULTS_DIR } from './stack.ts';

export const frameKey = (deviceId: string, f: { seq: number; ts: number }) => `${deviceId}/${f.seq}/${f.ts}`;

/** Every frame the simulated devices produced, by (device, seq, ts), and the wall time it was handed to MQTT. */
export class SentFrames {
  readonly frames = new Map<string, { deviceId: string; frame: TelemetryFrame; sentAtMs: number }>();

  onFrame = (deviceId: string, frame: TelemetryFrame): void => {
    const k = frameKey(deviceId, frame);
    if (!this.frames.has(k)) this.frames.set(k, { deviceId, frame, sentAtMs: Date.now() });
  };

  /** Heart-rate points the processor must store per patient: frames with contact and an RR interval (processor/vitals.ts). */
  expectedPoints(patientOf: (deviceId: string) => string, sentBeforeMs = Infinity): Map<string, Set<number>> {
    const out = new Map<string, Set<number>>();
    for (const { deviceId, frame, sentAtMs } of this.frames.values()) {
      if (sentAtMs > sentBeforeMs || frame.leadOff || !frame.beats.some((b) => b.rr > 0)) continue;
      const p = patientOf(deviceId);
      if (!out.has(p)) out.set(p, new Set());
      out.get(p)!.add(frame.ts + frame.durMs);
    }
    return out;
  }
}

/**
 * Reads a stream from the beginning with a fresh consumer group until `enough` holds and nothing
 * new arrived for `quietMs` (or `timeoutMs` passed), and returns the messages kept by `keep`.
 */
export async function readStream<T>(stream: string, parse: (value: Buffer) => T | undefined, enough: (items: T[]) => boolean,
  options: { quietMs?: number; timeoutMs?: number } = {}): Promise<T[]> {
  const quietMs = options.quietMs ?? 3000;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const bus = new KafkaBus({ brokers: [faultServices.kafkaBrokers], clientId: `faults-reader-${stream}`, logger: silentLogger });
  const items: T[] = [];
  let lastAt = Date.now();
  const sub = await bus.subscribe(stream, { groupId: `faults-reader-${Date.now()}-${Math.random().toString(36).slice(2)}`, fromBeginning: true, onBatch: async (batch) => {
    for (const m of batch) {
      const v = parse(m.value);
      if (v !== undefined) items.push(v);
    }
    lastAt = Date.now();
  } });
  try {
    while (Date.now() < deadline && !(enough(items) && Date.now() - lastAt >= quietMs)) await sleep(200);
  } finally {
    await sub.stop();
    await bus.close();
  }
  return items;
}

/** Telemetry records of the given devices on the bus, duplicates (resends) included. */
export async function telemetryOnBus(devices: Set<string>, expected: number): Promise<string[]> {
  return readStream(STREAMS.telemetry, (v) => {
    const r = JSON.parse(v.toString()) as TelemetryRecord;
    return devices.has(r.deviceId) ? frameKey(r.deviceId, r.frame) : undefined;
  }, (items) => new Set(items).size >= expected);
}

/** Alert snapshots the processor published for the given patients. */
export async function alertsOnBus(patients: Set<string>, minimum = 0): Promise<Alert[]> {
  return readStream(STREAMS.alerts, (v) => {
    const e = JSON.parse(v.toString()) as AlertEnvelope;
    return e.schema === 'pb.alert.v1' && e.source === 'processor' && patients.has(e.alert.patientId) ? e.alert : undefined;
  }, (items) => new Set(items.map((a) => a.id)).size >= minimum);
}

/** Latest snapshot (highest revision) per alert id. */
export function latestById(alerts: Iterable<Alert>): Map<string, Alert> {
  const out = new Map<string, Alert>();
  for (const a of alerts) {
    const had = out.get(a.id);
    if (!had || a.revision >= had.revision) out.set(a.id, a);
  }
  return out;
}

/** Heart-rate point times per patient in this case's InfluxDB database. */
export async function pointsInStore(database: string, patients: string[], fromMs: number, toMs: number): Promise<Map<string, number[]>> {
  const store = new InfluxVitalsStore({ url: faultServices.influxUrl, database, timeoutMs: 5000 });
  const out = new Map<string, number[]>();
  try {
    for (const p of patients) out.set(p, (await store.queryHeartRate(p, fromMs, toMs)).map((x) => x.timeMs));
  } finally {
    await store.close();
  }
  return out;
}

/**
 * A clinician's `/v1/stream` client that behaves like the web page: it remembers the last event
 * id it saw and, when the connection drops (the API restarted), reconnects with `lastEventId`.
 */
export class ClinicianStream {
  readonly events: { eventId: string; alert: Alert; atMs: number }[] = [];
  connects = 0;
  gaps = 0;
  lastEventId: string | undefined;
  #ws: WebSocket | undefined;
  #closed = false;
  readonly #url: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.#url = `${baseUrl.replace(/^http/, 'ws')}/v1/stream`;
    this.#token = token;
  }

  /** Opens the first connection (from the beginning of the log). */
  async open(): Promise<void> {
    this.lastEventId = '-1';
    await this.#connect();
  }

  /** One connection attempt; resolves when open, rejects when it fails. */
  async #connect(): Promise<void> {
    const q = new URLSearchParams({ access_token: this.#token, ...(this.lastEventId !== undefined ? { lastEventId: this.lastEventId } : {}) });
    const ws = new WebSocket(`${this.#url}?${q}`);
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; id?: string; alert?: Alert; lastEventId?: string };
      if (m.type === 'alert' && m.alert && m.id !== undefined) {
        this.events.push({ eventId: m.id, alert: m.alert, atMs: Date.now() });
        this.lastEventId = m.id;
      } else if (m.type === 'gap') {
        this.gaps++;
      }
    });
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(new Error('closed before it opened')));
    });
    this.#ws = ws;
    this.connects++;
    // Reconnect like the page does: one attempt every 500 ms until the API answers again.
    ws.once('close', () => void this.#reconnect());
  }

  async #reconnect(): Promise<void> {
    while (!this.#closed) {
      await sleep(500);
      if (this.#closed) return;
      try {
        await this.#connect();
        return;
      } catch { /* the API is not back yet */ }
    }
  }

  alerts(): Alert[] {
    return this.events.map((e) => e.alert);
  }

  close(): void {
    this.#closed = true;
    this.#ws?.close();
  }
}

/** FHIR resources (Observation, Communication) in the EHR test server, by business identifier value. */
export async function ehrResources(baseUrl: string, identifierSystem: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const type of ['Observation', 'Communication']) {
    const res = await fetch(`${baseUrl}/${type}?_count=1000`, { headers: { Accept: 'application/fhir+json' } });
    const bundle = (await res.json()) as { entry?: { resource: { identifier?: { system?: string; value?: string }[] } }[] };
    for (const e of bundle.entry ?? []) {
      for (const id of e.resource.identifier ?? []) {
        if (id.system === identifierSystem && id.value) counts.set(id.value, (counts.get(id.value) ?? 0) + 1);
      }
    }
  }
  return counts;
}

/** The EHR identifier of an alert matches `{deviceId}/{code}/{kind}/{onset}` (ehr-exporter/identifier.ts). */
export const ehrMatches = (identifierValue: string, a: Alert) =>
  identifierValue.startsWith(`${a.deviceId}/`) && identifierValue.endsWith(`/${a.kind}/${new Date(Date.parse(a.onset)).toISOString()}`);

/** Alerts of one device and kind whose episodes overlap: one episode raised twice. */
export function duplicateEpisodes(alerts: Iterable<Alert>): Alert[] {
  const byStream = new Map<string, Alert[]>();
  for (const a of alerts) {
    const k = `${a.deviceId}/${a.kind}`;
    if (!byStream.has(k)) byStream.set(k, []);
    byStream.get(k)!.push(a);
  }
  const dups: Alert[] = [];
  for (const list of byStream.values()) {
    list.sort((x, y) => Date.parse(x.onset) - Date.parse(y.onset));
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      if (prev.end === undefined || Date.parse(prev.end) > Date.parse(list[i]!.onset)) dups.push(list[i]!);
    }
  }
  return dups;
}

/** Scripted episodes whose alarm was due and that no alert of that kind covers. */
export function missedEpisodes(episodes: GroundTruthEpisode[], alerts: Iterable<Alert>): GroundTruthEpisode[] {
  const list = [...alerts];
  return episodes.filter((e) => e.alarm !== null && e.criterionMs !== null).filter((e) => !list.some((a) =>
    a.deviceId === e.deviceId && a.kind === e.alarm
    && Date.parse(a.onset) <= (e.endMs ?? Infinity) + 5000
    && (a.end === undefined || Date.parse(a.end) >= e.onsetMs - 5000)));
}

export interface Check { name: string; ok: boolean; detail: string }

/** Writes the case's row for RELIABILITY.md (test-results/faults/<case>.json). */
export function writeRow(row: ReliabilityRow): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, `${row.case}.json`), JSON.stringify(row, null, 2) + '\n');
}
