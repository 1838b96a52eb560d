import { afterEach, beforeEach, expect, test } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { AlertProjection, parseEventId } from '../../dashboard-api/alert-projection.ts';
import type { AlertEvent } from '../../dashboard-api/alert-projection.ts';
import { envelope, makeAlert, publishAlerts, T0 } from './helpers.ts';

let bus: InProcessBus;
let metrics: MetricsRegistry;
let projection: AlertProjection;
beforeEach(async () => {
  bus = new InProcessBus();
  metrics = new MetricsRegistry();
  projection = new AlertProjection({ bus, logger: silentLogger, metrics });
});
afterEach(async () => {
  await projection.stop();
  await bus.close();
});

test('folds snapshots published before it started, with event id = bus offset', async () => {
  const a = makeAlert('p1', 'brady', 0);
  const aEnded: Alert = { ...a, end: new Date(T0 + 60_000).toISOString(), revision: 1, updatedAt: new Date(T0 + 60_000).toISOString() };
  await bus.publish(STREAMS.alerts, [a, aEnded].map((x) => ({ key: x.patientId, value: Buffer.from(JSON.stringify(envelope(x))) })));
  const done = new Promise<void>((r) => projection.onEvent((e) => { if (e.id === '1') r(); }));
  await projection.start();
  await done;
  expect(projection.get(a.id)).toEqual(aEnded);
  expect(projection.headEventId).toBe('1');
  expect(projection.lastEventIdOf(a.id)).toBe('1');
  expect(projection.eventsAfter(-1n).map((e) => [e.id, e.source, e.alert.revision])).toEqual([['0', 'processor', 0], ['1', 'processor', 1]]);
});

test('a late detection update cannot take back a clinician acknowledgement', async () => {
  await projection.start();
  const a = makeAlert('p1', 'vt', 0);
  const acked: Alert = { ...a, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: '2026-03-01T10:05:00.000Z', revision: 1, updatedAt: '2026-03-01T10:05:00.000Z' };
  const lateDetection: Alert = { ...a, end: '2026-03-01T10:04:00.000Z', revision: 1, updatedAt: '2026-03-01T10:06:00.000Z' };
  await publishAlerts(bus, projection, [a]);
  await bus.publish(STREAMS.alerts, [{ key: 'p1', value: Buffer.from(JSON.stringify(envelope(acked, 'clinician'))) }]);
  await publishAlerts(bus, projection, [lateDetection]);
  expect(projection.get(a.id)).toEqual({ ...lateDetection, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: '2026-03-01T10:05:00.000Z' });
  expect(projection.eventsAfter(0n).map((e) => [e.id, e.source, e.alert.state])).toEqual([['1', 'clinician', 'acknowledged'], ['2', 'processor', 'acknowledged']]);
});

// Found by an operator walkthrough (session 32): every processor restart re-publishes its alerts'
// latest snapshots (by design, stream-table.ts), and every board got each one again as a new event.
test('a re-published or older revision changes nothing and makes no event', async () => {
  await projection.start();
  const a = makeAlert('p1', 'brady', 0);
  const aEnded: Alert = { ...a, end: new Date(T0 + 60_000).toISOString(), revision: 1, updatedAt: new Date(T0 + 60_000).toISOString() };
  const acked: Alert = { ...aEnded, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: new Date(T0 + 70_000).toISOString(), revision: 2, updatedAt: new Date(T0 + 70_000).toISOString() };
  await publishAlerts(bus, projection, [a, aEnded]);
  await bus.publish(STREAMS.alerts, [{ key: 'p1', value: Buffer.from(JSON.stringify(envelope(acked, 'clinician'))) }]);
  const sentinel = makeAlert('p2', 'tachy', 1);
  // The processor restarts: its latest snapshot again (revision 1, older than the acknowledgement), and an old one (a replay).
  await publishAlerts(bus, projection, [aEnded, a, sentinel]);
  expect(projection.get(a.id)).toEqual(acked);
  expect(projection.eventsAfter(1n).map((e) => [e.id, e.source, e.alert.id, e.alert.revision])).toEqual([['2', 'clinician', a.id, 2], ['5', 'processor', sentinel.id, 0]]);
  expect(metrics.counter('pulsebridge_dashboard_alert_snapshots_unchanged_total', '').get({ source: 'processor' })).toBe(2);
});

// The re-check of that fix found revision-1 alerts repeated: merging a snapshot into itself added
// keys holding undefined (acknowledgedBy, end, …), and the deep comparison saw a change.
test('an alert folded once and re-published as it was makes no second event', async () => {
  await projection.start();
  const open = makeAlert('p1', 'signal_loss', 0);
  const sentinel = makeAlert('p2', 'tachy', 1);
  await publishAlerts(bus, projection, [open]);
  await publishAlerts(bus, projection, [open, sentinel]);
  expect(projection.eventsAfter(-1n).map((e) => [e.id, e.alert.id])).toEqual([['0', open.id], ['2', sentinel.id]]);
});

test('answers queries by patient, care team, state and since, newest first', async () => {
  await projection.start();
  const p1old = makeAlert('p1', 'brady', 0);
  const p2 = makeAlert('p2', 'tachy', 3);
  const p1new = makeAlert('p1', 'pause', 5, { state: 'acknowledged' });
  const p3 = makeAlert('p3', 'lead_off', 7);
  await publishAlerts(bus, projection, [p1old, p2, p1new, p3]);
  expect(projection.query()).toEqual([p3, p1new, p2, p1old]);
  expect(projection.query({ patientId: 'p1' })).toEqual([p1new, p1old]);
  expect(projection.query({ patientIds: new Set(['p1', 'p2']) })).toEqual([p1new, p2, p1old]);
  expect(projection.query({ state: 'active' })).toEqual([p3, p2, p1old]);
  expect(projection.query({ sinceMs: Date.parse(p2.updatedAt) })).toEqual([p3, p1new, p2]);
  expect(projection.query({ limit: 2 })).toEqual([p3, p1new]);
});

test('skips and counts messages that are not alert envelopes, without stalling the stream', async () => {
  await projection.start();
  await bus.publish(STREAMS.alerts, [
    { key: 'p1', value: Buffer.from('not json') },
    { key: 'p1', value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source: 'processor', alert: { id: 'x' } })) },
  ]);
  const good = makeAlert('p1', 'brady', 0);
  await publishAlerts(bus, projection, [good]);
  expect(projection.eventsAfter(-1n).map((e) => e.id)).toEqual(['2']);
  expect(metrics.render()).toContain('pulsebridge_dashboard_alert_events_rejected_total{reason="invalid_json"} 1');
  expect(metrics.render()).toContain('pulsebridge_dashboard_alert_events_rejected_total{reason="schema"} 1');
});

test('notifies listeners of each new event in order and finds the next visible event after a cursor', async () => {
  await projection.start();
  const got: AlertEvent[] = [];
  projection.onEvent((e) => got.push(e));
  const a = makeAlert('p1', 'brady', 0);
  const b = makeAlert('p2', 'brady', 1);
  const c = makeAlert('p1', 'tachy', 2);
  await publishAlerts(bus, projection, [a, b, c]);
  expect(got.map((e) => [e.id, e.alert.id])).toEqual([['0', a.id], ['1', b.id], ['2', c.id]]);
  const onlyP1 = (x: Alert) => x.patientId === 'p1';
  expect(projection.nextEventAfter(0n, onlyP1)?.id).toBe('2');
  expect(projection.nextEventAfter(2n, onlyP1)).toBeUndefined();
  expect(projection.eventsAfter(0n, onlyP1).map((e) => e.id)).toEqual(['2']);
});

test('drops the oldest events beyond maxEvents and reports the gap to a resume point before them', async () => {
  const small = new AlertProjection({ bus, logger: silentLogger, maxEvents: 10 });
  await small.start();
  const alerts = Array.from({ length: 12 }, (_, i) => makeAlert('p1', 'brady', i));
  await publishAlerts(bus, small, alerts);
  // 11 > 10 dropped one tenth (1 event: offset 0); 12 > 10 again dropped offset 1.
  expect(small.eventsAfter(-1n).map((e) => e.id)).toEqual(['2', '3', '4', '5', '6', '7', '8', '9', '10', '11']);
  expect([small.hasGapAfter(-1n), small.hasGapAfter(0n), small.hasGapAfter(1n)]).toEqual([true, true, false]);
  // Alert state is never dropped, only replay history.
  expect(small.query()).toHaveLength(12);
  await small.stop();
});

test('parses event ids: decimal offsets and -1, nothing else', () => {
  expect(['0', '42', '-1', '', '01', '-2', '1.5', 'abc', '123456789012345678901'].map(parseEventId)).toEqual([0n, 42n, -1n, undefined, undefined, undefined, undefined, undefined, undefined]);
});
