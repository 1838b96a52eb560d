import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { AlertProjection } from '../../dashboard-api/alert-projection.ts';
import { AlertStreamHub } from '../../dashboard-api/alert-stream.ts';
import { makeAlert, publishAlerts } from './helpers.ts';

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
  hub.attach(socket as unknown as WebSocket, { sub: 'dr-a', role: 'clinician', patients: ['p1'], expiresAtMs: undefined }, undefined);
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
    hub.attach(silent as unknown as WebSocket, principal, undefined);
    hub.attach(answering as unknown as WebSocket, principal, undefined);
    await vi.advanceTimersByTimeAsync(19_000);
    expect([silent.readyState, answering.readyState]).toEqual([silent.OPEN, answering.OPEN]);
    await vi.advanceTimersByTimeAsync(4000);
    expect([silent.readyState, answering.readyState]).toEqual([silent.CLOSED, answering.OPEN]);
    await hub.shutdown(0);
  } finally {
    vi.useRealTimers();
  }
});
