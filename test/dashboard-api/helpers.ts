/**
 * Test fixtures for the dashboard API: a real server on port 0 over an InProcessBus, an in-memory
 * SQLite vitals store, a device registry and the development issuer in a temp folder; plus a small
 * WebSocket client that hands out messages in order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import { alertId, DEFAULT_PRIORITY } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import type { AlertProjection } from '../../dashboard-api/alert-projection.ts';
import { auditLogPath, JsonlAuditSink } from '../../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../../dashboard-api/auth.ts';
import { openDevIssuer } from '../../dashboard-api/dev-issuer.ts';
import type { DevIssuer, Role } from '../../dashboard-api/dev-issuer.ts';
import { registryPatientDirectory } from '../../dashboard-api/patient-directory.ts';
import { createDashboardApi } from '../../dashboard-api/server.ts';
import { devTokenRenewer } from '../../dashboard-api/session-renewal.ts';
import type { DashboardApi, DashboardApiOptions } from '../../dashboard-api/server.ts';

export const T0 = Date.parse('2026-03-01T10:00:00.000Z');

/** A processor-style alert snapshot; onset `minute` minutes after T0. */
export function makeAlert(patientId: string, kind: Alert['kind'], minute: number, overrides: Partial<Alert> = {}): Alert {
  const onsetMs = T0 + minute * 60_000;
  return {
    id: alertId(patientId, kind, onsetMs),
    patientId,
    deviceId: `dev-${patientId}`,
    kind,
    category: kind === 'signal_loss' || kind === 'lead_off' || kind === 'low_battery' ? 'technical' : 'physiological',
    priority: DEFAULT_PRIORITY[kind],
    state: 'active',
    onset: new Date(onsetMs).toISOString(),
    detectedAt: new Date(onsetMs + 2000).toISOString(),
    evidence: { hrBpm: 35, beatCount: 5, criterion: 'five consecutive beats under 40 bpm', thresholds: { hrBpm: 40, beats: 5 } },
    revision: 0,
    updatedAt: new Date(onsetMs + 2000).toISOString(),
    ...overrides,
  };
}

export function envelope(alert: Alert, source: AlertEnvelope['source'] = 'processor'): AlertEnvelope {
  return { schema: 'pb.alert.v1', source, alert };
}

/** Publishes snapshots and resolves once the projection folded the last of them. Returns their event ids. */
export async function publishAlerts(bus: InProcessBus, projection: AlertProjection, alerts: Alert[]): Promise<string[]> {
  const before = bus.read(STREAMS.alerts).length;
  const lastOffset = String(before + alerts.length - 1);
  const seen = new Promise<void>((resolve) => {
    const off = projection.onEvent((e) => {
      if (e.id === lastOffset) { off(); resolve(); }
    });
  });
  await bus.publish(STREAMS.alerts, alerts.map((a) => ({ key: a.patientId, value: Buffer.from(JSON.stringify(envelope(a))) })));
  await seen;
  return alerts.map((_, i) => String(before + i));
}

export interface Fixture {
  dataDir: string;
  bus: InProcessBus;
  store: SqliteVitalsStore;
  registry: DeviceRegistry;
  issuer: DevIssuer;
  metrics: MetricsRegistry;
  api: DashboardApi;
  url: string;
  wsUrl: string;
  auditPath: string;
  token(sub: string, role: Role, patients?: string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the whole dashboard API on 127.0.0.1:0 with patients p1, p2, p3 (devices dev-p1 …).
 * `renewal`: serve POST /v1/session/renew with the fixture's development issuer.
 */
export async function startFixture(overrides: Partial<DashboardApiOptions> = {}, renewal?: { maxSessionMs?: number; now?: () => number }): Promise<Fixture> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-dashboard-'));
  const bus = new InProcessBus();
  const store = new SqliteVitalsStore(':memory:');
  const registry = new DeviceRegistry(':memory:');
  for (const p of ['p1', 'p2', 'p3']) registry.add(`dev-${p}`, p, 'test');
  const issuer = await openDevIssuer({ dataDir });
  const metrics = new MetricsRegistry();
  const api = createDashboardApi({
    bus,
    vitalsStore: store,
    patients: registryPatientDirectory(registry),
    auth: createDevTokenVerifier(issuer),
    audit: new JsonlAuditSink({ dataDir }),
    logger: silentLogger,
    metrics,
    // Heartbeats are not what these tests are about; keep them out of the way.
    heartbeatIntervalMs: 600_000,
    ...(renewal ? { tokenRenewer: devTokenRenewer(issuer, renewal) } : {}),
    // Live telemetry on the stream is tested on its own (stream-auth-live.test.ts); here it would
    // interleave vitals snapshots with the alert messages the tests take one by one.
    liveVitals: false,
    ...overrides,
  });
  const { url } = await api.listen(0, '127.0.0.1');
  return {
    dataDir, bus, store, registry, issuer, metrics, api, url,
    wsUrl: url.replace(/^http/, 'ws') + '/v1/stream',
    auditPath: auditLogPath(dataDir),
    token: (sub, role, patients = []) => issuer.issueToken({ sub, role, patients, ttlSeconds: 3600 }),
    close: async () => {
      await api.close();
      await bus.close();
      await store.close();
      registry.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  headers: Headers;
  body: unknown;
}

export async function http(method: string, url: string, token?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const res = await fetch(url, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body };
}

export type StreamMessage = { type: string; id?: string; alert?: Alert; [k: string]: unknown };

/** A WebSocket client that queues messages so tests can take them one by one, in order. */
export class StreamClient {
  readonly ws: WebSocket;
  readonly #queue: StreamMessage[] = [];
  readonly #waiters: ((m: StreamMessage) => void)[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as StreamMessage;
      const w = this.#waiters.shift();
      if (w) w(msg);
      else this.#queue.push(msg);
    });
  }

  /** Opens the stream; rejects with the HTTP status when the handshake is refused. */
  static open(url: string, options: { headers?: Record<string, string> } = {}): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: options.headers ?? {} });
      const client = new StreamClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode }));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  next(): Promise<StreamMessage> {
    const m = this.#queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The next `alert` message, skipping hello and heartbeats. */
  async nextAlert(): Promise<StreamMessage> {
    for (;;) {
      const m = await this.next();
      if (m.type === 'alert') return m;
    }
  }

  /** Alert messages up to and including the one whose alert id is `untilAlertId`. */
  async alertsUntil(untilAlertId: string): Promise<StreamMessage[]> {
    const out: StreamMessage[] = [];
    for (;;) {
      const m = await this.nextAlert();
      out.push(m);
      if (m.alert?.id === untilAlertId) return out;
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
