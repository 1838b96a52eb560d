/**
 * The API behind the central station: stream authentication without the token in the URL (first
 * message, subprotocol), token renewal (route and on an open stream), live telemetry on the
 * stream per care team, resolve with a reason, and the ECG strip route.
 */
import { readFile } from 'node:fs/promises';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import type { TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import { STREAM_SUBPROTOCOL } from '../../dashboard-api/server.ts';
import { sampleEcgStrip } from '../platform/store/ecg-strip-fixture.ts';
import { http, makeAlert, publishAlerts, startFixture, StreamClient, T0 } from './helpers.ts';
import type { Fixture } from './helpers.ts';

let fx: Fixture;
let nowMs = Date.now();
beforeEach(async () => {
  nowMs = Date.now();
  fx = await startFixture();
});
afterEach(async () => {
  await fx.close();
});

async function restartWith(overrides: Parameters<typeof startFixture>[0], renewal?: Parameters<typeof startFixture>[1]): Promise<void> {
  await fx.close();
  fx = await startFixture(overrides, renewal);
}

const audit = async () => (await readFile(fx.auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);

test('the stream authenticates by its first message or a bearer subprotocol; the old query form still works', async () => {
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const first = await StreamClient.open(fx.wsUrl);
  first.ws.send(JSON.stringify({ type: 'auth', token }));
  expect(await first.next()).toMatchObject({ type: 'hello', sub: 'dr-a', role: 'clinician' });

  const viaProtocol = new WebSocket(fx.wsUrl, [STREAM_SUBPROTOCOL, `bearer.${token}`]);
  const hello = new Promise<unknown>((resolve) => viaProtocol.once('message', (d) => resolve(JSON.parse(String(d)))));
  await new Promise((resolve, reject) => { viaProtocol.once('open', resolve); viaProtocol.once('error', reject); });
  // The server answers with the protocol name, never echoing the token.
  expect(viaProtocol.protocol).toBe(STREAM_SUBPROTOCOL);
  expect(await hello).toMatchObject({ type: 'hello', sub: 'dr-a' });
  viaProtocol.close();

  const legacy = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`);
  expect(await legacy.next()).toMatchObject({ type: 'hello', sub: 'dr-a' });
  await Promise.all([first.close(), legacy.close()]);
  expect((await audit()).filter((e) => e.action === 'stream.open').map((e) => [e.actor.sub, e.outcome, e.patientIds])).toEqual([
    ['dr-a', 'allowed', ['p1']], ['dr-a', 'allowed', ['p1']], ['dr-a', 'allowed', ['p1']],
  ]);
});

test('a stream without a token that says nothing is closed after the auth timeout', async () => {
  await restartWith({ streamAuthTimeoutMs: 100 });
  const silent = await StreamClient.open(fx.wsUrl);
  const code = await new Promise<number>((resolve) => silent.ws.once('close', (c) => resolve(c)));
  expect(code).toBe(4401);
});

test('a renewed token keeps an open stream past the old expiry; another user\'s token closes it', async () => {
  await restartWith({ now: () => nowMs, heartbeatIntervalMs: 20 });
  const short = await fx.issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1'], ttlSeconds: 60 });
  const stream = await StreamClient.open(fx.wsUrl);
  stream.ws.send(JSON.stringify({ type: 'auth', token: short }));
  expect((await stream.next()).type).toBe('hello');
  const longer = await fx.issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1'], ttlSeconds: 3600 });
  stream.ws.send(JSON.stringify({ type: 'auth', token: longer }));
  for (;;) {
    const m = await stream.next();
    if (m.type === 'auth') { expect(m.expiresAtMs).toBe(decodeJwt(longer).exp! * 1000); break; }
  }
  nowMs += 10 * 60_000; // past the first token's expiry
  const alert = makeAlert('p1', 'vt', 1);
  await publishAlerts(fx.bus, fx.api.projection, [alert]);
  expect((await stream.nextAlert()).alert?.id).toBe(alert.id);

  const closed = new Promise<[number, string]>((resolve) => stream.ws.once('close', (c, r) => resolve([c, String(r)])));
  stream.ws.send(JSON.stringify({ type: 'auth', token: await fx.token('dr-b', 'clinician', ['p1']) }));
  expect(await closed).toEqual([4401, 'a renewed token must name the same user and role']);
});

test('POST /v1/session/renew gives a fresh token with the same claims and session start; none after the session limit or without a renewer', async () => {
  // The renewer's clock runs 2.5 s ahead of the issuer's: the expiry told must still be the token's.
  let clock = Date.now() + 2500;
  await restartWith({}, { maxSessionMs: 60 * 60_000, now: () => clock });
  const token = await fx.issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1', 'p2'], ttlSeconds: 600 });
  const renewed = await http('POST', `${fx.url}/v1/session/renew`, token);
  expect(renewed.status).toBe(200);
  const body = renewed.body as { token: string; expiresAt: string };
  const before = decodeJwt(token);
  const after = decodeJwt(body.token);
  expect({ sub: after.sub, role: after['role'], patients: after['patients'], sst: after['sst'], ttl: after.exp! - after.iat! })
    .toEqual({ sub: 'dr-a', role: 'clinician', patients: ['p1', 'p2'], sst: before['sst'], ttl: 600 });
  expect(Date.parse(body.expiresAt)).toBe(after.exp! * 1000);
  expect((await http('GET', `${fx.url}/v1/patients`, body.token)).status).toBe(200);

  clock += 61 * 60_000; // the session started more than the limit ago
  const late = await http('POST', `${fx.url}/v1/session/renew`, body.token);
  expect(late.status).toBe(401);

  await restartWith({});
  const none = await http('POST', `${fx.url}/v1/session/renew`, await fx.token('dr-a', 'clinician', ['p1']));
  expect(none.status).toBe(404);
});

test('the stream pushes live telemetry of the caller\'s patients only: a snapshot with history, then deltas', async () => {
  await restartWith({ liveVitals: true, vitalsIntervalMs: 20 });
  const frame = (patientId: string, ts: number, extra: Partial<TelemetryRecord['frame']> = {}): TelemetryRecord => ({
    schema: 'pb.telemetry.v1', deviceId: `dev-${patientId}`, patientId, format: 'json-v1', receivedAt: ts,
    frame: { seq: ts, ts, durMs: 1000, hr: 75, battery: 64, leadOff: false, beats: [{ off: 100, rr: 800, cls: 'N' }, { off: 900, rr: 800, cls: 'V' }], ...extra },
  });
  const send = (records: TelemetryRecord[]) => fx.bus.publish(STREAMS.telemetry, records.map((r) => ({ key: r.patientId, value: Buffer.from(JSON.stringify(r)) })));
  await send([frame('p1', T0), frame('p2', T0)]);
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const stream = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`);
  expect((await stream.next()).type).toBe('hello');
  const snapshot = await stream.next();
  expect(snapshot).toMatchObject({ type: 'vitals', snapshot: true, patients: [{ patientId: 'p1', deviceId: 'dev-p1', hrBpm: 75, beatClasses: 'NV', batteryPct: 64, leadOff: false, frameMs: 1000, deviceTimeMs: T0 + 1000, hrHistory: [[T0 + 1000, 75]] }] });
  await send([frame('p2', T0 + 1000), frame('p1', T0 + 1000, { leadOff: true, beats: [], battery: 255 })]);
  let delta;
  do delta = await stream.next(); while (delta.type !== 'vitals');
  expect(delta).toMatchObject({ snapshot: false, patients: [{ patientId: 'p1', hrBpm: null, leadOff: true, batteryPct: null, beatClasses: '' }] });
  expect((delta as unknown as { patients: object[] }).patients[0]).not.toHaveProperty('hrHistory');

  // Watching a patient streams its ECG frames; another team's patient cannot be watched: the
  // refusal is answered with an error message. Both are audited (security review finding 2).
  stream.ws.send(JSON.stringify({ type: 'watch', patientId: 'p2' }));
  stream.ws.send(JSON.stringify({ type: 'watch', patientId: 'p1' }));
  await new Promise((r) => setTimeout(r, 50));
  const ecg = { fs: 250, uV: Array.from({ length: 250 }, (_, i) => i) };
  await send([frame('p2', T0 + 2000, { ecg }), frame('p1', T0 + 2000, { ecg })]);
  const errors = [];
  let e;
  do { e = await stream.next(); if (e.type === 'error') errors.push(e); } while (e.type !== 'ecg');
  expect(errors).toEqual([{ type: 'error', request: 'watch', patientId: 'p2', error: { code: 'PB_AUTH_FORBIDDEN', message: 'patient p2 is not on your care team' } }]);
  expect(e).toEqual({ type: 'ecg', patientId: 'p1', deviceId: 'dev-p1', ts: T0 + 2000, fs: 250, uV: ecg.uV, leadOff: false, beats: [{ timeMs: T0 + 2100, cls: 'N' }, { timeMs: T0 + 2900, cls: 'V' }] });
  expect((await audit()).filter((a) => a.action === 'ecg.watch')).toEqual([
    { at: expect.any(String), actor: { sub: 'dr-a', role: 'clinician' }, action: 'ecg.watch', patientId: 'p2', outcome: 'denied', status: 403, remoteAddress: '127.0.0.1' },
    { at: expect.any(String), actor: { sub: 'dr-a', role: 'clinician' }, action: 'ecg.watch', patientId: 'p1', outcome: 'allowed', status: 200, remoteAddress: '127.0.0.1' },
  ]);
  await stream.close();
});

test('resolve takes an optional reason that travels in the alert and its history; a bad one is a 400', async () => {
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const alert = makeAlert('p1', 'asystole', 1);
  await publishAlerts(fx.bus, fx.api.projection, [alert]);
  const bad = await fetch(`${fx.url}/v1/alerts/${alert.id}/resolve`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 42 }) });
  expect(bad.status).toBe(400);
  const res = await fetch(`${fx.url}/v1/alerts/${alert.id}/resolve`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: '  Artefact: patient showering  ' }) });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { alert: Alert }).alert).toMatchObject({ state: 'resolved', resolvedBy: 'dr-a', resolveReason: 'Artefact: patient showering' });
  const envelopes = fx.bus.read(STREAMS.alerts).map((m) => JSON.parse(String(m.value)) as AlertEnvelope);
  expect(envelopes.at(-1)).toMatchObject({ source: 'clinician', alert: { id: alert.id, resolveReason: 'Artefact: patient showering' } });
  // A later processor update (e.g. the end) keeps the reason.
  await publishAlerts(fx.bus, fx.api.projection, [{ ...alert, end: new Date(T0 + 120_000).toISOString(), revision: 5 }]);
  const listed = await http('GET', `${fx.url}/v1/alerts?patientId=p1`, token);
  expect((listed.body as { alerts: Alert[] }).alerts[0]).toMatchObject({ state: 'resolved', resolveReason: 'Artefact: patient showering', end: new Date(T0 + 120_000).toISOString() });
  expect((await audit()).find((e) => e.action === 'alert.resolve' && e.outcome === 'allowed')?.detail).toBe('reason=Artefact: patient showering');
});

test('GET /v1/alerts/{id}/ecg returns the stored strip to the care team, 404 to others (as for an unknown alert) and without a strip; audited', async () => {
  const alert = makeAlert('p1', 'asystole', 1);
  const noStrip = makeAlert('p1', 'pause', 2);
  await publishAlerts(fx.bus, fx.api.projection, [alert, noStrip]);
  const strip = sampleEcgStrip({ alertId: alert.id, patientId: 'p1', deviceId: 'dev-p1' });
  await fx.store.writeEcgStrips([strip]);
  const mine = await fx.token('dr-a', 'clinician', ['p1']);
  const other = await fx.token('dr-b', 'clinician', ['p2']);
  const ok = await http('GET', `${fx.url}/v1/alerts/${alert.id}/ecg`, mine);
  expect([ok.status, ok.body]).toEqual([200, { strip }]);
  expect((await http('GET', `${fx.url}/v1/alerts/${alert.id}/ecg`, other)).status).toBe(404);
  expect((await http('GET', `${fx.url}/v1/alerts/${noStrip.id}/ecg`, mine)).status).toBe(404);
  expect((await http('GET', `${fx.url}/v1/alerts/al-nope/ecg`, mine)).status).toBe(404);
  expect((await http('GET', `${fx.url}/v1/alerts/${alert.id}/ecg`)).status).toBe(401);
  expect((await audit()).filter((e) => e.action === 'ecg.read').map((e) => [e.actor.sub, e.outcome, e.status])).toEqual([
    ['dr-a', 'allowed', 200], ['dr-b', 'denied', 404], ['dr-a', 'not_found', 404], ['dr-a', 'not_found', 404],
  ]);
});

test('uPlot is served from the installed package, not a CDN', async () => {
  const js = await http('GET', `${fx.url}/vendor/uplot.js`);
  const css = await http('GET', `${fx.url}/vendor/uplot.css`);
  expect([js.status, js.headers.get('content-type'), css.status]).toEqual([200, 'text/javascript; charset=utf-8', 200]);
  expect(String(js.body)).toContain('uPlot');
  const page = await http('GET', `${fx.url}/`);
  expect(String(page.body)).not.toMatch(/https?:\/\//);
});
