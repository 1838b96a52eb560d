/**
 * Device routes (dashboard-api/routes-devices.ts): liveness per device for admins and care-team
 * clinicians, commands and registry changes for admins, every access in the audit trail.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonlAuditSink, auditLogPath, type AuditEntry } from '../../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../../dashboard-api/auth.ts';
import { openDevIssuer, type DevIssuer, type Role } from '../../dashboard-api/dev-issuer.ts';
import { registryPatientDirectory } from '../../dashboard-api/patient-directory.ts';
import { deviceRoutes } from '../../dashboard-api/routes-devices.ts';
import { createDashboardApi, type DashboardApi } from '../../dashboard-api/server.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceLiveness } from '../../platform/registry/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { connectDevice, publishQos1 } from '../helpers/gateway-fixture.ts';
import { startLifecycleGateway } from '../gateway/lifecycle-fixture.ts';

const T = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

interface Api { url: string; api: DashboardApi; dataDir: string; issuer: DevIssuer; close(): Promise<void> }

async function startApi(registry: DeviceRegistry): Promise<Api> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-devices-api-'));
  const bus = new InProcessBus();
  const store = new SqliteVitalsStore(':memory:');
  const issuer = await openDevIssuer({ dataDir });
  const api = createDashboardApi({
    bus, vitalsStore: store, patients: registryPatientDirectory(registry), auth: createDevTokenVerifier(issuer),
    audit: new JsonlAuditSink({ dataDir }), logger: silentLogger, metrics: new MetricsRegistry(), heartbeatIntervalMs: 600_000,
    routeModules: [deviceRoutes({ directory: registry, liveness: registry.liveness, commands: registry.commands })],
  });
  const { url } = await api.listen(0, '127.0.0.1');
  return {
    url, api, dataDir, issuer,
    close: async () => { await api.close(); await bus.close(); await store.close(); await rm(dataDir, { recursive: true, force: true }); },
  };
}

async function call(method: string, url: string, token: string | undefined, body?: unknown | string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text && (res.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) : text };
}

const liveRow = (deviceId: string, overrides: Partial<DeviceLiveness> = {}): DeviceLiveness => ({
  deviceId, connected: true, gatewayId: 'gw-1', connectedAtMs: T - 60_000, disconnectedAtMs: undefined, disconnectReason: undefined,
  lastSeenMs: T - 500, lastFrameAtMs: T - 500, lastSeq: 99, reportedOnline: true, statusAtMs: T - 59_000,
  fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: false, clockSkewMs: 120.5, lastClockSkewMs: 118, ...overrides,
});

describe('device routes', () => {
  let now: number;
  let registry: DeviceRegistry;
  let a: Api;
  let token: (sub: string, role: Role, patients?: string[]) => Promise<string>;
  beforeEach(async () => {
    now = T;
    registry = new DeviceRegistry(':memory:', { now: () => now });
    registry.add('dev-1', 'p1', 'test', T - 3_600_000);
    registry.add('dev-2', 'p2', 'test', T - 3_600_000);
    registry.liveness.write('gw-1', [liveRow('dev-1')]);
    a = await startApi(registry);
    token = (sub, role, patients = []) => a.issuer.issueToken({ sub, role, patients, ttlSeconds: 3600 });
  });
  afterEach(async () => {
    await a.close();
    registry.close();
  });

  const auditEntries = async () => (await readFile(auditLogPath(a.dataDir), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);

  it('an admin lists every device with its liveness and assignment history', async () => {
    const res = await call('GET', `${a.url}/v1/devices`, await token('ops', 'admin'));
    expect(res).toMatchObject({ status: 200 });
    expect(res.body).toEqual({
      devices: [
        {
          deviceId: 'dev-1', enabled: true, createdAt: iso(T), patientId: 'p1', assignments: [{ patientId: 'p1', from: iso(T - 3_600_000), to: null }],
          online: true, connectedAt: iso(T - 60_000), disconnectedAt: null, disconnectReason: null, lastSeenAt: iso(T - 500), lastFrameAt: iso(T - 500), lastSeq: 99,
          reportedOnline: true, statusAt: iso(T - 59_000), fw: '2.3.1', model: 'PB-Patch-2', batteryPercent: 88, charging: false,
          clockSkewMs: 120.5, lastClockSkewMs: 118, gatewayId: 'gw-1',
        },
        {
          deviceId: 'dev-2', enabled: true, createdAt: iso(T), patientId: 'p2', assignments: [{ patientId: 'p2', from: iso(T - 3_600_000), to: null }],
          online: false, connectedAt: null, disconnectedAt: null, disconnectReason: null, lastSeenAt: null, lastFrameAt: null, lastSeq: null,
          reportedOnline: null, statusAt: null, fw: null, model: null, batteryPercent: null, charging: null, clockSkewMs: null, lastClockSkewMs: null, gatewayId: null,
        },
      ],
    });
  });

  it('a clinician sees a device worn by a patient on their care team (without other patients\' history), and nothing else', async () => {
    registry.assign('dev-1', 'p1', T, 'test'); // no change; p1 stays
    const clinician = await token('dr-a', 'clinician', ['p1']);
    const mine = await call('GET', `${a.url}/v1/devices/dev-1`, clinician);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ device: { deviceId: 'dev-1', patientId: 'p1', online: true, fw: '2.3.1', batteryPercent: 88, clockSkewMs: 120.5 } });
    expect((mine.body as { device: object }).device).not.toHaveProperty('assignments');
    const other = await call('GET', `${a.url}/v1/devices/dev-2`, clinician);
    expect([other.status, other.body]).toEqual([403, { error: { code: 'PB_AUTH_FORBIDDEN', message: 'device dev-2 is not worn by a patient on your care team' } }]);
    const list = await call('GET', `${a.url}/v1/devices`, clinician);
    expect([list.status, list.body]).toEqual([403, { error: { code: 'PB_AUTH_FORBIDDEN', message: 'only admins may do this' } }]);
    const unknown = await call('GET', `${a.url}/v1/devices/dev-9`, clinician);
    expect(unknown.status).toBe(404);
    // Once the device moves to another patient, the first clinician no longer sees it.
    registry.assign('dev-1', 'p3', T + 1, 'test');
    now = T + 1;
    expect((await call('GET', `${a.url}/v1/devices/dev-1`, clinician)).status).toBe(403);
    expect((await auditEntries()).map((e) => [e.actor.sub, e.action, e.deviceId ?? null, e.patientId ?? null, e.outcome, e.status])).toEqual([
      ['dr-a', 'device.read', 'dev-1', 'p1', 'allowed', 200],
      ['dr-a', 'device.read', 'dev-2', null, 'denied', 403],
      ['dr-a', 'devices.list', null, null, 'denied', 403],
      ['dr-a', 'device.read', 'dev-9', null, 'not_found', 404],
      ['dr-a', 'device.read', 'dev-1', null, 'denied', 403],
    ]);
  });

  it('an admin queues a command (201 with its location) and reads it back; the registry audits it', async () => {
    const admin = await token('ops', 'admin');
    const created = await call('POST', `${a.url}/v1/devices/dev-1/commands`, admin, { type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/2.4.0.bin', sha256: 'AB'.repeat(32), size: 123456, ttlMs: 600_000 });
    expect(created.status).toBe(201);
    const command = (created.body as { command: { id: string } }).command;
    expect(created.headers.get('location')).toBe(`/v1/devices/dev-1/commands/${command.id}`);
    expect(command).toEqual({
      id: expect.stringMatching(/^c-/), deviceId: 'dev-1', type: 'fw_offer',
      payload: { id: command.id, type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/2.4.0.bin', sha256: 'ab'.repeat(32), size: 123456 },
      state: 'pending', createdAt: iso(T), createdBy: 'api:ops', expiresAt: iso(T + 600_000), timeoutMs: 60_000,
      deliveredAt: null, deadlineAt: null, deliveryCount: 0, result: null, finishedAt: null,
    });
    now = T + 600_000;
    const read = await call('GET', `${a.url}/v1/devices/dev-1/commands/${command.id}`, admin);
    expect([read.status, (read.body as { command: { state: string } }).command.state]).toEqual([200, 'expired']);
    const list = await call('GET', `${a.url}/v1/devices/dev-1/commands`, admin);
    expect((list.body as { commands: { id: string }[] }).commands.map((c) => c.id)).toEqual([command.id]);
    expect((await call('GET', `${a.url}/v1/devices/dev-2/commands/${command.id}`, admin)).status).toBe(404);
    expect(registry.audit('dev-1').filter((e) => e.action.startsWith('command.')).map((e) => [e.actor, e.action])).toEqual([['api:ops', 'command.create'], ['system', 'command.expired']]);
  });

  it('refuses invalid commands with the reason, non-JSON and oversized bodies, unknown devices, and non-admins', async () => {
    const admin = await token('ops', 'admin');
    const bad = await call('POST', `${a.url}/v1/devices/dev-1/commands`, admin, { type: 'config', config: { frameMs: 20, ecg: true, fs: 250 } });
    expect([bad.status, bad.body]).toEqual([400, { error: { code: 'PB_HTTP_BAD_REQUEST', message: 'invalid command: config.frameMs: Too small: expected number to be >=100' } }]);
    expect((await call('POST', `${a.url}/v1/devices/dev-1/commands`, admin, '{nope')).body).toEqual({ error: { code: 'PB_HTTP_BAD_REQUEST', message: 'the request body must be JSON' } });
    const huge = await call('POST', `${a.url}/v1/devices/dev-1/commands`, admin, JSON.stringify({ type: 'ping', pad: 'x'.repeat(70_000) }));
    expect([huge.status, huge.body]).toEqual([413, { error: { code: 'PB_HTTP_BAD_REQUEST', message: 'the request body exceeds 65536 bytes' } }]);
    expect((await call('POST', `${a.url}/v1/devices/dev-9/commands`, admin, { type: 'ping' })).body).toEqual({ error: { code: 'PB_NOT_FOUND', message: 'device dev-9 is not known' } });
    const clinician = await call('POST', `${a.url}/v1/devices/dev-1/commands`, await token('dr-a', 'clinician', ['p1']), { type: 'ping' });
    expect(clinician.status).toBe(403);
    const wrongMethod = await call('DELETE', `${a.url}/v1/devices/dev-1/commands`, admin);
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await call('GET', `${a.url}/v1/devices/dev-1/commands`, undefined)).status).toBe(401);
    expect(registry.commands.list('dev-1')).toEqual([]);
  });

  it('an admin reassigns, unassigns, disables and enables a device, and reads its audit trail', async () => {
    const admin = await token('ops', 'admin');
    const assigned = await call('POST', `${a.url}/v1/devices/dev-1/assign`, admin, { patientId: 'p7', from: iso(T) });
    expect(assigned.status).toBe(200);
    expect((assigned.body as { device: { patientId: string; assignments: unknown[] } }).device).toMatchObject({
      patientId: 'p7', assignments: [{ patientId: 'p1', from: iso(T - 3_600_000), to: iso(T) }, { patientId: 'p7', from: iso(T), to: null }],
    });
    const early = await call('POST', `${a.url}/v1/devices/dev-1/unassign`, admin, { at: T - 1 });
    expect([early.status, (early.body as { error: { message: string } }).error.message]).toEqual([400, `device dev-1 is assigned to p7 from ${iso(T)}; it cannot be unassigned before that (${iso(T - 1)})`]);
    expect((await call('POST', `${a.url}/v1/devices/dev-1/unassign`, admin, { at: T + 1000 })).status).toBe(200);
    expect((await call('POST', `${a.url}/v1/devices/dev-1/disable`, admin)).body).toMatchObject({ device: { enabled: false } });
    expect((await call('POST', `${a.url}/v1/devices/dev-1/enable`, admin)).body).toMatchObject({ device: { enabled: true } });
    const trail = await call('GET', `${a.url}/v1/devices/dev-1/audit`, admin);
    expect((trail.body as { audit: { actor: string; action: string }[] }).audit.map((e) => [e.actor, e.action])).toEqual([
      ['test', 'add'], ['api:ops', 'assign'], ['api:ops', 'unassign'], ['api:ops', 'disable'], ['api:ops', 'enable'],
    ]);
    expect((await call('POST', `${a.url}/v1/devices/dev-1/assign`, admin, { patient: 'p8' })).status).toBe(400);
  });
});

it('liveness written by a gateway reaches the API through the registry file (two connections, as two processes)', async () => {
  const bus = new InProcessBus();
  const fx = await startLifecycleGateway(bus, { pollIntervalMs: 100 });
  const apiSide = new DeviceRegistry(fx.registryPath);
  const a = await startApi(apiSide);
  try {
    const creds = fx.addDevice('dev-1', 'p1');
    const device = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    await publishQos1(device, 'pb/v1/dev/dev-1/status', JSON.stringify({ online: true, fw: '2.3.1', model: 'PB-Patch-2', battery: 64, charging: true }));
    const admin = await a.issuer.issueToken({ sub: 'ops', role: 'admin', patients: [], ttlSeconds: 60 });
    let seen: { device: { online: boolean; fw: string | null } } | undefined;
    for (let i = 0; i < 100 && seen?.device.fw !== '2.3.1'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = (await call('GET', `${a.url}/v1/devices/dev-1`, admin)).body as typeof seen;
    }
    expect(seen?.device).toMatchObject({ online: true, reportedOnline: true, fw: '2.3.1', model: 'PB-Patch-2', batteryPercent: 64, charging: true, gatewayId: 'gw-test' });
    device.end(true);
  } finally {
    await a.close();
    apiSide.close();
    await fx.close();
    await bus.close();
  }
});
