/**
 * The device-liveness port's contract (platform/registry/liveness.ts `DeviceLivenessStore`), as
 * scenarios run against every registry: SQLite, the bus-backed registry on the in-process bus
 * (device-liveness.test.ts) and on Kafka (registry-bus.int.test.ts); plus a gateway and an API
 * instance sharing liveness through the bus. Device and gateway ids are unique per test: a Kafka
 * stream outlives a test run, and a gateway's heartbeat is shared by all its devices.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeviceLiveness, DeviceLivenessView } from '../../../platform/registry/index.ts';
import type { Registry } from '../../../platform/registry/index.ts';
import { T, uniqueSuffix, type BusInstances, type RegistryAdapter } from './device-commands-scenarios.ts';

/** A whole liveness row as a gateway writes it: connected to `gatewayId` since T - 5 s. */
export const livenessRow = (deviceId: string, gatewayId: string, overrides: Partial<DeviceLiveness> = {}): DeviceLiveness => ({
  deviceId, connected: true, gatewayId, connectedAtMs: T - 5000, disconnectedAtMs: undefined, disconnectReason: undefined,
  lastSeenMs: T - 100, lastFrameAtMs: T - 100, lastSeq: 41, lastFramePatientId: 'pat-1', reportedOnline: true, statusAtMs: T - 4900,
  fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: false, clockSkewMs: -12.5, lastClockSkewMs: -20, ...overrides,
});

/** Unique device and gateway ids of one test. */
function testIds(): { dev1: string; dev2: string; dev3: string; gw1: string; gw2: string } {
  const s = uniqueSuffix();
  return { dev1: `dev-1-${s}`, dev2: `dev-2-${s}`, dev3: `dev-3-${s}`, gw1: `gw-1-${s}`, gw2: `gw-2-${s}` };
}

/** Writes resolve once visible to the writer's own reads (the bus store waits for its own heartbeat). */
const LIVENESS_READ_YOUR_WRITES = 'a write and a gateway reset are visible to reads of the writing registry once they resolved';

export function livenessContract(adapter: RegistryAdapter): void {
  let now: number;
  let registry: Registry;
  let ids: ReturnType<typeof testIds>;
  beforeEach(async () => {
    now = T;
    registry = await adapter.open(() => now);
    ids = testIds();
  });
  afterEach(async () => { await registry.close(); });
  const liveness = () => registry.liveness;
  const row = (deviceId: string, overrides: Partial<DeviceLiveness> = {}) => livenessRow(deviceId, ids.gw1, overrides);
  /** A gateway's flush and restart, visible to this registry's reads once done. */
  const write = async (gatewayId: string, rows: DeviceLiveness[]) => {
    await liveness().write(gatewayId, rows);
  };
  const resetGateway = async (gatewayId: string, reason: string) => {
    await liveness().resetGateway(gatewayId, reason);
  };

  it(LIVENESS_READ_YOUR_WRITES, async () => {
    await liveness().write(ids.gw1, [row(ids.dev1)]);
    expect(liveness().get(ids.dev1)).toMatchObject({ connected: true, online: true });
    now = T + 1000;
    await liveness().resetGateway(ids.gw1, 'gateway_restart');
    expect(liveness().get(ids.dev1)).toMatchObject({ connected: false, online: false, disconnectedAtMs: T + 1000 });
  });

  it('stores whole liveness rows and reads them back, online while the writing gateway is alive', async () => {
    const { dev1, dev2, dev3, gw1 } = ids;
    await write(gw1, [row(dev1), row(dev2, { connected: false, battery: undefined, charging: undefined, disconnectReason: 'revoked', lastFramePatientId: '' })]);
    expect(sansUpSince(liveness().get(dev1))).toEqual({ ...row(dev1), online: true, gatewayHeardAtMs: T });
    // '' = the gateway refused the latest frame (dead-lettered), not "unknown"
    expect(liveness().get(dev2)?.lastFramePatientId).toBe('');
    // list() holds every device; a Kafka registry also other tests'.
    expect(liveness().list().filter((l) => [dev1, dev2, dev3].includes(l.deviceId)).map((l) => [l.deviceId, l.online, l.battery, l.charging, l.disconnectReason])).toEqual([
      [dev1, true, 88, false, undefined], [dev2, false, undefined, undefined, 'revoked'],
    ]);
    expect(liveness().get(dev3)).toBeUndefined();
  });

  it('tells when the reader last heard the device\'s gateway, on the reader\'s clock (processor/silence-cause.ts)', async () => {
    await write(ids.gw1, [row(ids.dev1)]);
    expect(liveness().get(ids.dev1)?.gatewayHeardAtMs).toBe(T);
    now = T + 3000;
    // A heartbeat with no changed device: the gateway is alive, the device row is unchanged.
    await write(ids.gw1, []);
    expect(liveness().get(ids.dev1)).toMatchObject({ lastFrameAtMs: T - 100, gatewayHeardAtMs: T + 3000 });
  });

  it('a device of a gateway that stopped heart-beating reads as offline, though still marked connected', async () => {
    await write(ids.gw1, [row(ids.dev1)]);
    now = T + 10_000;
    expect(liveness().get(ids.dev1)).toMatchObject({ connected: true, online: true });
    now = T + 10_001;
    expect(liveness().get(ids.dev1)).toMatchObject({ connected: true, online: false });
  });

  it('a restarting gateway marks the devices it still showed as connected as disconnected', async () => {
    const { dev1, dev2, gw1, gw2 } = ids;
    await write(gw1, [row(dev1)]);
    await write(gw2, [row(dev2, { gatewayId: gw2 })]);
    now = T + 60_000;
    await resetGateway(gw1, 'gateway_restart');
    expect(liveness().get(dev1)).toMatchObject({ connected: false, online: false, disconnectedAtMs: T + 60_000, disconnectReason: 'gateway_restart', fw: '2.3.1' });
    expect(liveness().get(dev2)).toMatchObject({ connected: true, disconnectReason: undefined });
  });

  it('the late "disconnected" of the gateway a device left does not hide its newer connection on another gateway', async () => {
    const { dev1, gw1, gw2 } = ids;
    await write(gw1, [row(dev1)]);
    now = T + 1000;
    const moved = row(dev1, { gatewayId: gw2, connectedAtMs: T + 1000, lastSeenMs: T + 1000 });
    await write(gw2, [moved]);
    now = T + 2000;
    await write(gw1, [row(dev1, { connected: false, disconnectedAtMs: T + 2000, disconnectReason: 'keepalive_timeout' })]);
    expect(sansUpSince(liveness().get(dev1))).toEqual({ ...moved, online: true, gatewayHeardAtMs: T + 1000 });
    // The gateway it is connected to does end the connection.
    now = T + 3000;
    await write(gw2, [{ ...moved, connected: false, disconnectedAtMs: T + 3000, disconnectReason: 'client_disconnect' }]);
    expect(liveness().get(dev1)).toMatchObject({ connected: false, online: false, gatewayId: gw2, disconnectReason: 'client_disconnect' });
  });

}

/**
 * The view without `gatewayUpSinceMs`, which only the bus store knows (a reader's own record of
 * the gateway's heartbeats; tested on its own in device-liveness.test.ts).
 */
export function sansUpSince(view: DeviceLivenessView | undefined): Omit<DeviceLivenessView, 'gatewayUpSinceMs'> | undefined {
  if (!view) return view;
  const { gatewayUpSinceMs: _upSince, ...rest } = view;
  return rest;
}

/** A gateway instance writes liveness, an API instance (its own clock) reads it through the bus. */
export function livenessAcrossInstances(newInstances: () => BusInstances): void {
  let instances: BusInstances;
  beforeEach(() => { instances = newInstances(); });
  afterEach(async () => { await instances.closeAll(); });

  it('liveness written by a gateway is read by the API after it synced, online while the gateway heart-beats', async () => {
    const { dev1, gw1 } = testIds();
    let gatewayNow = T;
    let apiNow = T;
    const gateway = await instances.open(() => gatewayNow);
    const api = await instances.open(() => apiNow);
    expect(api.liveness.get(dev1)).toBeUndefined();
    await gateway.liveness.write(gw1, [livenessRow(dev1, gw1)]);
    await api.liveness.sync();
    apiNow = T + 10_000;
    // The API heard the heartbeat when it synced, at its T.
    expect(sansUpSince(api.liveness.get(dev1))).toEqual({ ...livenessRow(dev1, gw1), online: true, gatewayHeardAtMs: T });
    apiNow = T + 10_001;
    expect(api.liveness.get(dev1)).toMatchObject({ connected: true, online: false });
    // The next flush is a fresh heartbeat.
    gatewayNow = T + 10_000;
    await gateway.liveness.write(gw1, []);
    await api.liveness.sync();
    expect(api.liveness.get(dev1)).toMatchObject({ connected: true, online: true });
  });
}
