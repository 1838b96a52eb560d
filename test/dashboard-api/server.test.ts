import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import { demoPatientIdentity } from '../../dashboard-api/patient-directory.ts';
import { http, makeAlert, publishAlerts, startFixture, StreamClient, T0 } from './helpers.ts';
import type { Fixture } from './helpers.ts';

let fx: Fixture;
beforeEach(async () => { fx = await startFixture(); });
afterEach(async () => { await fx.close(); });

const invalidToken = { error: { code: 'PB_AUTH_INVALID_TOKEN', message: 'a bearer token is required' } };

describe('authentication', () => {
  test('every /v1 route answers 401 with a JSON error and a Bearer challenge when no token is sent', async () => {
    const results = await Promise.all([
      http('GET', `${fx.url}/v1/patients`),
      http('GET', `${fx.url}/v1/patients/p1`),
      http('GET', `${fx.url}/v1/patients/p1/vitals`),
      http('GET', `${fx.url}/v1/alerts`),
      http('POST', `${fx.url}/v1/alerts/al-x/ack`),
      http('POST', `${fx.url}/v1/alerts/al-x/resolve`),
    ]);
    expect(results.map((r) => [r.status, r.body])).toEqual(Array(6).fill([401, invalidToken]));
    expect(results[0]!.headers.get('www-authenticate')).toBe('Bearer realm="pulsebridge", error="invalid_token", error_description="a bearer token is required"');
  });

  test('a token from another issuer, a malformed token and a non-Bearer scheme are all 401', async () => {
    const { openDevIssuer } = await import('../../dashboard-api/dev-issuer.ts');
    const { mkdtemp } = await import('node:fs/promises');
    const other = await openDevIssuer({ dataDir: await mkdtemp(`${fx.dataDir}-other`) });
    const foreign = await other.issueToken({ sub: 'mallory', role: 'admin', patients: [], ttlSeconds: 60 });
    const a = await http('GET', `${fx.url}/v1/patients`, foreign);
    const b = await http('GET', `${fx.url}/v1/patients`, 'not.a.jwt');
    const c = await http('GET', `${fx.url}/v1/patients`, undefined, { authorization: `Basic ${foreign}` });
    expect([a.status, a.body]).toEqual([401, { error: { code: 'PB_AUTH_INVALID_TOKEN', message: 'the token was not signed by a known key' } }]);
    expect([b.status, b.body]).toEqual([401, { error: { code: 'PB_AUTH_INVALID_TOKEN', message: 'the token is malformed or invalid' } }]);
    expect([c.status, c.body]).toEqual([401, invalidToken]);
  });

  test('the stream refuses a handshake with an invalid token with 401; without one, a bad first message closes it with 4401', async () => {
    await expect(StreamClient.open(`${fx.wsUrl}?access_token=garbage`)).rejects.toMatchObject({ status: 401 });
    await expect(StreamClient.open(fx.wsUrl, { headers: { authorization: 'Bearer garbage' } })).rejects.toMatchObject({ status: 401 });
    // No token in the handshake: the first message must carry it (browsers, token out of URLs).
    const client = await StreamClient.open(fx.wsUrl);
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    client.ws.send(JSON.stringify({ type: 'auth', token: 'garbage' }));
    expect(await closed).toBe(4401);
  });

  test('/healthz and /metrics answer without a token', async () => {
    const health = await http('GET', `${fx.url}/healthz`);
    expect([health.status, health.body]).toEqual([200, { status: 'ok', alertsHeadEventId: '-1', streamConnections: 0 }]);
    await http('GET', `${fx.url}/v1/patients`);
    const metrics = await http('GET', `${fx.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body).toContain('pulsebridge_dashboard_http_requests_total{method="GET",route="/v1/patients",status="401"} 1');
    expect(metrics.body).toContain('pulsebridge_dashboard_auth_failures_total{reason="missing"} 1');
  });
});

describe('a clinician on the care team', () => {
  test('sees only their patients, the patient, its vitals and its alerts newest first', async () => {
    const token = await fx.token('dr-a', 'clinician', ['p1']);
    const older = makeAlert('p1', 'brady', 0);
    const newer = makeAlert('p1', 'afib', 5, { evidence: { criterion: 'irregular RR', thresholds: { cv: 0.1 } } });
    const otherPatient = makeAlert('p2', 'vt', 7);
    await publishAlerts(fx.bus, fx.api.projection, [older, otherPatient, newer]);
    await fx.store.write({
      heartRate: [
        { patientId: 'p1', deviceId: 'dev-p1', timeMs: T0, hrBpm: 61 },
        { patientId: 'p1', deviceId: 'dev-p1', timeMs: T0 + 1000, hrBpm: 62.5 },
        { patientId: 'p1', deviceId: 'dev-p1', timeMs: T0 + 60_000, hrBpm: 70 },
        { patientId: 'p2', deviceId: 'dev-p2', timeMs: T0 + 1000, hrBpm: 99 },
      ],
      rr: [],
    });

    const list = await http('GET', `${fx.url}/v1/patients`, token);
    expect([list.status, list.body]).toEqual([200, { patients: [{ id: 'p1', ...demoPatientIdentity('p1'), devices: [{ deviceId: 'dev-p1', enabled: true }] }] }]);

    const one = await http('GET', `${fx.url}/v1/patients/p1`, token);
    expect([one.status, one.body]).toEqual([200, { patient: { id: 'p1', ...demoPatientIdentity('p1'), devices: [{ deviceId: 'dev-p1', enabled: true }] } }]);

    // `from` as ISO 8601, `to` as ms since the epoch; `to` is exclusive.
    const vitals = await http('GET', `${fx.url}/v1/patients/p1/vitals?from=${new Date(T0).toISOString()}&to=${T0 + 60_000}`, token);
    expect([vitals.status, vitals.body]).toEqual([200, {
      patientId: 'p1',
      from: '2026-03-01T10:00:00.000Z',
      to: '2026-03-01T10:01:00.000Z',
      heartRate: [
        { timeMs: T0, hrBpm: 61, deviceId: 'dev-p1' },
        { timeMs: T0 + 1000, hrBpm: 62.5, deviceId: 'dev-p1' },
      ],
    }]);

    const alerts = await http('GET', `${fx.url}/v1/alerts`, token);
    expect([alerts.status, alerts.body]).toEqual([200, { alerts: [newer, older], lastEventId: '2' }]);

    const filtered = await http('GET', `${fx.url}/v1/alerts?patientId=p1&state=active&since=${Date.parse(newer.updatedAt)}`, token);
    expect(filtered.body).toEqual({ alerts: [newer], lastEventId: '2' });
  });

  test('gets 400 for a vitals range that is unbounded, reversed or unparseable', async () => {
    const token = await fx.token('dr-a', 'clinician', ['p1']);
    const tooLong = await http('GET', `${fx.url}/v1/patients/p1/vitals?from=${T0}&to=${T0 + 25 * 3600_000}`, token);
    const reversed = await http('GET', `${fx.url}/v1/patients/p1/vitals?from=${T0}&to=${T0 - 1}`, token);
    const garbage = await http('GET', `${fx.url}/v1/patients/p1/vitals?from=yesterday`, token);
    expect([tooLong.status, tooLong.body]).toEqual([400, { error: { code: 'PB_HTTP_BAD_REQUEST', message: 'the range may span at most 86400000 ms; ask in pieces' } }]);
    expect([reversed.status, reversed.body]).toEqual([400, { error: { code: 'PB_HTTP_BAD_REQUEST', message: 'from must be before to' } }]);
    expect([garbage.status, garbage.body]).toEqual([400, { error: { code: 'PB_HTTP_BAD_REQUEST', message: 'from must be milliseconds since the epoch or an ISO 8601 time, got "yesterday"' } }]);
  });
});

describe('a clinician not on the care team', () => {
  test("gets 403 on that patient's routes, 404 as for an unknown alert on its alerts' routes, and does not see its alerts in lists", async () => {
    const token = await fx.token('dr-b', 'clinician', ['p1']);
    const p2alert = makeAlert('p2', 'vt', 1);
    await publishAlerts(fx.bus, fx.api.projection, [p2alert]);
    const forbidden = { error: { code: 'PB_AUTH_FORBIDDEN', message: 'patient p2 is not on your care team' } };
    const results = await Promise.all([
      http('GET', `${fx.url}/v1/patients/p2`, token),
      http('GET', `${fx.url}/v1/patients/p2/vitals`, token),
      http('GET', `${fx.url}/v1/alerts?patientId=p2`, token),
      // Not on the care team and not existing look the same: no probing for patient ids.
      http('GET', `${fx.url}/v1/patients/nobody`, token),
    ]);
    expect(results.map((r) => r.status)).toEqual([403, 403, 403, 403]);
    expect(results.slice(0, 3).map((r) => r.body)).toEqual(Array(3).fill(forbidden));
    // Routes addressed by alert id (security review finding 9): another team's alert is answered
    // exactly as an alert that does not exist — no patient id, no hint that the id is real.
    const notKnown = (id: string) => ({ error: { code: 'PB_NOT_FOUND', message: `alert ${id} is not known` } });
    const fake = p2alert.id.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    for (const [method, suffix] of [['POST', 'ack'], ['POST', 'resolve'], ['GET', 'ecg']] as const) {
      const theirs = await http(method, `${fx.url}/v1/alerts/${p2alert.id}/${suffix}`, token);
      const unknown = await http(method, `${fx.url}/v1/alerts/${fake}/${suffix}`, token);
      expect([suffix, theirs.status, theirs.body]).toEqual([suffix, 404, notKnown(p2alert.id)]);
      expect([suffix, unknown.status, unknown.body]).toEqual([suffix, 404, notKnown(fake)]);
      expect([...theirs.headers.keys()].sort()).toEqual([...unknown.headers.keys()].sort());
    }
    expect((await http('GET', `${fx.url}/v1/alerts`, token)).body).toEqual({ alerts: [], lastEventId: '0' });
    // Nothing was published on their behalf.
    expect(fx.bus.read(STREAMS.alerts)).toHaveLength(1);
  });

  test("receives nothing of that patient's alerts on the stream", async () => {
    const token = await fx.token('dr-b', 'clinician', ['p1']);
    const stream = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`);
    const hidden = makeAlert('p2', 'asystole', 1);
    const visible = makeAlert('p1', 'brady', 2);
    await publishAlerts(fx.bus, fx.api.projection, [hidden, visible]);
    // Events arrive in order, so if the hidden one were sent it would come first.
    expect(await stream.next()).toEqual({ type: 'hello', headEventId: '-1', heartbeatIntervalMs: 600_000, sub: 'dr-b', role: 'clinician' });
    expect(await stream.next()).toEqual({ type: 'alert', id: '1', alert: visible });
    await stream.close();
  });
});

test('an admin sees every patient and every alert', async () => {
  const token = await fx.token('root', 'admin');
  const a1 = makeAlert('p1', 'brady', 1);
  const a3 = makeAlert('p3', 'low_battery', 2);
  await publishAlerts(fx.bus, fx.api.projection, [a1, a3]);
  const list = await http('GET', `${fx.url}/v1/patients`, token);
  expect((list.body as { patients: { id: string }[] }).patients.map((p) => p.id)).toEqual(['p1', 'p2', 'p3']);
  expect((await http('GET', `${fx.url}/v1/patients/p3`, token)).status).toBe(200);
  expect((await http('GET', `${fx.url}/v1/alerts`, token)).body).toEqual({ alerts: [a3, a1], lastEventId: '1' });
  expect((await http('GET', `${fx.url}/v1/patients/nobody`, token)).body).toEqual({ error: { code: 'PB_NOT_FOUND', message: 'patient nobody is not known' } });
  const stream = await StreamClient.open(`${fx.wsUrl}?lastEventId=-1`, { headers: { authorization: `Bearer ${token}` } });
  expect(await stream.alertsUntil(a3.id)).toEqual([
    { type: 'alert', id: '0', alert: a1 },
    { type: 'alert', id: '1', alert: a3 },
  ]);
  await stream.close();
});

test('acknowledge and resolve go through the bus and come back on the stream', async () => {
  const now = Date.parse('2026-03-01T10:30:00.000Z');
  await fx.close();
  fx = await startFixture({ now: () => now });
  const at = new Date(now).toISOString();
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const alert = makeAlert('p1', 'extreme_brady', 3);
  const stream = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`);
  await publishAlerts(fx.bus, fx.api.projection, [alert]);
  expect(await stream.nextAlert()).toEqual({ type: 'alert', id: '0', alert });

  const acknowledged: Alert = { ...alert, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: at, revision: 1, updatedAt: at };
  const ack = await http('POST', `${fx.url}/v1/alerts/${alert.id}/ack`, token);
  expect([ack.status, ack.body]).toEqual([200, { alert: acknowledged, eventId: '1' }]);
  expect(JSON.parse(String(fx.bus.read(STREAMS.alerts)[1]!.value))).toEqual({ schema: 'pb.alert.v1', source: 'clinician', alert: acknowledged } satisfies AlertEnvelope);
  expect(fx.bus.read(STREAMS.alerts)[1]!.key).toBe('p1');
  expect(await stream.nextAlert()).toEqual({ type: 'alert', id: '1', alert: acknowledged });

  // A second acknowledgement changes nothing and publishes nothing.
  const again = await http('POST', `${fx.url}/v1/alerts/${alert.id}/ack`, token);
  expect([again.status, again.body]).toEqual([200, { alert: acknowledged, eventId: '1' }]);

  const resolved: Alert = { ...acknowledged, state: 'resolved', resolvedBy: 'dr-a', resolvedAt: at, revision: 2 };
  const res = await http('POST', `${fx.url}/v1/alerts/${alert.id}/resolve`, token);
  expect([res.status, res.body]).toEqual([200, { alert: resolved, eventId: '2' }]);
  expect(await stream.nextAlert()).toEqual({ type: 'alert', id: '2', alert: resolved });
  expect((await http('GET', `${fx.url}/v1/alerts?state=resolved`, token)).body).toEqual({ alerts: [resolved], lastEventId: '2' });

  const conflict = { error: { code: 'PB_ALERT_RESOLVED', message: `alert ${alert.id} was already resolved by dr-a` } };
  const twice = await http('POST', `${fx.url}/v1/alerts/${alert.id}/resolve`, token);
  const ackResolved = await http('POST', `${fx.url}/v1/alerts/${alert.id}/ack`, token);
  expect([twice.status, twice.body, ackResolved.status, ackResolved.body]).toEqual([409, conflict, 409, conflict]);
  const unknown = await http('POST', `${fx.url}/v1/alerts/al-unknown/ack`, token);
  expect([unknown.status, unknown.body]).toEqual([404, { error: { code: 'PB_NOT_FOUND', message: 'alert al-unknown is not known' } }]);
  expect(fx.bus.read(STREAMS.alerts)).toHaveLength(3);
  await stream.close();
});

test('an alarm whose condition ended on its own is closed: acknowledging it says so, not that the processor resolved it', async () => {
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const end = new Date(T0 + 5 * 60_000).toISOString();
  const brady = { ...makeAlert('p1', 'brady', 3), end, state: 'resolved' as const, resolvedBy: 'pulsebridge-processor', resolvedAt: end, revision: 2 };
  await publishAlerts(fx.bus, fx.api.projection, [brady]);
  const ack = await http('POST', `${fx.url}/v1/alerts/${brady.id}/ack`, token);
  expect([ack.status, ack.body]).toEqual([409, { error: { code: 'PB_ALERT_RESOLVED', message: `alert ${brady.id} is closed: its condition ended on its own at ${end}, before anyone acknowledged it` } }]);
  // The API value is unchanged.
  expect((await http('GET', `${fx.url}/v1/alerts?state=resolved`, token)).body).toMatchObject({ alerts: [{ id: brady.id, resolvedBy: 'pulsebridge-processor' }] });
});

test('a client reconnecting with lastEventId gets exactly the events it missed, in order', async () => {
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const first = makeAlert('p1', 'brady', 1);
  const first2 = { ...first, end: new Date(T0 + 3 * 60_000).toISOString(), revision: 1, updatedAt: new Date(T0 + 3 * 60_000).toISOString() };
  const second = makeAlert('p1', 'tachy', 4);
  const elsewhere = makeAlert('p2', 'vt', 5);
  const third = makeAlert('p1', 'pause', 6);

  const live = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`);
  await publishAlerts(fx.bus, fx.api.projection, [first]);
  const seen = await live.nextAlert();
  expect(seen).toEqual({ type: 'alert', id: '0', alert: first });
  await live.close();

  // While disconnected: an update, a new alert, another patient's alert, another new alert.
  await publishAlerts(fx.bus, fx.api.projection, [first2, second, elsewhere, third]);
  const expected = [
    { type: 'alert', id: '1', alert: first2 },
    { type: 'alert', id: '2', alert: second },
    { type: 'alert', id: '4', alert: third },
  ];

  const byQuery = await StreamClient.open(`${fx.wsUrl}?access_token=${token}&lastEventId=${seen.id}`);
  expect(await byQuery.alertsUntil(third.id)).toEqual(expected);
  // Then live again, nothing repeated: the next message is the next new event.
  const fourth = makeAlert('p1', 'afib', 8);
  await publishAlerts(fx.bus, fx.api.projection, [fourth]);
  expect(await byQuery.nextAlert()).toEqual({ type: 'alert', id: '5', alert: fourth });
  await byQuery.close();

  const byHeader = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`, { headers: { 'last-event-id': '0' } });
  expect(await byHeader.alertsUntil(fourth.id)).toEqual([...expected, { type: 'alert', id: '5', alert: fourth }]);
  await byHeader.close();

  await expect(StreamClient.open(`${fx.wsUrl}?access_token=${token}&lastEventId=abc`)).rejects.toMatchObject({ status: 400 });
});

test('every PHI access is written to the audit log with who, what, patient, when and outcome', async () => {
  const now = Date.parse('2026-03-01T11:00:00.000Z');
  await fx.close();
  fx = await startFixture({ now: () => now });
  const at = new Date(now).toISOString();
  const dr = await fx.token('dr-a', 'clinician', ['p1']);
  const alert = makeAlert('p1', 'brady', 1);
  const other = makeAlert('p2', 'brady', 1);
  await publishAlerts(fx.bus, fx.api.projection, [alert, other]);

  await http('GET', `${fx.url}/v1/patients`, dr);
  await http('GET', `${fx.url}/v1/patients/p1`, dr);
  await http('GET', `${fx.url}/v1/patients/p2`, dr);
  await http('GET', `${fx.url}/v1/patients/p1/vitals?from=${T0}&to=${T0 + 60_000}`, dr);
  await http('GET', `${fx.url}/v1/alerts?state=active`, dr);
  await http('POST', `${fx.url}/v1/alerts/${alert.id}/ack`, dr);
  await http('POST', `${fx.url}/v1/alerts/${other.id}/resolve`, dr);
  await http('POST', `${fx.url}/v1/alerts/al-nope/resolve`, dr);
  const s = await StreamClient.open(`${fx.wsUrl}?access_token=${dr}&lastEventId=1`);
  await s.close();

  const entries = (await readFile(fx.auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
  const actor = { sub: 'dr-a', role: 'clinician' };
  const base = { at, actor, remoteAddress: '127.0.0.1' };
  expect(entries).toEqual([
    { ...base, action: 'patients.list', patientIds: ['p1'], outcome: 'allowed', status: 200 },
    { ...base, action: 'patient.read', patientId: 'p1', outcome: 'allowed', status: 200 },
    { ...base, action: 'patient.read', patientId: 'p2', outcome: 'denied', status: 403 },
    { ...base, action: 'vitals.read', patientId: 'p1', outcome: 'allowed', status: 200, detail: 'from=2026-03-01T10:00:00.000Z&to=2026-03-01T10:01:00.000Z' },
    { ...base, action: 'alerts.list', patientIds: ['p1'], outcome: 'allowed', status: 200, detail: 'state=active' },
    { ...base, action: 'alert.ack', alertId: alert.id, patientId: 'p1', outcome: 'allowed', status: 200 },
    // Another team's alert: answered 404 as an unknown one, audited as the denial it is, with the patient.
    { ...base, action: 'alert.resolve', alertId: other.id, patientId: 'p2', outcome: 'denied', status: 404 },
    { ...base, action: 'alert.resolve', alertId: 'al-nope', outcome: 'not_found', status: 404 },
    { ...base, action: 'stream.open', patientIds: ['p1'], outcome: 'allowed', status: 101, detail: 'lastEventId=1' },
  ]);
});

test('a request fails with 500 and discloses nothing when the audit entry cannot be written', async () => {
  await fx.close();
  fx = await startFixture({ audit: { record: async () => { throw new Error('disk full'); } } });
  const token = await fx.token('dr-a', 'clinician', ['p1']);
  const alert = makeAlert('p1', 'brady', 1);
  await publishAlerts(fx.bus, fx.api.projection, [alert]);
  const read = await http('GET', `${fx.url}/v1/patients/p1`, token);
  const ack = await http('POST', `${fx.url}/v1/alerts/${alert.id}/ack`, token);
  const error = { error: { code: 'PB_AUDIT_FAILED', message: 'the audit log could not be written' } };
  expect([read.status, read.body, ack.status, ack.body]).toEqual([500, error, 500, error]);
  // The acknowledgement was not made.
  expect(fx.bus.read(STREAMS.alerts)).toHaveLength(1);
  await expect(StreamClient.open(`${fx.wsUrl}?access_token=${token}`)).rejects.toMatchObject({ status: 500 });
});

test('unknown routes are 404, wrong methods 405, and a plain GET of the stream 426, all as JSON errors', async () => {
  const token = await fx.token('root', 'admin');
  const unknown = await http('GET', `${fx.url}/nope`);
  const wrong = await http('DELETE', `${fx.url}/v1/alerts`, token);
  const plain = await http('GET', `${fx.url}/v1/stream`, token);
  expect([unknown.status, unknown.body]).toEqual([404, { error: { code: 'PB_NOT_FOUND', message: 'no route /nope' } }]);
  expect([wrong.status, wrong.body, wrong.headers.get('allow')]).toEqual([405, { error: { code: 'PB_HTTP_BAD_REQUEST', message: 'DELETE is not allowed here; use GET' } }, 'GET']);
  expect([plain.status, plain.body]).toEqual([426, { error: { code: 'PB_HTTP_BAD_REQUEST', message: '/v1/stream is a WebSocket endpoint; send an Upgrade request' } }]);
});

test('the dashboard page and its assets are served at / with a strict content security policy', async () => {
  const page = await http('GET', `${fx.url}/`);
  const js = await http('GET', `${fx.url}/app.js`);
  const css = await http('GET', `${fx.url}/app.css`);
  expect([page.status, page.headers.get('content-type'), js.status, js.headers.get('content-type'), css.status]).toEqual([200, 'text/html; charset=utf-8', 200, 'text/javascript; charset=utf-8', 200]);
  expect(page.body).toContain('<script src="/app.js" defer></script>');
  expect(page.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
});

test('the stream closes with 4401 once the token has expired, and sends heartbeats until then', async () => {
  await fx.close();
  let nowMs = Date.now();
  fx = await startFixture({ now: () => nowMs, heartbeatIntervalMs: 20 });
  const token = await fx.token('dr-a', 'clinician', ['p1']); // valid for one hour
  const stream = await StreamClient.open(`${fx.wsUrl}?access_token=${token}`);
  expect((await stream.next()).type).toBe('hello');
  expect(await stream.next()).toEqual({ type: 'heartbeat', at: new Date(nowMs).toISOString(), lastEventId: '-1' });
  const closed = new Promise<[number, string]>((resolve) => stream.ws.once('close', (code, reason) => resolve([code, String(reason)])));
  nowMs += 2 * 3600_000;
  expect(await closed).toEqual([4401, 'token expired']);
});
