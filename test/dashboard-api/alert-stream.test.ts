import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { silentLogger } from '../../platform/log.ts';
import { AlertProjection } from '../../dashboard-api/alert-projection.ts';
import { AlertStreamHub, type StreamSession } from '../../dashboard-api/alert-stream.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import type { LiveEcg, LiveVitals } from '../../dashboard-api/live-vitals.ts';
import { makeAlert, publishAlerts } from './helpers.ts';

/** A session that audits nothing (these tests do not watch; the server's session writes the audit trail). */
const noAudit: StreamSession = { audit: async () => {} };

/**
 * A socket whose send buffer only empties when the test says so, standing in for a client on a
 * slow link. Implements the part of ws's WebSocket the hub uses (the undici MockAgent idea: same
 * interface, no module mock).
 */
class SlowSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CONNECTING = 0;
  readonly CLOSED = 3;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: { type: string; id?: string }[] = [];
  #pending: (() => void)[] = [];

  send(data: string, cb?: (err?: Error) => void): void {
    this.sent.push(JSON.parse(data));
    this.bufferedAmount += Buffer.byteLength(data);
    if (cb) this.#pending.push(() => cb());
  }

  /** The network took everything: buffer empty, write callbacks fire. */
  drain(): void {
    this.bufferedAmount = 0;
    const callbacks = this.#pending;
    this.#pending = [];
    for (const cb of callbacks) cb();
  }

  ping(): void {}
  pause(): void {}
  resume(): void {}
  terminate(): void { this.close(); }
  close(): void {
    this.readyState = this.CLOSED;
    this.emit('close');
  }
}

let bus: InProcessBus;
let projection: AlertProjection;
beforeEach(async () => {
  bus = new InProcessBus();
  projection = new AlertProjection({ bus, logger: silentLogger });
  await projection.start();
});
afterEach(async () => {
  await projection.stop();
  await bus.close();
});

test('stops sending while the socket buffer is above the high-water mark and resumes, in order, when it drains', async () => {
  const alerts = Array.from({ length: 6 }, (_, i) => makeAlert('p1', 'brady', i));
  const oneMessageBytes = Buffer.byteLength(JSON.stringify({ type: 'alert', id: '0', alert: alerts[0] }));
  // Room for a bit more than two messages.
  const hub = new AlertStreamHub({ projection, logger: silentLogger, heartbeatIntervalMs: 600_000, highWaterMarkBytes: Math.floor(oneMessageBytes * 2.5) });
  const socket = new SlowSocket();
  hub.attach(socket as unknown as WebSocket, { sub: 'dr-a', role: 'clinician', patients: ['p1'], expiresAtMs: undefined }, undefined, noAudit);
  socket.drain(); // the hello went out

  await publishAlerts(bus, projection, alerts);
  const ids = () => socket.sent.filter((m) => m.type === 'alert').map((m) => m.id);
  expect(ids()).toEqual(['0', '1', '2']);
  socket.drain();
  expect(ids()).toEqual(['0', '1', '2', '3', '4', '5']);
  socket.drain();
  expect(ids()).toEqual(['0', '1', '2', '3', '4', '5']);

  // New events while idle go out immediately.
  await publishAlerts(bus, projection, [makeAlert('p1', 'tachy', 9)]);
  expect(ids()).toEqual(['0', '1', '2', '3', '4', '5', '6']);
  await hub.shutdown(0);
  expect(hub.size).toBe(0);
});

test('takes a client that answers no ping as gone after two heartbeats and at least 20 s, and keeps one that answers', async () => {
  vi.useFakeTimers();
  try {
    // The page's 2 s heartbeat: pings every 2 s, but a client whose event loop stalls for a few
    // seconds is not dropped sooner than with the former 10 s period.
    const hub = new AlertStreamHub({ projection, logger: silentLogger, heartbeatIntervalMs: 2000, highWaterMarkBytes: 1 << 20 });
    const principal = { sub: 'dr-a', role: 'clinician' as const, patients: ['p1'], expiresAtMs: undefined };
    const silent = new SlowSocket();
    const answering = new SlowSocket();
    answering.ping = () => { queueMicrotask(() => answering.emit('pong')); };
    hub.attach(silent as unknown as WebSocket, principal, undefined, noAudit);
    hub.attach(answering as unknown as WebSocket, principal, undefined, noAudit);
    await vi.advanceTimersByTimeAsync(19_000);
    expect([silent.readyState, answering.readyState]).toEqual([silent.OPEN, answering.OPEN]);
    await vi.advanceTimersByTimeAsync(4000);
    expect([silent.readyState, answering.readyState]).toEqual([silent.CLOSED, answering.OPEN]);
    await hub.shutdown(0);
  } finally {
    vi.useRealTimers();
  }
});

describe('watching a patient\'s live ECG', () => {
  type Entry = Omit<AuditEntry, 'at' | 'actor' | 'remoteAddress'>;
  /** A live source whose ECG frames the test emits; records what was watched. */
  function fakeLive() {
    const watchers = new Map<string, Set<(e: LiveEcg) => void>>();
    const live = {
      all: () => [],
      get: () => undefined,
      takeChanged: () => new Set<string>(),
      watchEcg(patientId: string, cb: (e: LiveEcg) => void) {
        const set = watchers.get(patientId) ?? new Set();
        watchers.set(patientId, set.add(cb));
        return () => set.delete(cb);
      },
    };
    const emit = (patientId: string) => {
      for (const cb of watchers.get(patientId) ?? []) cb({ patientId, deviceId: `dev-${patientId}`, ts: 1, fs: 250, uV: [1, 2], leadOff: false, beats: [] });
    };
    return { live: live as unknown as LiveVitals, emit, watching: (patientId: string) => watchers.get(patientId)?.size ?? 0 };
  }
  const drA = { sub: 'dr-a', role: 'clinician' as const, patients: ['p1'], expiresAtMs: undefined };
  const settle = () => new Promise((r) => setTimeout(r, 10));

  function open(session: StreamSession) {
    const { live, emit, watching } = fakeLive();
    const hub = new AlertStreamHub({ projection, logger: silentLogger, heartbeatIntervalMs: 600_000, highWaterMarkBytes: 1 << 20, live, vitalsIntervalMs: 600_000 });
    const socket = new SlowSocket();
    hub.attach(socket as unknown as WebSocket, drA, undefined, session);
    const watch = (patientId: unknown) => socket.emit('message', Buffer.from(JSON.stringify({ type: 'watch', patientId })));
    const after = (type: string) => socket.sent.filter((m) => m.type === type);
    return { hub, socket, watch, emit, watching, after };
  }

  test('a watch of another team\'s patient is audited as denied and answered with an error; nothing is streamed', async () => {
    const entries: Entry[] = [];
    const s = open({ audit: async (e) => { entries.push(e); } });
    s.watch('p2');
    await settle();
    s.emit('p2');
    expect(entries).toEqual([{ action: 'ecg.watch', patientId: 'p2', outcome: 'denied', status: 403 }]);
    expect(s.after('error')).toEqual([{ type: 'error', request: 'watch', patientId: 'p2', error: { code: 'PB_AUTH_FORBIDDEN', message: 'patient p2 is not on your care team' } }]);
    expect([s.after('ecg'), s.watching('p2')]).toEqual([[], 0]);
    // A watch that is not a patient id is a 400, audited as nothing (no patient is named).
    s.watch('../p2');
    await settle();
    expect(s.after('error').at(-1)).toEqual({ type: 'error', request: 'watch', error: { code: 'PB_HTTP_BAD_REQUEST', message: 'not a patient id: ids are 1–64 of A–Z a–z 0–9 . _ -' } });
    expect(entries).toHaveLength(1);
    await s.hub.shutdown(0);
  });

  test('a watch of an own patient is audited as allowed before the first ECG frame goes out', async () => {
    const order: string[] = [];
    let written!: () => void;
    const s = open({ audit: (e) => { order.push(`audit ${e.action} ${e.patientId} ${e.outcome}`); return new Promise<void>((r) => { written = r; }); } });
    s.socket.send = ((orig) => function (this: SlowSocket, data: string, cb?: (err?: Error) => void) {
      order.push(`send ${(JSON.parse(data) as { type: string }).type}`);
      orig.call(this, data, cb);
    })(s.socket.send);
    s.watch('p1');
    await settle();
    s.emit('p1'); // the entry is not written yet: nothing is watched, nothing sent
    expect([s.watching('p1'), s.after('ecg')]).toEqual([0, []]);
    written();
    await settle();
    s.emit('p1');
    expect(order).toEqual(['audit ecg.watch p1 allowed', 'send ecg']);
    expect(s.after('ecg')).toEqual([{ type: 'ecg', patientId: 'p1', deviceId: 'dev-p1', ts: 1, fs: 250, uV: [1, 2], leadOff: false, beats: [] }]);
    // null stops the watch, audited as nothing.
    s.watch(null);
    await settle();
    s.emit('p1');
    expect([s.after('ecg').length, s.watching('p1'), order.length]).toEqual([1, 0, 2]);
    await s.hub.shutdown(0);
  });

  test('when the watch cannot be audited it does not start, and the client gets the REST error', async () => {
    const s = open({ audit: async () => { throw new PulsebridgeError('PB_AUDIT_FAILED', 'the access could not be audited'); } });
    s.watch('p1');
    await settle();
    s.emit('p1');
    expect([s.watching('p1'), s.after('ecg')]).toEqual([0, []]);
    expect(s.after('error')).toEqual([{ type: 'error', request: 'watch', patientId: 'p1', error: { code: 'PB_AUDIT_FAILED', message: 'the audit log could not be written' } }]);
    await s.hub.shutdown(0);
  });

  test('watch requests are handled one at a time, in order, with the socket paused meanwhile', async () => {
    const pending: (() => void)[] = [];
    const entries: string[] = [];
    const s = open({ audit: (e) => { entries.push(`${e.patientId} ${e.outcome}`); return new Promise<void>((r) => pending.push(r)); } });
    const paused: boolean[] = [];
    s.socket.pause = () => { paused.push(true); };
    s.socket.resume = () => { paused.push(false); };
    s.watch('p2');
    s.watch('p1');
    s.watch('p3');
    await settle();
    expect([entries, paused]).toEqual([['p2 denied'], [true]]);
    while (pending.length > 0 || entries.length < 3) { pending.shift()?.(); await settle(); }
    expect([entries, paused]).toEqual([['p2 denied', 'p1 allowed', 'p3 denied'], [true, false]]);
    // The last request wins: p3 was refused, so p1's watch was stopped by it.
    expect(s.watching('p1')).toBe(0);
    await s.hub.shutdown(0);
  });
});
