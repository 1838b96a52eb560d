import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCommandRequest } from '../../platform/device-commands.ts';
import { DeviceRegistry } from '../../platform/device-registry.ts';

const T = Date.parse('2026-03-01T10:00:00.000Z');
const SHA = 'A'.repeat(64);

describe('command requests', () => {
  it('accepts the three documented commands and lower-cases the sha256', () => {
    expect(parseCommandRequest({ type: 'ping' })).toEqual({ type: 'ping' });
    expect(parseCommandRequest({ type: 'config', config: { frameMs: 1000, ecg: true, fs: 250 }, ttlMs: 60_000 }))
      .toEqual({ type: 'config', config: { frameMs: 1000, ecg: true, fs: 250 }, ttlMs: 60_000 });
    expect(parseCommandRequest({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/pb-2.4.0.bin', sha256: SHA, size: 123456 }))
      .toEqual({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/pb-2.4.0.bin', sha256: 'a'.repeat(64), size: 123456 });
  });

  it('refuses out-of-range config, plain-http firmware, malformed hashes, unknown types and unknown fields, naming each problem', () => {
    const message = (input: unknown) => { try { parseCommandRequest(input); return 'accepted'; } catch (err) { return (err as Error).message; } };
    expect(message({ type: 'config', config: { frameMs: 50, ecg: true, fs: 2000 } }))
      .toBe('invalid command: config.frameMs: Too small: expected number to be >=100; config.fs: Too big: expected number to be <=1000');
    expect(message({ type: 'config', config: { frameMs: 1000, ecg: 'yes', fs: 250 } })).toMatch(/^invalid command: config\.ecg: /);
    expect(message({ type: 'fw_offer', version: '2.4.0', url: 'http://fw.example/x.bin', sha256: SHA, size: 1 })).toBe('invalid command: url: url must be an https:// URL');
    expect(message({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/x.bin', sha256: 'abc', size: 1 })).toBe('invalid command: sha256: sha256 must be 64 hexadecimal digits');
    expect(message({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/x.bin', sha256: SHA, size: 0 })).toMatch(/^invalid command: size: /);
    expect(message({ type: 'reboot' })).toMatch(/^invalid command: type: /);
    expect(message({ type: 'ping', extra: 1 })).toMatch(/^invalid command: \(body\): Unrecognized key: "extra"/);
    expect(message({ type: 'ping', ttlMs: 10 })).toMatch(/^invalid command: ttlMs: /);
  });
});

describe('command store', () => {
  let now: number;
  let registry: DeviceRegistry;
  beforeEach(() => {
    now = T;
    registry = new DeviceRegistry(':memory:', { now: () => now });
    registry.add('dev-1', 'pat-1', 'test', T - 1000);
    registry.add('dev-2', 'pat-2', 'test', T - 1000);
  });
  afterEach(() => registry.close());
  const store = () => registry.commands;

  it('a command goes pending → delivered → ok, and the device sees exactly the documented payload', () => {
    const created = store().create('dev-1', { type: 'config', config: { frameMs: 500, ecg: false, fs: 250 }, timeoutMs: 30_000 }, 'api:admin');
    expect(created).toEqual({
      id: expect.stringMatching(/^c-[0-9a-f]{16}$/), deviceId: 'dev-1', type: 'config',
      payload: { id: created.id, type: 'config', config: { frameMs: 500, ecg: false, fs: 250 } },
      state: 'pending', createdAtMs: T, createdBy: 'api:admin', expiresAtMs: T + 3_600_000, timeoutMs: 30_000,
      deliveredAtMs: undefined, deadlineAtMs: undefined, deliveryCount: 0, result: undefined, finishedAtMs: undefined,
    });
    expect(store().pending().map((c) => c.id)).toEqual([created.id]);
    now = T + 10;
    expect(store().markDelivered(created.id, 'gateway:g1')).toMatchObject({ state: 'delivered', deliveredAtMs: T + 10, deadlineAtMs: T + 30_010, deliveryCount: 1 });
    expect(store().pending()).toEqual([]);
    now = T + 30;
    expect(store().recordResult('dev-1', { id: created.id, ok: true }, 'device:dev-1')).toMatchObject({ outcome: 'recorded' });
    expect(store().get(created.id)).toMatchObject({ state: 'ok', result: { ok: true, atMs: T + 30 }, finishedAtMs: T + 30 });
    // A resent answer (QoS 1 duplicate) changes nothing.
    expect(store().recordResult('dev-1', { id: created.id, ok: false, error: 'x' }, 'device:dev-1').outcome).toBe('duplicate');
    expect(registry.audit('dev-1').filter((e) => e.action.startsWith('command.')).map((e) => [e.actor, e.action, e.atMs])).toEqual([
      ['api:admin', 'command.create', T], ['gateway:g1', 'command.deliver', T + 10], ['device:dev-1', 'command.ok', T + 30],
    ]);
  });

  it('records an error answer with its message', () => {
    const c = store().create('dev-1', { type: 'ping' }, 'test');
    store().markDelivered(c.id, 'gw');
    store().recordResult('dev-1', { id: c.id, ok: false, error: 'busy' }, 'device:dev-1');
    expect(store().get(c.id)).toMatchObject({ state: 'error', result: { ok: false, error: 'busy', atMs: T } });
  });

  it('an undelivered command expires after its TTL; a delivered one without an answer times out; a late answer is kept but does not change the outcome', () => {
    const expiring = store().create('dev-1', { type: 'ping', ttlMs: 5000 }, 'test');
    const silent = store().create('dev-1', { type: 'ping', timeoutMs: 2000 }, 'test');
    store().markDelivered(silent.id, 'gw');
    now = T + 2000;
    expect(store().get(silent.id)?.state).toBe('timed_out');
    expect(store().get(expiring.id)?.state).toBe('pending');
    now = T + 5000;
    expect(store().list('dev-1').map((c) => [c.id, c.state])).toEqual([[silent.id, 'timed_out'], [expiring.id, 'expired']]);
    expect(store().markDelivered(expiring.id, 'gw')).toBeUndefined();
    expect(store().recordResult('dev-1', { id: silent.id, ok: true }, 'device:dev-1').outcome).toBe('late');
    expect(store().get(silent.id)).toMatchObject({ state: 'timed_out', result: { ok: true, atMs: T + 5000 }, finishedAtMs: T + 2000 });
    expect(registry.audit('dev-1').map((e) => e.action).filter((a) => a.startsWith('command.'))).toEqual([
      'command.create', 'command.create', 'command.deliver', 'command.timed_out', 'command.expired', 'command.late_result',
    ]);
  });

  it('a device cannot answer another device\'s command, and unknown ids are reported as unknown', () => {
    const c = store().create('dev-1', { type: 'ping' }, 'test');
    store().markDelivered(c.id, 'gw');
    expect(store().recordResult('dev-2', { id: c.id, ok: true }, 'device:dev-2').outcome).toBe('unknown');
    expect(store().recordResult('dev-1', { id: 'c-nope', ok: true }, 'device:dev-1').outcome).toBe('unknown');
    expect(store().get(c.id)?.state).toBe('delivered');
  });

  it('a device that reconnects before answering gets its delivered command again, with a fresh timeout', () => {
    const c = store().create('dev-1', { type: 'ping', timeoutMs: 1000 }, 'test');
    store().markDelivered(c.id, 'gw');
    now = T + 500;
    expect(store().deliverable('dev-1').map((x) => x.id)).toEqual([c.id]);
    expect(store().markDelivered(c.id, 'gw')).toMatchObject({ deliveryCount: 2, deadlineAtMs: T + 1500 });
    expect(store().deliverable('dev-2')).toEqual([]);
  });

  it('refuses commands to unknown or disabled devices', () => {
    expect(() => store().create('dev-9', { type: 'ping' }, 'test')).toThrow(/not registered/);
    registry.setEnabled('dev-2', false, 'test');
    expect(() => store().create('dev-2', { type: 'ping' }, 'test')).toThrow(/disabled/);
  });

  it('the command change version moves when a command is created', () => {
    const v0 = store().changeVersion();
    store().create('dev-1', { type: 'ping' }, 'test');
    expect(store().changeVersion()).toBe(v0 + 1);
  });
});
