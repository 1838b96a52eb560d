/**
 * Abuse and negative security cases against the real dashboard API over HTTP and WebSocket
 * (issue 13 item 3): forged, foreign, expired and edited tokens; a clinician on admin routes; an
 * outsider on every patient route and on another team's alert; the stream without or with an
 * outsider's token; oversized and malformed bodies; path traversal in ids; and the audit trail of
 * every PHI read and admin change (who, when, outcome). Each case fails if its protection goes.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS } from '../../contracts/topics.ts';
import { auditLogPath, JsonlAuditSink, type AuditEntry } from '../../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../../dashboard-api/auth.ts';
import { DEV_AUDIENCE, DEV_ISSUER, openDevIssuer, type DevIssuer, type Role } from '../../dashboard-api/dev-issuer.ts';
import { registryPatientDirectory } from '../../dashboard-api/patient-directory.ts';
import { criteriaRoutes } from '../../dashboard-api/routes-criteria.ts';
import { deviceRoutes } from '../../dashboard-api/routes-devices.ts';
import { createDashboardApi, STREAM_SUBPROTOCOL, type DashboardApi } from '../../dashboard-api/server.ts';
import WebSocket from 'ws';
import { InProcessBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeAlert, publishAlerts, StreamClient } from './helpers.ts';

let dataDir: string;
let bus: InProcessBus;
let store: SqliteVitalsStore;
let registry: DeviceRegistry;
let issuer: DevIssuer;
let api: DashboardApi;
let url: string;
let closeCriteria: () => Promise<void>;
const logLines: string[] = [];
const token = (sub: string, role: Role, patients: string[] = []) => issuer.issueToken({ sub, role, patients, ttlSeconds: 3600 });
const p2Alert = makeAlert('p2', 'extreme_brady', 1);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-abuse-api-'));
  bus = new InProcessBus();
  store = new SqliteVitalsStore(':memory:');
  registry = new DeviceRegistry(':memory:');
  for (const p of ['p1', 'p2']) registry.add(`dev-${p}`, p, 'test');
  issuer = await openDevIssuer({ dataDir });
  // Debug level, captured: the token-in-URL test reads every line the API logged.
  const logger = createLogger('debug', {}, (l) => logLines.push(l));
  const criteria = criteriaRoutes({ bus, logger, patients: registryPatientDirectory(registry) });
  closeCriteria = () => criteria.close();
  api = createDashboardApi({
    bus, vitalsStore: store, patients: registryPatientDirectory(registry), auth: createDevTokenVerifier(issuer),
    audit: new JsonlAuditSink({ dataDir }), logger, metrics: new MetricsRegistry(), heartbeatIntervalMs: 600_000,
    routeModules: [deviceRoutes({ directory: registry, liveness: registry.liveness, commands: registry.commands }), criteria],
  });
  ({ url } = await api.listen(0, '127.0.0.1'));
  await publishAlerts(bus, api.projection, [makeAlert('p1', 'extreme_tachy', 0), p2Alert]);
});
afterAll(async () => {
  await api.close();
  await closeCriteria();
  await bus.close();
  await store.close();
  registry.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, bearer?: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method, headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, json: (res.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) as { error?: { code: string } } & Record<string, unknown> : undefined };
}

const auditEntries = async () => (await readFile(auditLogPath(dataDir), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const claims = (over: Record<string, unknown> = {}) => {
  const now = Math.floor(Date.now() / 1000);
  return { iss: DEV_ISSUER, aud: DEV_AUDIENCE, sub: 'mallory', role: 'admin', patients: ['p1', 'p2'], iat: now, exp: now + 600, ...over };
};
/** Signs with the development issuer's own private key (what only a forged claim set can fail on). */
async function signWithDevKey(payload: Record<string, unknown>): Promise<string> {
  const file = JSON.parse(await readFile(issuer.keyPath, 'utf8')) as { kid: string; privateJwk: JWK };
  const key = await importJWK(file.privateJwk, 'ES256');
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: file.kid, typ: 'JWT' }).sign(key);
}

describe('forged and altered tokens are 401 on every kind of route, and disclose nothing', () => {
  const forged: [string, () => Promise<string>][] = [
    ['alg none', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`],
    ['alg none with the kid of the real key', async () => `${b64url({ alg: 'none', kid: issuer.kid })}.${b64url(claims())}.`],
    ['a foreign key (same kid, same claims)', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      return new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid: issuer.kid }).sign(privateKey);
    }],
    ['HS256 keyed with the public key (algorithm confusion)', async () => {
      return new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: issuer.kid }).sign(new TextEncoder().encode(JSON.stringify(issuer.jwks().keys[0])));
    }],
    ['expired (beyond the clock tolerance)', () => signWithDevKey(claims({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 120 }))],
    ['not yet valid', () => signWithDevKey(claims({ nbf: Math.floor(Date.now() / 1000) + 3600 }))],
    ['wrong issuer', () => signWithDevKey(claims({ iss: 'https://evil.example' }))],
    ['wrong audience', () => signWithDevKey(claims({ aud: 'another-api' }))],
    ['no expiry', () => signWithDevKey(claims({ exp: undefined }))],
    ['a clinician token edited to role admin', async () => {
      const [h, p, s] = (await token('dr-out', 'clinician', ['p9'])).split('.') as [string, string, string];
      return `${h}.${b64url({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), role: 'admin' })}.${s}`;
    }],
    ['a clinician token edited to add patients', async () => {
      const [h, p, s] = (await token('dr-out', 'clinician', ['p9'])).split('.') as [string, string, string];
      return `${h}.${b64url({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), patients: ['p1', 'p2'] })}.${s}`;
    }],
  ];
  const routes: [string, string][] = [['GET', '/v1/patients'], ['GET', '/v1/patients/p2'], ['GET', '/v1/alerts'], ['GET', '/v1/devices'], ['POST', '/v1/devices/dev-p2/disable']];

  for (const [name, make] of forged) {
    it(name, async () => {
      const t = await make();
      for (const [method, route] of routes) {
        const res = await call(method, route, t);
        expect([name, method, route, res.status, res.json?.error?.code]).toEqual([name, method, route, 401, 'PB_AUTH_INVALID_TOKEN']);
      }
      await expect(StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream?access_token=${t}`)).rejects.toMatchObject({ status: 401 });
      expect(registry.get('dev-p2')?.enabled).toBe(true);
    });
  }

  it('the same claims signed with the real key are accepted (the cases above fail only on what they forge)', async () => {
    expect((await call('GET', '/v1/patients', await signWithDevKey(claims()))).status).toBe(200);
  });
});

describe('least privilege', () => {
  it('a clinician gets 403 on every admin route and changes nothing; the denial is audited', async () => {
    const dr = await token('dr-a', 'clinician', ['p1']);
    const adminRoutes: [string, string, string?][] = [
      ['GET', '/v1/devices'], ['GET', '/v1/devices/dev-p2'], ['GET', '/v1/devices/dev-p1/audit'], ['GET', '/v1/devices/dev-p1/commands'],
      ['POST', '/v1/devices/dev-p1/commands', JSON.stringify({ type: 'ping' })], ['POST', '/v1/devices/dev-p1/assign', JSON.stringify({ patientId: 'p2' })],
      ['POST', '/v1/devices/dev-p1/unassign', '{}'], ['POST', '/v1/devices/dev-p1/disable', '{}'], ['POST', '/v1/devices/dev-p1/enable', '{}'],
    ];
    for (const [method, route, body] of adminRoutes) {
      const res = await call(method, route, dr, body);
      expect([method, route, res.status]).toEqual([method, route, 403]);
    }
    expect(registry.get('dev-p1')).toMatchObject({ enabled: true });
    expect(registry.patientAt('dev-p1', Date.now())).toBe('p1');
    const denied = (await auditEntries()).filter((e) => e.actor.sub === 'dr-a' && e.outcome === 'denied');
    expect(denied.length).toBeGreaterThanOrEqual(adminRoutes.length - 1);
  });

  it('an outsider gets 403 on every route of another team\'s patient, 404 on its alert\'s (as for an unknown id), and the alert is unchanged', async () => {
    const out = await token('dr-out', 'clinician', ['p1']);
    const patientRoutes: [string, string, string?][] = [
      ['GET', '/v1/patients/p2'], ['GET', '/v1/patients/p2/vitals'], ['GET', '/v1/alerts?patientId=p2'], ['GET', '/v1/patients/p2/criteria'],
      ['PUT', '/v1/patients/p2/criteria', JSON.stringify({ alarms: { brady: { limitBpm: 30 } }, reason: 'x' })],
    ];
    for (const [method, route, body] of patientRoutes) {
      const res = await call(method, route, out, body);
      expect([method, route, res.status, res.text]).toEqual([method, route, 403, expect.not.stringContaining('"heartRate"')]);
    }
    // Addressed by alert id: the answer is the unknown-alert one, naming no patient.
    for (const suffix of ['ack', 'resolve', 'ecg']) {
      const res = await call(suffix === 'ecg' ? 'GET' : 'POST', `/v1/alerts/${encodeURIComponent(p2Alert.id)}/${suffix}`, out);
      expect([suffix, res.status, res.json]).toEqual([suffix, 404, { error: { code: 'PB_NOT_FOUND', message: `alert ${p2Alert.id} is not known` } }]);
    }
    expect(api.projection.get(p2Alert.id)?.state).toBe('active');
    expect(bus.read(STREAMS.criteria)).toHaveLength(0);
    const list = await call('GET', '/v1/alerts', out);
    expect((list.json?.alerts as { patientId: string }[]).map((a) => a.patientId)).toEqual(['p1']);
    const denied = (await auditEntries()).filter((e) => e.actor.sub === 'dr-out' && e.outcome === 'denied');
    expect(denied.map((e) => [e.action, e.patientId])).toEqual(expect.arrayContaining([
      ['patient.read', 'p2'], ['vitals.read', 'p2'], ['alerts.list', 'p2'], ['criteria.read', 'p2'], ['criteria.change', 'p2'], ['alert.ack', 'p2'], ['alert.resolve', 'p2'], ['ecg.read', 'p2'],
    ]));
  });

  it('the stream sends nothing before a token and closes on a forged one, and gives an outsider none of another team\'s alerts', async () => {
    // No token in the handshake is allowed (the page sends it as the first message, keeping it out
    // of URLs); nothing flows until then, and a forged token closes the stream with 4401.
    const anonymous = await StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream?lastEventId=-1`);
    const beforeAuth: string[] = [];
    anonymous.ws.on('message', (d) => beforeAuth.push(String(d)));
    const closed = new Promise<number>((resolve) => anonymous.ws.once('close', (code) => resolve(code)));
    anonymous.ws.send(JSON.stringify({ type: 'auth', token: 'forged.token.value' }));
    expect(await closed).toBe(4401);
    expect(beforeAuth).toEqual([]);
    await expect(StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream?access_token=forged`)).rejects.toMatchObject({ status: 401 });
    const nobody = await StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream?lastEventId=-1`, { headers: { authorization: `Bearer ${await token('dr-none', 'clinician', [])}` } });
    const p1Only = await StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream?lastEventId=-1`, { headers: { authorization: `Bearer ${await token('dr-p1', 'clinician', ['p1'])}` } });
    const later = makeAlert('p2', 'asystole', 5);
    const sentinel = makeAlert('p1', 'pause', 6);
    await publishAlerts(bus, api.projection, [later, sentinel]);
    // Everything dr-p1 receives up to the sentinel (the whole history replayed from -1) is p1's.
    const seen = await p1Only.alertsUntil(sentinel.id);
    expect(new Set(seen.map((m) => m.alert!.patientId))).toEqual(new Set(['p1']));
    // dr-none has no patients: the only alert-type message would be a leak. A heartbeat-free
    // stream delivers nothing; close it and check nothing was queued.
    const received: string[] = [];
    nobody.ws.on('message', (d) => { const m = JSON.parse(String(d)) as { type: string }; if (m.type === 'alert') received.push(String(d)); });
    await nobody.close();
    expect(received).toEqual([]);
    await p1Only.close();
  });
});

describe('bodies, headers and ids outside what the API expects', () => {
  it('an oversized body is 413 (only 64 KiB kept), malformed JSON 400, both as JSON errors; the server keeps answering', async () => {
    const admin = await token('root', 'admin');
    const big = Buffer.alloc(8 * 1024 * 1024, 0x20);
    const tooBig = await call('POST', '/v1/devices/dev-p1/commands', admin, big);
    expect([tooBig.status, tooBig.json?.error?.code]).toEqual([413, 'PB_HTTP_BAD_REQUEST']);
    for (const bad of ['{"type":', 'null', '[]', '"ping"', '{"type":"ping","__proto__":{"admin":true}}x']) {
      const res = await call('POST', '/v1/devices/dev-p1/commands', admin, bad);
      expect([bad, res.status, res.json?.error?.code]).toEqual([bad, 400, 'PB_HTTP_BAD_REQUEST']);
    }
    const put = await call('PUT', '/v1/patients/p1/criteria', admin, '{not json');
    expect(put.status).toBe(400);
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('oversized headers and URLs are refused by the HTTP parser (431/414-class), not buffered', async () => {
    const res = await call('GET', '/v1/patients', await token('root', 'admin'), undefined, { 'x-junk': 'a'.repeat(64 * 1024) });
    expect(res.status).toBe(431);
    const longUrl = await call('GET', `/v1/alerts?since=${'1'.repeat(70_000)}`, await token('root', 'admin'));
    expect([431, 414, 400]).toContain(longUrl.status);
  });

  it('path traversal and odd bytes in ids reach no file or store: 400 for an id outside the id alphabet, 404 elsewhere, never a file\'s content', async () => {
    const admin = await token('root', 'admin');
    const dr = await token('dr-a', 'clinician', ['p1']);
    const attempts = [
      '/v1/patients/..%2F..%2F..%2Fetc%2Fpasswd', '/v1/patients/%2e%2e%2f%2e%2e%2fregistry.sqlite/vitals', '/v1/devices/..%2F..%2Fpki%2Fca.key',
      '/v1/devices/dev-p1%00.key', '/v1/patients/%E0%A4%A', '/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/app.js/..%2f..%2fserver.ts',
      `/v1/patients/${encodeURIComponent('p1/../p2')}/vitals`,
    ];
    for (const p of attempts) {
      for (const t of [admin, dr]) {
        const res = await call('GET', p, t);
        expect([p, res.status]).toEqual([p, p.startsWith('/v1/') ? 400 : 404]);
        expect(res.text).not.toMatch(/root:x:0:0|BEGIN (EC )?PRIVATE KEY|SQLite format|import .* from/);
      }
    }
  });
});

describe('audit trail of PHI reads and admin changes', () => {
  it('names who, when, what and the outcome of each read and each change', async () => {
    const admin = await token('root', 'admin');
    const dr = await token('dr-audit', 'clinician', ['p1']);
    const t0 = Date.now();
    await call('GET', '/v1/patients/p1', dr);
    await call('GET', '/v1/patients/p1/vitals', dr);
    await call('GET', '/v1/alerts?patientId=p1', dr);
    await call('GET', '/v1/patients/p1/criteria', dr);
    await call('POST', '/v1/devices/dev-p2/disable', admin, '{}');
    await call('POST', '/v1/devices/dev-p2/enable', admin, '{}');
    await call('POST', '/v1/devices/dev-p2/commands', admin, JSON.stringify({ type: 'ping' }));
    await call('PUT', '/v1/patients/p2/criteria', admin, JSON.stringify({ alarms: { brady: { limitBpm: 45 } }, reason: 'audit test' }));
    const stream = await StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${dr}` } });
    await stream.close();
    const entries = (await auditEntries()).filter((e) => Date.parse(e.at) >= t0 - 1000 && (e.actor.sub === 'dr-audit' || e.actor.sub === 'root'));
    const row = (e: AuditEntry) => [e.actor.sub, e.actor.role, e.action, (e.action.startsWith('device') ? e.deviceId : e.patientId) ?? null, e.outcome];
    expect(entries.map(row)).toEqual(expect.arrayContaining([
      ['dr-audit', 'clinician', 'patient.read', 'p1', 'allowed'],
      ['dr-audit', 'clinician', 'vitals.read', 'p1', 'allowed'],
      ['dr-audit', 'clinician', 'alerts.list', 'p1', 'allowed'],
      ['dr-audit', 'clinician', 'criteria.read', 'p1', 'allowed'],
      ['root', 'admin', 'device.change', 'dev-p2', 'allowed'],
      ['root', 'admin', 'device.command', 'dev-p2', 'allowed'],
      ['root', 'admin', 'criteria.change', 'p2', 'allowed'],
      ['dr-audit', 'clinician', 'stream.open', null, 'allowed'],
    ]));
    expect(entries.filter((e) => e.action === 'device.change')).toHaveLength(2);
    for (const e of entries) {
      expect(Math.abs(Date.parse(e.at) - Date.now())).toBeLessThan(120_000);
      expect(e.remoteAddress).toBe('127.0.0.1');
    }
  });
});

describe('tokens never land in a log or the audit trail', () => {
  it('access_token in a URL is redacted wherever the URL is written', async () => {
    const dr = await token('dr-url', 'clinician', ['p1']);
    const secretPart = dr.split('.')[2]!;
    // Query strings the API copies into the audit trail, error paths that log, a stream upgrade.
    await call('GET', `/v1/alerts?patientId=p1&access_token=${dr}`, dr);
    await call('GET', `/v1/alerts?access_token=${dr}&state=bogus`, dr);
    await call('GET', `/v1/nothing-here?access_token=${dr}`);
    await expect(StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/nope?access_token=${dr}`)).rejects.toMatchObject({ status: 404 });
    const s = await StreamClient.open(`${url.replace(/^http/, 'ws')}/v1/stream?access_token=${dr}&lastEventId=-1`);
    await s.close();
    // The subprotocol form, with a valid and with a tampered token, and a first message with one.
    for (const t of [dr, `${dr.slice(0, -4)}AAAA`]) {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/stream`, [STREAM_SUBPROTOCOL, `bearer.${t}`]);
      await new Promise<void>((resolve) => { ws.once('open', () => { ws.close(); resolve(); }); ws.once('error', () => resolve()); ws.once('unexpected-response', () => resolve()); });
    }
    const first = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/stream`, [STREAM_SUBPROTOCOL]);
    await new Promise<void>((resolve) => first.once('open', () => resolve()));
    first.send(JSON.stringify({ type: 'auth', token: `${dr.slice(0, -4)}BBBB` }));
    await new Promise<void>((resolve) => first.once('close', () => resolve()));
    const auditText = await readFile(auditLogPath(dataDir), 'utf8');
    expect(auditText).toContain('access_token=[redacted]');
    expect(auditText).not.toContain(secretPart);
    expect(logLines.join('\n')).not.toContain(secretPart);
    expect(logLines.join('\n')).not.toContain(dr.split('.')[1]!);
  });
});

describe('request flood', () => {
  it('answers maxConcurrentRequests at once, queues up to maxQueuedRequests, sheds the rest with 503 + Retry-After; /healthz answers throughout', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pb-abuse-flood-'));
    const floodBus = new InProcessBus();
    const inner = new SqliteVitalsStore(':memory:');
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let queries = 0;
    // A store that holds every query until released: requests pile up deterministically.
    const held = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'queryHeartRate') return async (...args: Parameters<typeof inner.queryHeartRate>) => { queries++; await gate; return target.queryHeartRate(...args); };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const floodIssuer = await openDevIssuer({ dataDir: dir });
    const metrics = new MetricsRegistry();
    const flooded = createDashboardApi({
      bus: floodBus, vitalsStore: held, patients: registryPatientDirectory(registry), auth: createDevTokenVerifier(floodIssuer),
      audit: new JsonlAuditSink({ dataDir: dir }), logger: createLogger('error', {}, () => {}), metrics, heartbeatIntervalMs: 600_000,
      maxConcurrentRequests: 2, maxQueuedRequests: 3,
    });
    const { url: floodUrl } = await flooded.listen(0, '127.0.0.1');
    try {
      const t = await floodIssuer.issueToken({ sub: 'root', role: 'admin', patients: [], ttlSeconds: 600 });
      const get = (p: string) => fetch(`${floodUrl}${p}`, { headers: { authorization: `Bearer ${t}` } });
      const first = [get('/v1/patients/p1/vitals'), get('/v1/patients/p1/vitals')];
      while (queries < 2) await new Promise((r) => setTimeout(r, 10));
      const queued = [get('/v1/patients/p1/vitals'), get('/v1/patients/p1/vitals'), get('/v1/patients/p1/vitals')];
      // The three are waiting (not in the store) once the shed counter sees the next one refused.
      let shed: Response | undefined;
      for (;;) {
        shed = await get('/v1/patients/p2/vitals');
        if (shed.status === 503) break;
        // Not all three queued yet: this one took a queue place; it is answered after the release.
        queued.push(Promise.resolve(shed));
      }
      expect(shed.headers.get('retry-after')).toBe('1');
      expect(((await shed.json()) as { error: { code: string } }).error.code).toBe('PB_HTTP_BUSY');
      expect(queries).toBe(2);
      expect((await fetch(`${floodUrl}/healthz`)).status).toBe(200);
      release();
      const statuses = await Promise.all([...first, ...queued].map(async (p) => (await p).status));
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(metrics.counter('pulsebridge_dashboard_http_requests_shed_total', '').get({})).toBeGreaterThanOrEqual(1);
    } finally {
      release();
      await flooded.close();
      await floodBus.close();
      await inner.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('slow clients', () => {
  it('a connection that never finishes its request headers is closed after headersTimeoutMs (slowloris)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pb-abuse-slow-'));
    const slowBus = new InProcessBus();
    const slowStore = new SqliteVitalsStore(':memory:');
    const slowIssuer = await openDevIssuer({ dataDir: dir });
    const slow = createDashboardApi({
      bus: slowBus, vitalsStore: slowStore, patients: registryPatientDirectory(registry), auth: createDevTokenVerifier(slowIssuer),
      audit: new JsonlAuditSink({ dataDir: dir }), logger: createLogger('error', {}, () => {}), metrics: new MetricsRegistry(), heartbeatIntervalMs: 600_000,
      headersTimeoutMs: 400,
    });
    const { port } = await slow.listen(0, '127.0.0.1');
    try {
      const socket = net.connect({ host: '127.0.0.1', port });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /v1/patients HTTP/1.1\r\nHost: x\r\nX-Slow: a');
      let answer = '';
      socket.on('data', (d: Buffer) => { answer += d.toString(); });
      socket.on('error', () => undefined);
      // One more header byte now and then, never the end of the headers.
      const drip = setInterval(() => { if (!socket.destroyed) socket.write('a'); }, 100);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      clearInterval(drip);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await slow.close();
      await slowBus.close();
      await slowStore.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
