import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeviceLiveness } from '../../platform/device-liveness.ts';
import { DeviceRegistry } from '../../platform/device-registry.ts';

const T = Date.parse('2026-03-01T10:00:00.000Z');

let now: number;
let registry: DeviceRegistry;
beforeEach(() => {
  now = T;
  registry = new DeviceRegistry(':memory:', { now: () => now });
});
afterEach(() => registry.close());

const row = (deviceId: string, overrides: Partial<DeviceLiveness> = {}): DeviceLiveness => ({
  deviceId, connected: true, gatewayId: 'gw-1', connectedAtMs: T - 5000, disconnectedAtMs: undefined, disconnectReason: undefined,
  lastSeenMs: T - 100, lastFrameAtMs: T - 100, lastSeq: 41, reportedOnline: true, statusAtMs: T - 4900,
  fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: false, clockSkewMs: -12.5, lastClockSkewMs: -20, ...overrides,
});

it('stores whole liveness rows and reads them back, online while the writing gateway is alive', () => {
  registry.liveness.write('gw-1', [row('dev-1'), row('dev-2', { connected: false, battery: undefined, charging: undefined, disconnectReason: 'revoked' })]);
  expect(registry.liveness.get('dev-1')).toEqual({ ...row('dev-1'), online: true });
  expect(registry.liveness.list().map((l) => [l.deviceId, l.online, l.battery, l.charging, l.disconnectReason])).toEqual([
    ['dev-1', true, 88, false, undefined], ['dev-2', false, undefined, undefined, 'revoked'],
  ]);
  expect(registry.liveness.get('dev-3')).toBeUndefined();
});

it('a device of a gateway that stopped heart-beating reads as offline, though still marked connected', () => {
  registry.liveness.write('gw-1', [row('dev-1')]);
  now = T + 10_001;
  expect(registry.liveness.get('dev-1')).toMatchObject({ connected: true, online: false });
});

it('a restarting gateway marks the devices it still showed as connected as disconnected', () => {
  registry.liveness.write('gw-1', [row('dev-1')]);
  registry.liveness.write('gw-2', [row('dev-2', { gatewayId: 'gw-2' })]);
  now = T + 60_000;
  registry.liveness.resetGateway('gw-1', 'gateway_restart');
  expect(registry.liveness.get('dev-1')).toMatchObject({ connected: false, online: false, disconnectedAtMs: T + 60_000, disconnectReason: 'gateway_restart', fw: '2.3.1' });
  expect(registry.liveness.get('dev-2')).toMatchObject({ connected: true, disconnectReason: undefined });
});
