/**
 * The clinician API and web dashboard (product.md "Clinician API", stable paths) on node:http and
 * ws. Reads alerts from the alerts stream (alert-projection.ts), vitals from the time-series
 * store, patients from a {@link PatientDirectory}; writes acknowledgements and resolutions back
 * to the alerts stream as clinician snapshots, so every consumer (this API, the EHR exporter)
 * sees the same history.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { OperatorAlarmRecord } from '../contracts/operator-alarm.ts';
import type { Alert, AlertEnvelope, AlertState } from '../contracts/alert.ts';
import { SYSTEM_ACTOR } from '../processor/alarm-lifecycle.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, BusConsumerHealth } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { InFlightLimit } from '../platform/in-flight-limit.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { VitalsStore } from '../platform/store/index.ts';
import { AlertProjection, parseEventId } from './alert-projection.ts';
import { AlertStreamHub, STREAM_CLOSE, type StreamSession } from './alert-stream.ts';
import { ANONYMOUS_ACTOR } from './audit.ts';
import type { AuditAction, AuditEntry, AuditSink } from './audit.ts';
import { AuthFailureLogLimit, bearerToken, canAccessPatient, ExpiredTokenError, OTHER_ADDRESSES } from './auth.ts';
import type { Principal, TokenVerifier } from './auth.ts';
import { badRequest, BASE_HEADERS, idSegment, parseTimeParam, pathSegment, rejectUpgrade, sendError, sendJson, toApiError } from './http-util.ts';
import type { ApiError } from './http-util.ts';
import { LiveVitals } from './live-vitals.ts';
import type { PatientDirectory } from './patient-directory.ts';
import { bufferBody, type RouteModule } from './route-module.ts';
import type { TokenRenewer } from './session-renewal.ts';
import type { StoreHealth } from './store-health.ts';
import { clientAddress, normalizeAddress } from './client-address.ts';
import { resolveBrowserLogin, type BrowserLogin, type BrowserLoginConfig } from './browser-login.ts';

export interface DashboardApiOptions {
  bus: Bus;
  vitalsStore: VitalsStore;
  patients: PatientDirectory;
  /** Bearer-token verification: createDevTokenVerifier (embedded) or createOidcTokenVerifier. */
  auth: TokenVerifier;
  /** PHI access audit trail, e.g. `new JsonlAuditSink({ dataDir })`. */
  audit: AuditSink;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group of the alert projection; default a unique one per instance. */
  groupId?: string;
  /** Alert events kept for stream replay. Default 100 000. */
  maxEvents?: number;
  /** Vitals window when `from`/`to` are omitted, ms. Default 1 h. */
  defaultVitalsRangeMs?: number;
  /**
   * Longest vitals window one request may ask for, ms. Default 24 h: at one heart-rate point per
   * frame (≥ 1 s, device-protocol.md) that is ≤ 86 400 points, a few MB of JSON.
   */
  maxVitalsRangeMs?: number;
  /** Most alerts one `GET /v1/alerts` returns (the newest). Default 1000; `limit` may ask for up to 10 000. */
  defaultAlertLimit?: number;
  /**
   * WebSocket heartbeat and ping period, ms. Default 2 000: the page calls a connection dead after
   * 2½ periods without a message, so a central station shows "NOT CONNECTED" within 5 s of losing
   * its network (with 10 s it said "LIVE" for 25 s while alarms were not arriving).
   */
  heartbeatIntervalMs?: number;
  /** Stop sending to a WebSocket while this many bytes are still buffered. Default 1 MiB. */
  streamHighWaterMarkBytes?: number;
  /**
   * Requests answered at once (not counting /healthz, /metrics and open streams); the rest wait
   * in arrival order. Default 32. Peak memory follows this, not the number of callers: 500
   * concurrent 1 h vitals reads peaked at 475 MiB RSS without the limit and 323 MiB with it
   * (no leak either way: the JS heap returns to baseline after GC; bench/abuse-memory.ts http).
   */
  maxConcurrentRequests?: number;
  /** Requests that may wait for a slot; beyond that the answer is 503 with Retry-After. Default 2000. */
  maxQueuedRequests?: number;
  /** A connection whose request headers are not complete in this time is closed (408). Default 10 000 ms (Node's: 60 s). */
  headersTimeoutMs?: number;
  /** Whole request (headers and body) within this time. Default 30 000 ms (Node's: 300 s). */
  requestTimeoutMs?: number;
  /** How long ack/resolve wait to see their own snapshot come back from the bus, ms. Default 5000. */
  writeVisibleTimeoutMs?: number;
  /** Folder with index.html, app.js, app.css. Default: `web/` next to this file. */
  webRoot?: string;
  /** Clock, ms since epoch (tests). */
  now?: () => number;
  /** More /v1 routes (e.g. `deviceRoutes(…)` from routes-devices.ts), matched after the built-in ones. */
  routeModules?: readonly RouteModule[];
  /** `POST /v1/session/renew` (session-renewal.ts devTokenRenewer in embedded mode); absent: 404. */
  tokenRenewer?: TokenRenewer;
  /** Push each patient's latest telemetry on /v1/stream (the board). Default true. */
  liveVitals?: boolean;
  /**
   * The page signs in at this OpenID Connect issuer (Authorization Code + PKCE, browser-login.ts);
   * `GET /v1/auth/config` tells the page where. Absent: the page takes a pasted token.
   */
  browserLogin?: BrowserLoginConfig;
  /** Period of the live telemetry deltas on the stream, ms. Default 1000. */
  vitalsIntervalMs?: number;
  /** A stream opened without a token must send `{"type":"auth","token":…}` within this, ms. Default 10 000. */
  streamAuthTimeoutMs?: number;
  /** Longest resolve reason, characters. Default 500. */
  maxResolveReasonLength?: number;
  /** Active operator alarms for /healthz (operator-alarms.ts); the caller opens and closes it. */
  operatorAlarms?: { active(): OperatorAlarmRecord[] };
  /**
   * Addresses of the reverse proxies in front of the API (PULSEBRIDGE_TRUSTED_PROXIES): for a request
   * from one, the audit trail and the log name the client from `X-Forwarded-For` (client-address.ts).
   */
  trustedProxies?: readonly string[];
  /** Whether the vitals store can serve trends and strips, for /healthz (store-health.ts); the caller opens and closes it. */
  storeHealth?: Pick<StoreHealth, 'problem'>;
  /** Whether the API's bus subscriptions consume, for /healthz (platform/bus/consumer-health.ts); the caller opens and closes it. */
  busHealth?: Pick<BusConsumerHealth, 'problems'>;
  /**
   * Failed authentications are logged once per remote address per this window, ms; the rest are
   * counted in one summary line at the window's end (every one is audited). Default 60 000.
   */
  authFailureLogWindowMs?: number;
}

export interface ListeningAddress {
  host: string;
  port: number;
  /** `http://host:port` */
  url: string;
}

export interface DashboardApi {
  /** Starts the alert projection and listens. Port 0 picks a free port. Host default 127.0.0.1. */
  listen(port: number, host?: string): Promise<ListeningAddress>;
  /** Closes streams (1001, then terminated after 1 s), connections, and the projection. Idempotent. */
  close(): Promise<void>;
  /** The folded alerts stream (read-only use: queries, waiting for events in tests). */
  readonly projection: AlertProjection;
}

const ALERT_STATES: readonly AlertState[] = ['active', 'acknowledged', 'resolved'];
const STATE_RANK: Record<AlertState, number> = { active: 0, acknowledged: 1, resolved: 2 };
const MAX_ALERT_LIMIT = 10_000;

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/alarm-sound.js': { file: 'alarm-sound.js', type: 'text/javascript; charset=utf-8' },
  '/charts.js': { file: 'charts.js', type: 'text/javascript; charset=utf-8' },
};

/**
 * Third-party browser code, served from the installed npm package (never a CDN: the page's CSP
 * allows only this origin, and a monitoring room must work without the internet).
 */
const VENDOR_FILES: Record<string, { module: string; type: string }> = {
  '/vendor/uplot.js': { module: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  '/vendor/uplot.css': { module: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

/** The subprotocol the page asks for; a token may ride along as `bearer.<JWT>` (never echoed back). */
export const STREAM_SUBPROTOCOL = 'pulsebridge.v1';
const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

/** The page loads only its own script and style and talks only to this origin (HTTP and WebSocket). */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Failed authentications recorded one by one per remote address per window (a minute); the rest
 * of the window's are one entry with their count. 20: a user mistyping or a page with a stale
 * token stays fully traced; with at most 100 addresses told apart per window, a flood writes at
 * most ≈ 2,100 entries (≈ 0.5 MB) a minute.
 */
export const AUTH_FAILURES_AUDITED_PER_ADDRESS = 20;

/** Where a token came from: the request (its remote address) and the route template. */
interface AuthOrigin {
  req: IncomingMessage;
  route: string;
}

/**
 * A request without a usable token: the 401's message, and the reason in the audit trail and the
 * log (worded without "bearer" before a word: redactSecrets would take that word for a token).
 */
interface MissingToken {
  message: string;
  reason: string;
}
const NO_BEARER_TOKEN: MissingToken = { message: 'a bearer token is required', reason: 'no token was sent' };
const NOT_BEARER_SCHEME: MissingToken = { message: 'a bearer token is required', reason: "the Authorization header is not of the form 'Bearer <token>'" };
const FIRST_MESSAGE_AUTH: MissingToken = { message: 'the first message must be {"type":"auth","token":…}', reason: 'the first message must be {"type":"auth","token":…}' };

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Route template for metrics, e.g. `/v1/patients/{id}`. */
  route: string;
  /** The request body, buffered from the start (bounded; route-module.ts). */
  body: () => Promise<Buffer>;
}

/** Creates the dashboard API. Nothing runs until {@link DashboardApi.listen}. */
export function createDashboardApi(options: DashboardApiOptions): DashboardApi {
  const o = {
    ...options,
    defaultVitalsRangeMs: options.defaultVitalsRangeMs ?? 60 * 60 * 1000,
    maxVitalsRangeMs: options.maxVitalsRangeMs ?? 24 * 60 * 60 * 1000,
    streamAuthTimeoutMs: options.streamAuthTimeoutMs ?? 10_000,
    maxResolveReasonLength: options.maxResolveReasonLength ?? 500,
    defaultAlertLimit: options.defaultAlertLimit ?? 1000,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 2_000,
    streamHighWaterMarkBytes: options.streamHighWaterMarkBytes ?? 1024 * 1024,
    writeVisibleTimeoutMs: options.writeVisibleTimeoutMs ?? 5000,
    maxConcurrentRequests: options.maxConcurrentRequests ?? 32,
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    maxQueuedRequests: options.maxQueuedRequests ?? 2000,
    now: options.now ?? Date.now,
    authFailureLogWindowMs: options.authFailureLogWindowMs ?? 60_000,
  };
  const log = o.logger.child({ component: 'dashboard-api' });
  const live = options.liveVitals === false ? undefined : new LiveVitals({ bus: o.bus, logger: log, now: o.now });
  const projection = new AlertProjection({
    bus: o.bus,
    logger: o.logger,
    metrics: o.metrics,
    ...(o.groupId !== undefined ? { groupId: o.groupId } : {}),
    ...(o.maxEvents !== undefined ? { maxEvents: o.maxEvents } : {}),
  });
  const hub = new AlertStreamHub({
    projection,
    logger: log,
    metrics: o.metrics,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    highWaterMarkBytes: o.streamHighWaterMarkBytes,
    now: o.now,
    ...(live ? { live } : {}),
    ...(options.vitalsIntervalMs !== undefined ? { vitalsIntervalMs: options.vitalsIntervalMs } : {}),
  });
  const requests = o.metrics.counter('pulsebridge_dashboard_http_requests_total', 'HTTP requests by route, method and status');
  const duration = o.metrics.histogram('pulsebridge_dashboard_http_request_duration_seconds', 'HTTP request duration', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  const authFailures = o.metrics.counter('pulsebridge_dashboard_auth_failures_total', 'Requests rejected for a missing or invalid token');
  const requestsShed = o.metrics.counter('pulsebridge_dashboard_http_requests_shed_total', 'Requests answered 503 because maxQueuedRequests were already waiting for a slot');
  const requestLimit = new InFlightLimit(o.maxConcurrentRequests);
  const auditFailures = o.metrics.counter('pulsebridge_dashboard_audit_failures_total', 'Audit entries that could not be written');

  const webRoot = o.webRoot ?? fileURLToPath(new URL('./web/', import.meta.url));
  const staticBodies = new Map<string, { body: Buffer; type: string }>();
  for (const [route, { file, type }] of Object.entries(STATIC_FILES)) staticBodies.set(route, { body: readFileSync(path.join(webRoot, file)), type });
  const requireFromHere = createRequire(import.meta.url);
  for (const [route, { module, type }] of Object.entries(VENDOR_FILES)) {
    try {
      staticBodies.set(route, { body: readFileSync(requireFromHere.resolve(module)), type });
    } catch (err) {
      // The API still works; the page shows its charts as unavailable. `npm ci` installs it.
      log.error('a browser library is not installed; run npm ci', { module, err });
    }
  }

  const iso = () => new Date(o.now()).toISOString();

  // ---- authentication, authorization, audit ------------------------------------------------

  /**
   * Verifies a token; a missing or rejected one (401) is audited as `auth.failed` and logged
   * (rate-limited) before the error is thrown. `origin`: where it came from (remote address, route).
   */
  async function authenticate(token: string | undefined, origin: AuthOrigin, missing: MissingToken = NO_BEARER_TOKEN): Promise<Principal> {
    if (!token) {
      authFailures.inc({ reason: 'missing' });
      await recordAuthFailure(origin, missing.reason);
      throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', missing.message);
    }
    try {
      return await o.auth.verify(token);
    } catch (err) {
      const invalid = err instanceof PulsebridgeError && err.code === 'PB_AUTH_INVALID_TOKEN';
      authFailures.inc({ reason: invalid ? 'invalid' : 'unavailable' });
      // An issuer we cannot reach is our outage (503), not the caller's failure. A genuine token
      // that only expired names who presented it; any other stays anonymous.
      if (invalid) await recordAuthFailure(origin, err.message, err instanceof ExpiredTokenError ? err.subject : ANONYMOUS_ACTOR);
      throw err;
    }
  }

  const trustedProxies = new Set((options.trustedProxies ?? []).map(normalizeAddress));
  const authFailureLog = new AuthFailureLogLimit();
  const authFailureAudit = new AuthFailureLogLimit({ perAddress: AUTH_FAILURES_AUDITED_PER_ADDRESS });
  let authFailureTimer: NodeJS.Timeout | undefined;
  let authAuditErrorLoggedAt = -Infinity;
  function reportSuppressedAuthFailures(): void {
    const kept = authFailureLog.roll();
    if (kept) log.warn('authentication failures not logged one by one (the first per address per window is; the audit trail has them)', { windowMs: o.authFailureLogWindowMs, ...kept });
    // One audit entry per address for the failures over its per-window share.
    for (const [address, count] of authFailureAudit.roll()?.all ?? []) {
      const entry: AuditEntry = {
        at: iso(), actor: ANONYMOUS_ACTOR, action: 'auth.failed', outcome: 'denied', status: 401,
        detail: `${count} more failed authentications ${address === OTHER_ADDRESSES ? 'from further addresses' : 'from this address'} in the last ${Math.round(o.authFailureLogWindowMs / 1000)} s, not recorded one by one`,
      };
      if (address !== OTHER_ADDRESSES) entry.remoteAddress = address;
      void writeAuthFailure(entry);
    }
  }

  /**
   * The trace of a 401: an audit entry (the security record; awaited, so a flood is slowed down by
   * the request limit instead of queueing entries in memory) for the first
   * {@link AUTH_FAILURES_AUDITED_PER_ADDRESS} per remote address per window, then one entry with
   * the count at the window's end — a flood without a token cannot fill the disk the trail is on
   * (the security re-check wrote 1,600 entries a second from one client); and a warning for the
   * first per address per window. Never the token: only the reason sentence.
   */
  async function recordAuthFailure(origin: AuthOrigin, reason: string, actor: AuditEntry['actor'] = ANONYMOUS_ACTOR): Promise<void> {
    const remoteAddress = clientAddress(origin.req, trustedProxies);
    if (authFailureLog.admit(remoteAddress ?? 'unknown')) log.warn('authentication failed', { route: origin.route, remoteAddress, reason });
    if (!authFailureAudit.admit(remoteAddress ?? 'unknown')) return;
    const entry: AuditEntry = { at: iso(), actor, action: 'auth.failed', route: origin.route, outcome: 'denied', status: 401, detail: reason };
    if (remoteAddress) entry.remoteAddress = remoteAddress;
    await writeAuthFailure(entry);
  }

  /**
   * A failed write does not turn the 401 into a 500 (nothing was disclosed); it is counted, and
   * logged at most once per window.
   */
  async function writeAuthFailure(entry: AuditEntry): Promise<void> {
    try {
      await o.audit.record(entry);
    } catch (err) {
      auditFailures.inc();
      const now = performance.now();
      if (now - authAuditErrorLoggedAt >= o.authFailureLogWindowMs) {
        authAuditErrorLoggedAt = now;
        log.error('audit entry could not be written', { err, action: 'auth.failed' });
      }
    }
  }

  /** Writes an audit entry; when that fails, the request fails too (no unaudited PHI access). */
  async function audit(principal: Principal, ctx: { req: IncomingMessage }, entry: Omit<AuditEntry, 'at' | 'actor' | 'remoteAddress'>): Promise<void> {
    const full: AuditEntry = { at: iso(), actor: { sub: principal.sub, role: principal.role }, ...entry };
    const remote = clientAddress(ctx.req, trustedProxies);
    if (remote) full.remoteAddress = remote;
    try {
      await o.audit.record(full);
    } catch (err) {
      auditFailures.inc();
      log.error('audit entry could not be written', { err, action: entry.action });
      throw new PulsebridgeError('PB_AUDIT_FAILED', 'the access could not be audited', { cause: err });
    }
  }

  /** Care-team check for one patient, audited as denied when it fails. */
  async function requirePatient(principal: Principal, ctx: RequestContext, action: AuditAction, patientId: string, extra: Partial<AuditEntry> = {}): Promise<void> {
    if (canAccessPatient(principal, patientId)) return;
    await audit(principal, ctx, { action, patientId, outcome: 'denied', status: 403, ...extra });
    throw new PulsebridgeError('PB_AUTH_FORBIDDEN', `patient ${patientId} is not on your care team`);
  }

  /**
   * The alert a route addressed by alert id works on. Unknown, or of a patient outside the caller's
   * care team: the same 404 (audited as not_found, or as denied with the patient), so the answer
   * never tells whether another team's alert exists or whose it is.
   */
  async function requireAlert(principal: Principal, ctx: RequestContext, action: AuditAction, alertId: string): Promise<Alert> {
    const alert = projection.get(alertId);
    if (alert && canAccessPatient(principal, alert.patientId)) return alert;
    await audit(principal, ctx, alert
      ? { action, alertId, patientId: alert.patientId, outcome: 'denied', status: 404 }
      : { action, alertId, outcome: 'not_found', status: 404 });
    throw new PulsebridgeError('PB_NOT_FOUND', `alert ${alertId} is not known`);
  }

  const visiblePatients = (principal: Principal): ReadonlySet<string> | undefined =>
    principal.role === 'admin' ? undefined : new Set(principal.patients);

  // ---- routes ----------------------------------------------------------------------------

  async function listPatients(principal: Principal, ctx: RequestContext): Promise<void> {
    const patients = o.patients.list().filter((p) => canAccessPatient(principal, p.id));
    await audit(principal, ctx, { action: 'patients.list', patientIds: patients.map((p) => p.id), outcome: 'allowed', status: 200 });
    sendJson(ctx.res, 200, { patients });
  }

  async function getPatient(principal: Principal, ctx: RequestContext, patientId: string): Promise<void> {
    // Care team first, so a 404 never tells a clinician whether someone else's patient exists.
    await requirePatient(principal, ctx, 'patient.read', patientId);
    const patient = o.patients.get(patientId);
    if (!patient) {
      await audit(principal, ctx, { action: 'patient.read', patientId, outcome: 'not_found', status: 404 });
      throw new PulsebridgeError('PB_NOT_FOUND', `patient ${patientId} is not known`);
    }
    await audit(principal, ctx, { action: 'patient.read', patientId, outcome: 'allowed', status: 200 });
    sendJson(ctx.res, 200, { patient });
  }

  async function getVitals(principal: Principal, ctx: RequestContext, patientId: string): Promise<void> {
    await requirePatient(principal, ctx, 'vitals.read', patientId);
    const fromParam = parseTimeParam('from', ctx.url.searchParams.get('from'));
    const toParam = parseTimeParam('to', ctx.url.searchParams.get('to'));
    const toMs = toParam ?? (fromParam !== undefined ? fromParam + o.defaultVitalsRangeMs : o.now());
    const fromMs = fromParam ?? toMs - o.defaultVitalsRangeMs;
    if (!(fromMs < toMs)) throw badRequest('from must be before to');
    if (toMs - fromMs > o.maxVitalsRangeMs) throw badRequest(`the range may span at most ${o.maxVitalsRangeMs} ms; ask in pieces`);
    let points;
    try {
      points = await o.vitalsStore.queryHeartRate(patientId, fromMs, toMs);
    } catch (err) {
      throw err instanceof PulsebridgeError ? err : new PulsebridgeError('PB_STORE_QUERY_FAILED', 'the vitals query failed', { cause: err });
    }
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    await audit(principal, ctx, { action: 'vitals.read', patientId, outcome: 'allowed', status: 200, detail: `from=${from}&to=${to}` });
    sendJson(ctx.res, 200, {
      patientId,
      from,
      to,
      heartRate: points.map((p) => ({ timeMs: p.timeMs, hrBpm: p.hrBpm, deviceId: p.deviceId })),
    });
  }

  async function listAlerts(principal: Principal, ctx: RequestContext): Promise<void> {
    const q = ctx.url.searchParams;
    const patientId = q.get('patientId') || undefined;
    const state = q.get('state') || undefined;
    if (state !== undefined && !(ALERT_STATES as readonly string[]).includes(state)) throw badRequest(`state must be one of ${ALERT_STATES.join(', ')}`);
    const sinceMs = parseTimeParam('since', q.get('since'));
    const limitText = q.get('limit');
    const limit = limitText ? Number(limitText) : o.defaultAlertLimit;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ALERT_LIMIT) throw badRequest(`limit must be an integer from 1 to ${MAX_ALERT_LIMIT}`);
    const detail = ctx.url.search.replace(/^\?/, '');
    if (patientId !== undefined) await requirePatient(principal, ctx, 'alerts.list', patientId, { detail });
    const patientIds = visiblePatients(principal);
    // Read the list and the head in one synchronous step: a client that opens /v1/stream with
    // lastEventId = this head misses nothing and sees nothing twice.
    const alerts = projection.query({
      ...(patientId !== undefined ? { patientId } : {}),
      ...(patientIds !== undefined ? { patientIds } : {}),
      ...(state !== undefined ? { state: state as AlertState } : {}),
      ...(sinceMs !== undefined ? { sinceMs } : {}),
      limit,
    });
    const lastEventId = projection.headEventId;
    const disclosed = [...new Set(alerts.map((a) => a.patientId))].sort();
    await audit(principal, ctx, { action: 'alerts.list', ...(patientId ? { patientId } : {}), patientIds: disclosed, outcome: 'allowed', status: 200, detail });
    sendJson(ctx.res, 200, { alerts, lastEventId });
  }

  /** `{"reason": "…"}` of a resolve (optional; trimmed, bounded). */
  async function resolveReason(ctx: RequestContext): Promise<string | undefined> {
    const raw = await ctx.body();
    if (raw.length === 0) return undefined;
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw badRequest('the request body must be JSON, e.g. {"reason": "artefact"}');
    }
    const reason = (body as { reason?: unknown } | null)?.reason;
    if (reason === undefined || reason === null) return undefined;
    if (typeof reason !== 'string') throw badRequest('reason must be a string');
    const text = reason.trim();
    if (text.length > o.maxResolveReasonLength) throw badRequest(`reason may be at most ${o.maxResolveReasonLength} characters`);
    return text === '' ? undefined : text;
  }

  async function changeAlert(principal: Principal, ctx: RequestContext, alertId: string, target: 'acknowledged' | 'resolved'): Promise<void> {
    const action: AuditAction = target === 'acknowledged' ? 'alert.ack' : 'alert.resolve';
    const reason = target === 'resolved' ? await resolveReason(ctx) : undefined;
    const current = await requireAlert(principal, ctx, action, alertId);
    if (current.state === 'resolved') {
      await audit(principal, ctx, { action, alertId, patientId: current.patientId, outcome: 'conflict', status: 409 });
      throw new PulsebridgeError('PB_ALERT_RESOLVED', current.resolvedBy === SYSTEM_ACTOR
        ? `alert ${alertId} is closed: its condition ended on its own${current.end !== undefined ? ` at ${current.end}` : ''}${current.acknowledgedAt === undefined ? ', before anyone acknowledged it' : ''}`
        : `alert ${alertId} was already resolved by ${current.resolvedBy ?? 'the pipeline'}`);
    }
    if (current.state === target) {
      // Acknowledging twice is harmless: answer with the current state, publish nothing.
      await audit(principal, ctx, { action, alertId, patientId: current.patientId, outcome: 'allowed', status: 200, detail: 'already acknowledged' });
      sendJson(ctx.res, 200, { alert: current, eventId: projection.lastEventIdOf(alertId) ?? null });
      return;
    }
    const at = iso();
    const next: Alert = {
      ...current,
      state: target,
      ...(target === 'acknowledged' ? { acknowledgedBy: principal.sub, acknowledgedAt: at } : { resolvedBy: principal.sub, resolvedAt: at, ...(reason !== undefined ? { resolveReason: reason } : {}) }),
      revision: current.revision + 1,
      updatedAt: at,
    };
    const envelope: AlertEnvelope = { schema: 'pb.alert.v1', source: 'clinician', alert: next };
    // Audited before it happens: if the trail cannot be written, the change is not made.
    await audit(principal, ctx, { action, alertId, patientId: current.patientId, outcome: 'allowed', status: 200, ...(reason !== undefined ? { detail: `reason=${reason}` } : {}) });
    try {
      await o.bus.publish(STREAMS.alerts, [{ key: current.patientId, value: Buffer.from(JSON.stringify(envelope)) }]);
    } catch (err) {
      await audit(principal, ctx, { action, alertId, patientId: current.patientId, outcome: 'error', status: 503, detail: 'publish failed' }).catch(() => {});
      throw err instanceof PulsebridgeError ? err : new PulsebridgeError('PB_BUS_UNAVAILABLE', 'the alert change could not be published', { cause: err });
    }
    // Read-your-writes: answer once the projection has folded the change, so a GET right after
    // shows it. If the bus is slow, 202 says "accepted, not yet visible".
    const seen = await projection.waitForAlert(alertId, (a) => a.revision >= next.revision && STATE_RANK[a.state] >= STATE_RANK[target], o.writeVisibleTimeoutMs);
    if (seen) sendJson(ctx.res, 200, { alert: seen.alert, eventId: seen.eventId });
    else sendJson(ctx.res, 202, { alert: next, eventId: null });
  }

  async function getEcgStrip(principal: Principal, ctx: RequestContext, alertId: string): Promise<void> {
    const alert = await requireAlert(principal, ctx, 'ecg.read', alertId);
    let strip;
    try {
      strip = await o.vitalsStore.getEcgStrip(alert.patientId, alertId);
    } catch (err) {
      throw err instanceof PulsebridgeError ? err : new PulsebridgeError('PB_STORE_QUERY_FAILED', 'the ECG strip query failed', { cause: err });
    }
    if (!strip) {
      await audit(principal, ctx, { action: 'ecg.read', alertId, patientId: alert.patientId, outcome: 'not_found', status: 404 });
      // Not yet (the post-event window is still running) or never (the device sends no ECG).
      throw new PulsebridgeError('PB_NOT_FOUND', `no ECG strip for alert ${alertId} (yet): strips are kept for devices that send ECG, once the seconds after the onset have passed`);
    }
    await audit(principal, ctx, { action: 'ecg.read', alertId, patientId: alert.patientId, outcome: 'allowed', status: 200 });
    sendJson(ctx.res, 200, { strip });
  }

  async function renewSession(principal: Principal, ctx: RequestContext): Promise<void> {
    if (!o.tokenRenewer) throw new PulsebridgeError('PB_NOT_FOUND', 'this server cannot renew tokens (external issuer): sign in again with your identity provider');
    const renewed = await o.tokenRenewer.renew(principal, bearerToken(ctx.req.headers.authorization)!);
    log.info('session renewed', { sub: principal.sub, expiresAt: new Date(renewed.expiresAtMs).toISOString() });
    sendJson(ctx.res, 200, { token: renewed.token, expiresAt: new Date(renewed.expiresAtMs).toISOString() });
  }

  // ---- dispatch --------------------------------------------------------------------------

  async function route(ctx: RequestContext): Promise<void> {
    const { req, res, url } = ctx;
    const method = req.method ?? 'GET';
    const p = url.pathname;

    const statik = staticBodies.get(p);
    if (statik) {
      ctx.route = p;
      allow(method, 'GET');
      const { body, type } = statik;
      // With an external issuer the page exchanges its code and refreshes at the token endpoint.
      const csp = login ? PAGE_CSP.replace("connect-src 'self'", `connect-src 'self' ${new URL(login.tokenEndpoint).origin}`) : PAGE_CSP;
      res.writeHead(200, { ...BASE_HEADERS, 'content-type': type, 'content-length': String(body.length), 'content-security-policy': csp, 'x-frame-options': 'DENY' });
      res.end(body);
      return;
    }
    if (p === '/v1/auth/config') {
      ctx.route = p;
      allow(method, 'GET');
      if (o.browserLogin && !login) login = await resolveBrowserLogin(o.browserLogin);
      sendJson(res, 200, login ?? { kind: 'dev', renew: o.tokenRenewer !== undefined });
      return;
    }
    if (p === '/healthz') {
      ctx.route = p;
      allow(method, 'GET');
      // 200 while degraded: the API itself serves; the operator alarm or the store says what is wrong.
      const operatorAlarms = o.operatorAlarms?.active() ?? [];
      const vitalsStore = o.storeHealth?.problem();
      // A subscription not consuming: alerts, telemetry or operator alarms no longer arrive here.
      const busSubscriptions = o.busHealth?.problems() ?? [];
      sendJson(res, 200, { status: operatorAlarms.length > 0 || vitalsStore || busSubscriptions.length > 0 ? 'degraded' : 'ok', alertsHeadEventId: projection.headEventId, streamConnections: hub.size,
        ...(operatorAlarms.length > 0 ? { operatorAlarms } : {}), ...(vitalsStore ? { vitalsStore } : {}), ...(busSubscriptions.length > 0 ? { busSubscriptions } : {}) });
      return;
    }
    if (p === '/metrics') {
      ctx.route = p;
      allow(method, 'GET');
      const text = o.metrics.render();
      res.writeHead(200, { ...BASE_HEADERS, 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
      return;
    }
    const api = matchApiRoute(p) ?? moduleRoute(p, method);
    if (!api) {
      if (p === '/v1/stream') throw new PulsebridgeError('PB_HTTP_BAD_REQUEST', '/v1/stream is a WebSocket endpoint; send an Upgrade request', { details: { status: 426 } });
      throw new PulsebridgeError('PB_NOT_FOUND', `no route ${p}`);
    }
    ctx.route = api.route;
    allow(method, api.method);
    const missing = req.headers.authorization === undefined ? NO_BEARER_TOKEN : NOT_BEARER_SCHEME;
    const principal = await authenticate(bearerToken(req.headers.authorization), { req, route: api.route }, missing);
    return api.run(principal, ctx);
  }

  /** The /v1 routes: template (metrics label), method, handler. */
  function matchApiRoute(p: string): { route: string; method: string; run: (principal: Principal, ctx: RequestContext) => Promise<void> } | undefined {
    if (p === '/v1/patients') return { route: p, method: 'GET', run: listPatients };
    if (p === '/v1/alerts') return { route: p, method: 'GET', run: listAlerts };
    if (p === '/v1/session/renew') return { route: p, method: 'POST', run: renewSession };
    const seg = p.split('/'); // ['', 'v1', …]
    if (seg[1] !== 'v1' || !seg[3]) return undefined;
    const id = seg[3];
    if (seg.length === 4 && seg[2] === 'patients') return { route: '/v1/patients/{id}', method: 'GET', run: (pr, ctx) => getPatient(pr, ctx, idSegment('patient', id)) };
    if (seg.length === 5 && seg[2] === 'patients' && seg[4] === 'vitals') {
      return { route: '/v1/patients/{id}/vitals', method: 'GET', run: (pr, ctx) => getVitals(pr, ctx, idSegment('patient', id)) };
    }
    if (seg.length === 5 && seg[2] === 'alerts' && seg[4] === 'ecg') {
      return { route: '/v1/alerts/{id}/ecg', method: 'GET', run: (pr, ctx) => getEcgStrip(pr, ctx, pathSegment(id)) };
    }
    if (seg.length === 5 && seg[2] === 'alerts' && (seg[4] === 'ack' || seg[4] === 'resolve')) {
      const target = seg[4] === 'ack' ? 'acknowledged' : 'resolved';
      return { route: `/v1/alerts/{id}/${seg[4]}`, method: 'POST', run: (pr, ctx) => changeAlert(pr, ctx, pathSegment(id), target) };
    }
    return undefined;
  }

  /** The first route module that serves the path. */
  function moduleRoute(p: string, method: string): ReturnType<typeof matchApiRoute> {
    for (const m of o.routeModules ?? []) {
      const hit = m.match(p, method);
      if (hit) {
        return { route: hit.route, method: hit.method, run: (principal, ctx) => hit.run({ principal, req: ctx.req, res: ctx.res, url: ctx.url, body: ctx.body, audit: (entry) => audit(principal, ctx, entry) }) };
      }
    }
    return undefined;
  }

  function allow(method: string, allowed: string): void {
    if (method !== allowed) throw new PulsebridgeError('PB_HTTP_BAD_REQUEST', `${method} is not allowed here; use ${allowed}`, { details: { status: 405, allow: allowed } });
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    // Read the body from the start (bounded) so keep-alive connections stay usable; only module routes use it.
    const body = bufferBody(req);
    const ctx: RequestContext = { req, res, url: new URL(req.url ?? '/', 'http://localhost'), route: 'unmatched', body };
    // Health and metrics answer under any load; everything else takes a slot (see maxConcurrentRequests).
    const limited = ctx.url.pathname !== '/healthz' && ctx.url.pathname !== '/metrics';
    try {
      if (limited) {
        if (requestLimit.waiting >= o.maxQueuedRequests) {
          requestsShed.inc();
          throw new PulsebridgeError('PB_HTTP_BUSY', 'too many requests are waiting', { details: { status: 503, retryAfterS: 1 } });
        }
        const wait = requestLimit.acquire();
        // The slot is held until the response left for the kernel ('finish') or the client went
        // away ('close'): a written but unsent body is memory too.
        let released = false;
        const release = () => { if (!released) { released = true; requestLimit.release(); } };
        res.once('finish', release);
        res.once('close', release);
        if (wait) await wait;
      }
      await route(ctx);
    } catch (err) {
      const apiError: ApiError = toApiError(err);
      if (apiError.status >= 500) log.error('request failed', { err, route: ctx.route, method: req.method, cause: (err as Error).cause });
      if (!res.headersSent) sendError(res, apiError);
      else res.destroy();
    } finally {
      requests.inc({ route: ctx.route, method: req.method ?? '', status: String(res.statusCode) });
      duration.observe((performance.now() - started) / 1000);
    }
  }

  // ---- WebSocket -------------------------------------------------------------------------

  // Clients send only small auth messages; a small limit keeps a misbehaving one from making the server buffer much.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 16 * 1024,
    // Answer with our protocol name only, never with the offered `bearer.<token>`.
    handleProtocols: (protocols) => (protocols.has(STREAM_SUBPROTOCOL) ? STREAM_SUBPROTOCOL : false),
  });

  /**
   * Where the stream's token comes from, best first: the Authorization header (non-browser
   * clients), a `bearer.<JWT>` subprotocol, or — the page's way, keeping the token out of URLs
   * and proxy logs — the first message `{"type":"auth","token":…}` (undefined here). The
   * `?access_token=` query parameter still works for older clients (product.md).
   */
  function upgradeToken(req: IncomingMessage, url: URL): string | undefined {
    const header = bearerToken(req.headers.authorization);
    if (header) return header;
    const offered = headerValue(req.headers['sec-websocket-protocol'])?.split(',').map((p) => p.trim()) ?? [];
    const sub = offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
    if (sub) return sub.slice(BEARER_SUBPROTOCOL_PREFIX.length);
    return url.searchParams.get('access_token') || undefined;
  }

  /** What a stream connection audits with (its caller, its remote address) and renews its token with. */
  const streamSession = (req: IncomingMessage, principal: Principal): StreamSession => ({
    // The actor stays right after a renewal: a renewed token must keep sub and role.
    audit: (entry) => audit(principal, { req }, entry),
    reauthenticate: (token) => authenticate(token, { req, route: '/v1/stream' }),
  });

  const streamOpenEntry = (principal: Principal, afterEventId: bigint | undefined): Omit<AuditEntry, 'at' | 'actor' | 'remoteAddress'> => ({
    action: 'stream.open',
    ...(principal.role === 'admin' ? {} : { patientIds: [...principal.patients] }),
    outcome: 'allowed',
    status: 101,
    ...(afterEventId !== undefined ? { detail: `lastEventId=${afterEventId}` } : {}),
  });

  /** An accepted stream without a token: its first message must authenticate it, in time. */
  function awaitFirstMessageAuth(req: IncomingMessage, ws: WebSocket, afterEventId: bigint | undefined): void {
    const timer = setTimeout(() => {
      // A stream that never authenticates is a failed authentication too (counted, audited, logged).
      authFailures.inc({ reason: 'missing' });
      void recordAuthFailure({ req, route: '/v1/stream' }, `no {"type":"auth","token":…} message within ${o.streamAuthTimeoutMs} ms`);
      ws.close(STREAM_CLOSE.tokenExpired, 'send {"type":"auth","token":…} first');
    }, o.streamAuthTimeoutMs);
    ws.once('close', () => clearTimeout(timer));
    ws.once('message', (data) => {
      clearTimeout(timer);
      void (async () => {
        let token: unknown;
        try {
          const msg = JSON.parse(String(data)) as { type?: unknown; token?: unknown };
          token = msg?.type === 'auth' ? msg.token : undefined;
        } catch { /* not JSON: handled below */ }
        let principal: Principal;
        try {
          principal = await authenticate(typeof token === 'string' && token !== '' ? token : undefined, { req, route: '/v1/stream' }, FIRST_MESSAGE_AUTH);
        } catch (err) {
          const unauthorized = err instanceof PulsebridgeError && err.code === 'PB_AUTH_INVALID_TOKEN';
          ws.close(unauthorized ? STREAM_CLOSE.tokenExpired : 1011, unauthorized ? 'token rejected' : 'authentication unavailable');
          return;
        }
        try {
          await audit(principal, { req }, streamOpenEntry(principal, afterEventId));
          hub.attach(ws, principal, afterEventId, streamSession(req, principal));
        } catch (err) {
          log.error('stream open failed', { err });
          ws.close(1011, 'the access could not be audited');
        }
      })();
    });
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', (err) => log.debug('upgrade socket error', { err }));
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname !== '/v1/stream') throw new PulsebridgeError('PB_NOT_FOUND', `no WebSocket endpoint at ${url.pathname}`);
      const token = upgradeToken(req, url);
      const principal = token !== undefined ? await authenticate(token, { req, route: '/v1/stream' }) : undefined;
      const lastEventIdText = url.searchParams.get('lastEventId') ?? headerValue(req.headers['last-event-id']);
      let afterEventId: bigint | undefined;
      if (lastEventIdText !== undefined && lastEventIdText !== '') {
        afterEventId = parseEventId(lastEventIdText);
        if (afterEventId === undefined) throw badRequest('lastEventId must be an event id (a decimal number, or -1 for the beginning)');
      }
      if (principal) {
        // Audited before the upgrade: an unauditable access is refused with a proper HTTP status.
        await audit(principal, { req }, streamOpenEntry(principal, afterEventId));
        wss.handleUpgrade(req, socket, head, (ws) => hub.attach(ws, principal, afterEventId, streamSession(req, principal)));
      } else {
        wss.handleUpgrade(req, socket, head, (ws) => awaitFirstMessageAuth(req, ws, afterEventId));
      }
      requests.inc({ route: '/v1/stream', method: 'GET', status: '101' });
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.status >= 500) log.error('stream upgrade failed', { err });
      requests.inc({ route: url.pathname === '/v1/stream' ? '/v1/stream' : 'unmatched', method: 'GET', status: String(apiError.status) });
      rejectUpgrade(socket, apiError);
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------

  let server: Server | undefined;
  let closing: Promise<void> | undefined;
  let login: BrowserLogin | undefined;

  return {
    projection,
    async listen(port: number, host = '127.0.0.1'): Promise<ListeningAddress> {
      if (server) throw new PulsebridgeError('PB_CONFIG_INVALID', 'the dashboard API is already listening');
      await projection.start();
      await live?.start();
      if (o.browserLogin) {
        // Not fatal: an issuer that is down now is asked again by the next GET /v1/auth/config.
        login = await resolveBrowserLogin(o.browserLogin).catch((err: unknown) => {
          log.warn('OpenID configuration for the page not available yet', { err: err as Error });
          return undefined;
        });
      }
      // Slow clients are cut off (slowloris): headers must arrive within headersTimeoutMs and a
      // whole request within requestTimeoutMs; Node checks both every connectionsCheckingInterval.
      const s = createServer({
        headersTimeout: o.headersTimeoutMs,
        requestTimeout: o.requestTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(o.headersTimeoutMs / 4))),
        keepAliveTimeout: 5_000,
      }, (req, res) => void onRequest(req, res));
      s.on('upgrade', (req, socket, head) => void onUpgrade(req, socket, head));
      server = s;
      authFailureTimer = setInterval(reportSuppressedAuthFailures, o.authFailureLogWindowMs);
      authFailureTimer.unref();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address() as AddressInfo;
      const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      log.info('dashboard API listening', { host: addr.address, port: addr.port });
      return { host: addr.address, port: addr.port, url: `http://${urlHost}:${addr.port}` };
    },
    close(): Promise<void> {
      closing ??= (async () => {
        await hub.shutdown(1000);
        const s = server;
        if (s) {
          const closed = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeAllConnections();
          await closed;
        }
        wss.close();
        clearInterval(authFailureTimer);
        // What the current window kept back is not lost with the process.
        reportSuppressedAuthFailures();
        await live?.stop();
        await projection.stop();
      })();
      return closing;
    },
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

