import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceRegistry } from '../../../platform/registry/index.ts';
import { makeTempDir } from '../../helpers/gateway-fixture.ts';

const T = Date.parse('2026-03-01T10:00:00.000Z');

describe('device registry', () => {
  let now: number;
  let registry: DeviceRegistry;
  beforeEach(() => {
    now = T;
    registry = new DeviceRegistry(':memory:', { now: () => now });
  });
  afterEach(() => registry.close());

  it('reassigning a device at time T gives frames before T to the first patient and from T on to the second', () => {
    registry.add('dev-1', 'pat-a', 'cli:alice', T - 3_600_000);
    registry.assign('dev-1', 'pat-b', T, 'cli:bob');
    expect([T - 1, T, T + 60_000].map((t) => registry.patientAt('dev-1', t))).toEqual(['pat-a', 'pat-b', 'pat-b']);
    expect(registry.assignments('dev-1')).toEqual([
      { patientId: 'pat-a', fromMs: T - 3_600_000, toMs: T },
      { patientId: 'pat-b', fromMs: T, toMs: undefined },
    ]);
    expect(registry.get('dev-1')).toEqual({ deviceId: 'dev-1', enabled: true, createdAt: T, patientId: 'pat-b' });
  });

  it('an assignment in the future leaves the current patient in place until it starts', () => {
    registry.add('dev-1', 'pat-a', 'test', T - 1000);
    registry.assign('dev-1', 'pat-b', T + 60_000, 'test');
    expect(registry.get('dev-1')?.patientId).toBe('pat-a');
    now = T + 60_000;
    expect(registry.get('dev-1')?.patientId).toBe('pat-b');
  });

  it('unassigning ends the assignment: later frames belong to nobody, earlier ones keep their patient', () => {
    registry.add('dev-1', 'pat-a', 'test', T - 3_600_000);
    registry.unassign('dev-1', T, 'test');
    expect([T - 1, T, T + 1].map((t) => registry.patientAt('dev-1', t))).toEqual(['pat-a', undefined, undefined]);
    expect(registry.get('dev-1')?.patientId).toBeUndefined();
    // Assigning again after the gap: the gap stays unassigned.
    registry.assign('dev-1', 'pat-c', T + 10_000, 'test');
    expect([T + 5000, T + 10_000].map((t) => registry.patientAt('dev-1', t))).toEqual([undefined, 'pat-c']);
  });

  it('refuses to rewrite history: an assignment or unassignment before the latest assignment started', () => {
    registry.add('dev-1', 'pat-a', 'test', T);
    expect(() => registry.assign('dev-1', 'pat-b', T - 1, 'test')).toThrow(/cannot start before/);
    expect(() => registry.unassign('dev-1', T - 1, 'test')).toThrow(/cannot be unassigned before/);
    registry.unassign('dev-1', T + 1000, 'test');
    expect(() => registry.assign('dev-1', 'pat-b', T + 500, 'test')).toThrow(/until 2026-03-01T10:00:01.000Z/);
    expect(() => registry.unassign('dev-1', T + 2000, 'test')).toThrow(/no open patient assignment/);
    expect(() => registry.assign('nope', 'pat-b', T, 'test')).toThrow(/not registered/);
    expect(() => registry.assign('dev-1', 'bad id!', T + 2000, 'test')).toThrow(/patient id/);
  });

  it('assigning the patient the device already has changes nothing and audits nothing', () => {
    registry.add('dev-1', 'pat-a', 'test', T);
    registry.assign('dev-1', 'pat-a', T + 5000, 'test');
    expect(registry.assignments('dev-1')).toEqual([{ patientId: 'pat-a', fromMs: T, toMs: undefined }]);
    expect(registry.audit('dev-1').map((e) => e.action)).toEqual(['add']);
    expect(() => registry.assign('dev-1', 'pat-a', T - 5000, 'test')).toThrow(/cannot start before/);
  });

  it('audits every change with who, when, what, and the state before and after', () => {
    registry.add('dev-1', 'pat-a', 'cli:alice', T - 1000);
    now = T + 1;
    registry.assign('dev-1', 'pat-b', T, 'api:dr-admin');
    now = T + 2;
    registry.setEnabled('dev-1', false, 'cli:bob');
    registry.setEnabled('dev-1', false, 'cli:bob'); // no change, no entry
    const trail = registry.audit('dev-1');
    expect(trail.map((e) => ({ atMs: e.atMs, actor: e.actor, action: e.action }))).toEqual([
      { atMs: T, actor: 'cli:alice', action: 'add' },
      { atMs: T + 1, actor: 'api:dr-admin', action: 'assign' },
      { atMs: T + 2, actor: 'cli:bob', action: 'disable' },
    ]);
    expect(trail[1]!.before).toEqual({ deviceId: 'dev-1', enabled: true, createdAt: T, patientId: 'pat-a', assignments: [{ patientId: 'pat-a', fromMs: T - 1000 }] });
    expect(trail[1]!.after).toEqual({
      deviceId: 'dev-1', enabled: true, createdAt: T, patientId: 'pat-b',
      assignments: [{ patientId: 'pat-a', fromMs: T - 1000, toMs: T }, { patientId: 'pat-b', fromMs: T }],
    });
    expect([(trail[2]!.before as { enabled: boolean }).enabled, (trail[2]!.after as { enabled: boolean }).enabled]).toEqual([true, false]);
  });

  it('the change version moves with every directory change and not otherwise', () => {
    const v0 = registry.changeVersion();
    registry.add('dev-1', 'pat-a', 'test', T);
    const v1 = registry.changeVersion();
    registry.setEnabled('dev-1', true, 'test'); // already enabled
    expect(registry.changeVersion()).toBe(v1);
    registry.setEnabled('dev-1', false, 'test');
    expect([v1 > v0, registry.changeVersion() > v1]).toEqual([true, true]);
  });
});

it('another connection to the same file (the CLI in another process) sees changes and moves the change version', () => {
  const file = path.join(makeTempDir(), 'registry.sqlite');
  const gatewaySide = new DeviceRegistry(file);
  const cliSide = new DeviceRegistry(file);
  try {
    cliSide.add('dev-1', 'pat-a', 'cli', Date.now() - 1000);
    const before = gatewaySide.changeVersion();
    expect(gatewaySide.get('dev-1')?.enabled).toBe(true);
    cliSide.setEnabled('dev-1', false, 'cli');
    expect([gatewaySide.changeVersion() > before, gatewaySide.get('dev-1')?.enabled]).toEqual([true, false]);
  } finally {
    gatewaySide.close();
    cliSide.close();
  }
});
