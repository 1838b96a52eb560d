/**
 * The device-directory port's contract (platform/registry/registry.ts `DeviceDirectory`), as
 * scenarios run against every adapter: the SQLite registry and the bus-backed directory (on the
 * in-process bus, and on Kafka in device-directory-bus.int.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeviceDirectory } from '../../../platform/registry/index.ts';

export interface DirectoryAdapter {
  /** A fresh directory whose clock is `now()`. */
  open(now: () => number): Promise<DeviceDirectory & { close(): unknown }>;
}

const T = Date.parse('2026-03-01T10:00:00.000Z');

/** Changes may throw (SQLite, synchronous) or reject (bus); callers await either way. */
const attempt = (change: () => unknown) => Promise.resolve().then(change);

export function directoryContract(adapter: DirectoryAdapter): void {
  let now: number;
  let dir: DeviceDirectory & { close(): unknown };
  // Unique ids: the Kafka stream outlives a test run.
  let id: string;
  beforeEach(async () => {
    now = T;
    dir = await adapter.open(() => now);
    id = `dev-${randomUUID().slice(0, 8)}`;
  });
  afterEach(async () => { await dir.close(); });

  it('reassigning at T gives frames before T to the first patient and from T on to the second', async () => {
    await dir.add(id, 'pat-a', 'cli:alice', T - 3_600_000);
    await dir.assign(id, 'pat-b', T, 'cli:bob');
    expect([T - 3_600_001, T - 1, T, T + 60_000].map((t) => dir.patientAt(id, t))).toEqual(['pat-a', 'pat-a', 'pat-b', 'pat-b']);
    expect(dir.assignments(id)).toEqual([{ patientId: 'pat-a', fromMs: T - 3_600_000, toMs: T }, { patientId: 'pat-b', fromMs: T, toMs: undefined }]);
    expect(dir.get(id)).toEqual({ deviceId: id, enabled: true, createdAt: T, patientId: 'pat-b' });
  });

  it('an unassigned gap belongs to nobody; a future assignment starts when its time comes', async () => {
    await dir.add(id, 'pat-a', 'test', T - 3_600_000);
    await dir.unassign(id, T, 'test');
    await dir.assign(id, 'pat-c', T + 10_000, 'test');
    expect([T - 1, T, T + 5000, T + 10_000].map((t) => dir.patientAt(id, t))).toEqual(['pat-a', undefined, undefined, 'pat-c']);
    expect(dir.get(id)?.patientId).toBeUndefined();
    now = T + 10_000;
    expect(dir.get(id)?.patientId).toBe('pat-c');
  });

  it('refuses to rewrite history and to change unknown devices, with the same messages', async () => {
    await dir.add(id, 'pat-a', 'test', T);
    await expect(attempt(() => dir.assign(id, 'pat-b', T - 1, 'test'))).rejects.toThrow(`device ${id} is assigned to pat-a from 2026-03-01T10:00:00.000Z; a new assignment cannot start before that (2026-03-01T09:59:59.999Z)`);
    await expect(attempt(() => dir.unassign(id, T - 1, 'test'))).rejects.toThrow(/cannot be unassigned before/);
    await dir.unassign(id, T + 1000, 'test');
    await expect(attempt(() => dir.assign(id, 'pat-b', T + 500, 'test'))).rejects.toThrow(/until 2026-03-01T10:00:01.000Z/);
    await expect(attempt(() => dir.unassign(id, T + 2000, 'test'))).rejects.toThrow(`device ${id} has no open patient assignment`);
    await expect(attempt(() => dir.assign('no-such-device', 'pat-b', T, 'test'))).rejects.toMatchObject({ code: 'PB_REGISTRY_UNKNOWN_DEVICE' });
    await expect(attempt(() => dir.setEnabled('no-such-device', false, 'test'))).rejects.toMatchObject({ code: 'PB_REGISTRY_UNKNOWN_DEVICE' });
    await expect(attempt(() => dir.assign(id, 'bad id!', T + 2000, 'test'))).rejects.toMatchObject({ code: 'PB_REGISTRY_INVALID' });
  });

  it('audits every change (and no non-change) with who, when, before and after', async () => {
    await dir.add(id, 'pat-a', 'cli:alice', T - 1000);
    now = T + 1;
    await dir.assign(id, 'pat-b', T, 'api:ops');
    await dir.assign(id, 'pat-b', T + 5, 'api:ops'); // already pat-b: nothing
    now = T + 2;
    await dir.setEnabled(id, false, 'cli:bob');
    await dir.setEnabled(id, false, 'cli:bob'); // nothing
    const trail = await dir.audit(id);
    expect(trail.map((e) => [e.atMs, e.actor, e.action, e.deviceId])).toEqual([[T, 'cli:alice', 'add', id], [T + 1, 'api:ops', 'assign', id], [T + 2, 'cli:bob', 'disable', id]]);
    expect(trail[1]!.after).toEqual({
      deviceId: id, enabled: true, createdAt: T, patientId: 'pat-b',
      assignments: [{ patientId: 'pat-a', fromMs: T - 1000, toMs: T }, { patientId: 'pat-b', fromMs: T }],
    });
    expect([(trail[2]!.before as { enabled: boolean }).enabled, (trail[2]!.after as { enabled: boolean }).enabled]).toEqual([true, false]);
  });

  it('audits a rekey (done by the PKI) with who, when and the revoked and the new serial, leaving the device as it is', async () => {
    await dir.add(id, 'pat-a', 'cli:alice', T - 1000);
    now = T + 1;
    await dir.recordRekey(id, { revokedSerial: '0A1B', serial: '0C2D' }, 'cli:bob');
    const device = { deviceId: id, enabled: true, createdAt: T, patientId: 'pat-a', assignments: [{ patientId: 'pat-a', fromMs: T - 1000 }] };
    expect(dir.get(id)).toEqual({ deviceId: id, enabled: true, createdAt: T, patientId: 'pat-a' });
    expect((await dir.audit(id)).slice(1)).toEqual([{
      atMs: T + 1, actor: 'cli:bob', action: 'rekey', deviceId: id,
      before: { ...device, certificateSerial: '0A1B' }, after: { ...device, certificateSerial: '0C2D' },
    }]);
    await expect(attempt(() => dir.recordRekey('no-such-device', { revokedSerial: '01', serial: '02' }, 'test'))).rejects.toMatchObject({ code: 'PB_REGISTRY_UNKNOWN_DEVICE' });
  });

  it('moves the change version with every change and not otherwise', async () => {
    await dir.add(id, 'pat-a', 'test', T);
    const v1 = dir.changeVersion();
    await dir.setEnabled(id, true, 'test');
    expect(dir.changeVersion()).toBe(v1);
    await dir.setEnabled(id, false, 'test');
    expect(dir.changeVersion()).toBeGreaterThan(v1);
    expect(dir.list().find((d) => d.deviceId === id)?.enabled).toBe(false);
  });
}
