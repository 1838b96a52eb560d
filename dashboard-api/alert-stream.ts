/**
 * The `GET /v1/stream` WebSocket: pushes every new or changed alert of the caller's patients, in
 * event order, resuming after the client's last event id. Each connection keeps only a cursor
 * into the projection's event log, so a slow client costs no memory: the log is its queue, and
 * sending pauses while the socket's `bufferedAmount` is above the high-water mark.
 *
 * Messages (server → client, JSON text frames):
 *   {"type":"hello","headEventId":"<id>","heartbeatIntervalMs":N,"sub":…,"role":…}  once, first
 *   {"type":"gap","oldestEventId":"<id>"}   the resume point was older than the retained log
 *   {"type":"alert","id":"<event id>","alert":{…}}
 *   {"type":"heartbeat","at":"<ISO>","lastEventId":"<id>"}  every heartbeatIntervalMs while the
 *     client is caught up, so it can tell a quiet ward ("no alerts") from a dead connection ("no
 *     data"); everything up to lastEventId has been delivered, so it may resume from there.
 *   {"type":"vitals","snapshot":bool,"serverNowMs":N,"patients":[…]}  with a LiveVitals source: a
 *     snapshot of every visible patient right after hello (with the heart-rate history), then
 *     once a second the patients whose telemetry changed (live-vitals.ts).
 *   {"type":"auth","expiresAtMs":N}  the answer to a renewed token (below).
 *
 *   {"type":"ecg","patientId":…,"ts":N,"fs":N,"uV":[…],"leadOff":bool,"beats":[…]}  each ECG frame
 *     of the watched patient (below).
 *   {"type":"error","request":"watch","patientId":…,"error":{"code":"PB_…","message":"…"}}  a
 *     refused request; `error` is the REST error body's (`PB_AUTH_FORBIDDEN` "patient … is not on
 *     your care team", `PB_AUDIT_FAILED`, `PB_HTTP_BAD_REQUEST`). The stream stays open.
 *
 * Client → server: {"type":"auth","token":"<JWT>"} replaces the connection's token (renewal
 * before expiry; same subject and role only). {"type":"watch","patientId":"…"|null} streams that
 * patient's ECG frames (care team only; one patient per connection: the patient view); null
 * stops. Every watch of a patient is audited (`ecg.watch`): allowed ones before the first frame
 * (no frame unless the entry was written: else an error and no watch), refused ones as denied
 * with an error answer. Watches are handled one at a time in order, the socket not read meanwhile.
 * Anything else is ignored.
 */
import type { WebSocket } from 'ws';
import type { Alert } from '../contracts/alert.ts';
import { PATIENT_ID_PATTERN } from '../contracts/topics.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { Metric, MetricsRegistry } from '../platform/metrics.ts';
import type { AlertProjection } from './alert-projection.ts';
import type { AuditEntry } from './audit.ts';
import type { Principal } from './auth.ts';
import { canAccessPatient } from './auth.ts';
import { toApiError } from './http-util.ts';
import { liveWire, type LivePatient, type LiveVitals } from './live-vitals.ts';

/** A client that answered no ping for this long (and two periods) is taken as gone. */
const PEER_GONE_MIN_MS = 20_000;

/** Close codes (4000–4999 are application-defined, RFC 6455 §7.4.2). */
export const STREAM_CLOSE = {
  /** The server shuts down; reconnect later. */
  goingAway: 1001,
  /** The bearer token expired while the stream was open; get a new one. */
  tokenExpired: 4401,
  /** The client stopped answering pings. */
  unresponsive: 4408,
} as const;

export interface AlertStreamHubOptions {
  projection: AlertProjection;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** Application heartbeat and ping period, ms. */
  heartbeatIntervalMs: number;
  /** Pause sending while more than this many bytes wait in the socket. */
  highWaterMarkBytes: number;
  now?: () => number;
  /** Live patient state to push (the board); none: alerts only. */
  live?: LiveVitals;
  /** Verifies a renewed token sent on an open stream (unless the connection's session does). */
  reauthenticate?: (token: string) => Promise<Principal>;
  /** Period of live vitals deltas, ms. Default 1000. */
  vitalsIntervalMs?: number;
}

/** What one connection needs from the server besides its principal. */
export interface StreamSession {
  /**
   * Writes an access-audit entry for this connection's caller (server.ts: the stream's remote
   * address); rejects when it cannot be written.
   */
  audit(entry: Omit<AuditEntry, 'at' | 'actor' | 'remoteAddress'>): Promise<void>;
  /** Verifies a renewed token sent on this stream; default the hub's. */
  reauthenticate?: (token: string) => Promise<Principal>;
}

/** All open stream connections of one server. */
export class AlertStreamHub {
  readonly #options: AlertStreamHubOptions;
  readonly #connections = new Set<StreamConnection>();
  readonly #gauge: Metric | undefined;
  readonly #sent: Metric | undefined;
  readonly #vitalsTimer: NodeJS.Timeout | undefined;

  constructor(options: AlertStreamHubOptions) {
    this.#options = options;
    this.#gauge = options.metrics?.gauge('pulsebridge_dashboard_stream_connections', 'Open /v1/stream WebSocket connections');
    this.#sent = options.metrics?.counter('pulsebridge_dashboard_stream_events_sent_total', 'Alert events sent on /v1/stream');
    const live = options.live;
    if (live) {
      this.#vitalsTimer = setInterval(() => {
        const changed = live.takeChanged();
        if (changed.size === 0) return;
        const patients = [...changed].map((id) => live.get(id)!).filter(Boolean);
        for (const c of this.#connections) c.sendVitals(patients, false);
      }, options.vitalsIntervalMs ?? 1000);
      this.#vitalsTimer.unref();
    }
  }

  get size(): number {
    return this.#connections.size;
  }

  /**
   * Starts streaming to an accepted WebSocket. `afterEventId`: resume after this event (-1 = from
   * the first); undefined = only events from now on.
   */
  attach(ws: WebSocket, principal: Principal, afterEventId: bigint | undefined, session: StreamSession): void {
    const conn = new StreamConnection(ws, principal, afterEventId, this.#options, session, () => this.#sent?.inc());
    this.#connections.add(conn);
    this.#gauge?.set({}, this.#connections.size);
    ws.once('close', () => {
      conn.dispose();
      this.#connections.delete(conn);
      this.#gauge?.set({}, this.#connections.size);
    });
    conn.start();
  }

  /**
   * Closes every connection with 1001 (server shutdown) and waits for the close handshakes;
   * sockets still open after `graceMs` are terminated.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.#vitalsTimer) clearInterval(this.#vitalsTimer);
    const open = [...this.#connections];
    const closed = open.map((c) => new Promise<void>((resolve) => c.onClosed(resolve)));
    for (const c of open) c.close(STREAM_CLOSE.goingAway, 'server shutting down');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
    if ((await Promise.race([Promise.all(closed), timedOut])) === 'timeout') for (const c of open) c.terminate();
    clearTimeout(timer);
    await Promise.all(closed);
  }
}

class StreamConnection {
  readonly #ws: WebSocket;
  #principal: Principal;
  readonly #options: AlertStreamHubOptions;
  readonly #session: StreamSession;
  readonly #onSent: () => void;
  readonly #filter: (alert: Alert) => boolean;
  /** Id of the last event sent or deliberately skipped. */
  #cursor: bigint;
  #blocked = false;
  #missedPongs = 0;
  #unsubscribe: (() => void) | undefined;
  #unwatch: (() => void) | undefined;
  /** Watch requests not handled yet (in order), and whether one is being handled. */
  readonly #watchQueue: unknown[] = [];
  #watching = false;
  #disposed = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #resumedFrom: bigint | undefined;

  constructor(ws: WebSocket, principal: Principal, afterEventId: bigint | undefined, options: AlertStreamHubOptions, session: StreamSession, onSent: () => void) {
    this.#ws = ws;
    this.#principal = principal;
    this.#options = options;
    this.#session = session;
    this.#onSent = onSent;
    this.#resumedFrom = afterEventId;
    this.#cursor = afterEventId ?? BigInt(options.projection.headEventId);
    // Reads the current principal: a renewed token may carry a changed care team.
    this.#filter = (alert) => canAccessPatient(this.#principal, alert.patientId);
  }

  /** Live patient states visible to this caller (a snapshot carries the heart-rate history). */
  sendVitals(patients: readonly LivePatient[], snapshot: boolean): void {
    // Behind on alerts: alerts first; the next delta or a reconnect's snapshot brings vitals.
    if (this.#blocked) return;
    const visible = patients.filter((p) => canAccessPatient(this.#principal, p.patientId)).map((p) => liveWire(p, snapshot));
    if (visible.length === 0 && !snapshot) return;
    this.#sendControl({ type: 'vitals', snapshot, serverNowMs: (this.#options.now ?? Date.now)(), patients: visible });
  }

  async #onMessage(data: unknown): Promise<void> {
    let msg: { type?: unknown; token?: unknown };
    try {
      msg = JSON.parse(String(data)) as typeof msg;
    } catch {
      return;
    }
    if (msg?.type === 'watch') return this.#requestWatch((msg as { patientId?: unknown }).patientId);
    const reauthenticate = this.#session.reauthenticate ?? this.#options.reauthenticate;
    if (msg?.type !== 'auth' || typeof msg.token !== 'string' || !reauthenticate) return;
    let next: Principal;
    try {
      next = await reauthenticate(msg.token);
    } catch {
      this.close(STREAM_CLOSE.tokenExpired, 'renewed token rejected');
      return;
    }
    if (next.sub !== this.#principal.sub || next.role !== this.#principal.role) {
      this.close(STREAM_CLOSE.tokenExpired, 'a renewed token must name the same user and role');
      return;
    }
    this.#principal = next;
    this.#sendControl({ type: 'auth', expiresAtMs: next.expiresAtMs ?? null });
  }

  start(): void {
    const { projection, heartbeatIntervalMs } = this.#options;
    this.#sendControl({ type: 'hello', headEventId: projection.headEventId, heartbeatIntervalMs, sub: this.#principal.sub, role: this.#principal.role });
    if (this.#resumedFrom !== undefined && projection.hasGapAfter(this.#resumedFrom)) {
      const first = projection.nextEventAfter(-1n);
      this.#sendControl({ type: 'gap', oldestEventId: first?.id ?? projection.headEventId });
    }
    // Events are folded synchronously and we subscribe in the same tick as reading the cursor, so
    // none can slip between the replay and the live feed.
    this.#unsubscribe = projection.onEvent((e) => {
      if (this.#filter(e.alert)) this.#pump();
    });
    this.#ws.on('pong', () => { this.#missedPongs = 0; });
    this.#ws.on('message', (data) => { void this.#onMessage(data); });
    this.#ws.on('error', (err) => this.#options.logger.debug('stream socket error', { err }));
    this.#timer = setInterval(() => this.#tick(), heartbeatIntervalMs);
    this.#pump();
    if (this.#options.live) this.sendVitals(this.#options.live.all(), true);
  }

  /** Sends events after the cursor until caught up or the socket's buffer is full. */
  #pump(): void {
    const ws = this.#ws;
    const { projection, highWaterMarkBytes } = this.#options;
    while (ws.readyState === ws.OPEN) {
      if (ws.bufferedAmount >= highWaterMarkBytes) {
        // Resumed from the send callback once the socket drained.
        this.#blocked = true;
        return;
      }
      const e = projection.nextEventAfter(this.#cursor, this.#filter);
      if (!e) {
        // Nothing (visible to this caller) after the cursor: skip the invisible rest for good.
        this.#cursor = BigInt(projection.headEventId);
        return;
      }
      this.#cursor = BigInt(e.id);
      ws.send(JSON.stringify({ type: 'alert', id: e.id, alert: e.alert }), (err) => this.#afterSend(err));
      this.#onSent();
    }
  }

  #afterSend(err: Error | undefined): void {
    if (err) return; // the socket is closing; 'close' cleans up
    if (this.#blocked && this.#ws.bufferedAmount < this.#options.highWaterMarkBytes) {
      this.#blocked = false;
      this.#pump();
    }
  }

  #sendControl(message: Record<string, unknown>): void {
    // With the callback: a control message can be what filled the buffer, so its flush must resume a blocked pump too.
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(message), (err) => this.#afterSend(err));
  }

  #tick(): void {
    const now = (this.#options.now ?? Date.now)();
    if (this.#principal.expiresAtMs !== undefined && now >= this.#principal.expiresAtMs) {
      this.close(STREAM_CLOSE.tokenExpired, 'token expired');
      return;
    }
    // Silent for two ping periods, and at least 20 s: the peer is gone (sleeping laptop, dropped
    // Wi-Fi); free the socket. The 20 s keeps the tolerance the 10 s heartbeat had for a client
    // whose event loop stalls, now that pings come every 2 s for the page's sake.
    if (this.#missedPongs >= Math.max(2, Math.ceil(PEER_GONE_MIN_MS / this.#options.heartbeatIntervalMs))) {
      this.#ws.terminate();
      return;
    }
    this.#missedPongs++;
    this.#ws.ping();
    // A client that is still draining a backlog is not told "all quiet".
    if (!this.#blocked) this.#pump();
    if (!this.#blocked) this.#sendControl({ type: 'heartbeat', at: new Date(now).toISOString(), lastEventId: String(this.#cursor) });
  }

  onClosed(callback: () => void): void {
    if (this.#ws.readyState === this.#ws.CLOSED) callback();
    else this.#ws.once('close', () => callback());
  }

  terminate(): void {
    this.#ws.terminate();
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) this.#ws.close(code, reason);
  }

  /**
   * Queues a watch request. Handling one waits for its audit entry, so the socket is not read
   * meanwhile: a client firing watches faster than entries are written is slowed down by TCP
   * instead of queueing requests here (what was already read is bounded by one socket read).
   */
  #requestWatch(patientId: unknown): void {
    this.#watchQueue.push(patientId);
    if (this.#watching) return;
    this.#watching = true;
    this.#ws.pause();
    void (async () => {
      try {
        while (this.#watchQueue.length > 0 && !this.#disposed) await this.#watch(this.#watchQueue.shift());
      } catch (err) {
        this.#options.logger.error('a watch request failed', { err: err as Error });
      } finally {
        this.#watchQueue.length = 0;
        this.#watching = false;
        if (!this.#disposed) this.#ws.resume();
      }
    })();
  }

  async #watch(patientId: unknown): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    if (patientId === null || patientId === undefined) return;
    if (typeof patientId !== 'string' || !PATIENT_ID_PATTERN.test(patientId) || patientId === '.' || patientId === '..') {
      // As a REST path with a bad id: 400, naming no patient, nothing to audit.
      this.#sendError('watch', undefined, new PulsebridgeError('PB_HTTP_BAD_REQUEST', 'not a patient id: ids are 1–64 of A–Z a–z 0–9 . _ -'));
      return;
    }
    if (!canAccessPatient(this.#principal, patientId)) {
      // Refused whether or not the denial could be written (nothing is disclosed); a failed write
      // is counted and logged by the session's audit.
      await this.#session.audit({ action: 'ecg.watch', patientId, outcome: 'denied', status: 403 }).catch(() => {});
      this.#sendError('watch', patientId, new PulsebridgeError('PB_AUTH_FORBIDDEN', `patient ${patientId} is not on your care team`));
      return;
    }
    try {
      // Audited before the first frame: no entry, no waveform (the REST routes' rule).
      await this.#session.audit({ action: 'ecg.watch', patientId, outcome: 'allowed', status: 200 });
    } catch (err) {
      this.#sendError('watch', patientId, err);
      return;
    }
    const live = this.#options.live;
    if (!live || this.#disposed) return;
    this.#unwatch = live.watchEcg(patientId, (e) => {
      // Live waveform is best effort: skipped while the socket is behind (alerts come first).
      if (!this.#blocked && canAccessPatient(this.#principal, patientId)) this.#sendControl({ type: 'ecg', ...e });
    });
  }

  /**
   * Answers a refused request with the REST error body. Not sent to a client whose buffer is over
   * the high-water mark (it is not reading; answering every request would only grow the buffer).
   */
  #sendError(request: string, patientId: string | undefined, err: unknown): void {
    if (this.#ws.bufferedAmount >= this.#options.highWaterMarkBytes) return;
    const { code, message } = toApiError(err);
    this.#sendControl({ type: 'error', request, ...(patientId !== undefined ? { patientId } : {}), error: { code, message } });
  }

  dispose(): void {
    this.#disposed = true;
    this.#unwatch?.();
    this.#unsubscribe?.();
    if (this.#timer) clearInterval(this.#timer);
  }
}
