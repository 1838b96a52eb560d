/**
 * Firmware walk of 2026-12-07: a device connected with MQTT keepalive 0 (no MQTT liveness check,
 * allowed by MQTT 3.1.1 and not excluded by device-protocol.md) whose connection went half-open —
 * the device vanished without a FIN — stayed connected for ever: nothing ever probed the peer.
 * Every accepted connection now has TCP keepalive (gateway.ts TCP_KEEPALIVE_DEFAULTS: first probe
 * after 60 s idle). What is checked is the kernel's own view of the gateway's socket, read with
 * `ss -o` (iproute2), which shows a `timer:(keepalive,…)` on a socket with SO_KEEPALIVE set; it is
 * absent without it. Skipped when `ss` is missing, failed instead when PULSEBRIDGE_REQUIRE_SERVICES=1.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayOptions } from '../../gateway/gateway.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { requireService } from '../helpers/services.ts';

const SS = process.env.SS ?? '/usr/bin/ss';
const hasSs = await requireService(`ss (Debian package iproute2) at ${SS}`, async () => spawnSync(SS, ['-V'], { encoding: 'utf8', timeout: 5_000 }).status === 0);

/** The gateway's side of its established TCP connections on `port`, one `ss -tno` line each. */
function gatewaySockets(port: number): string[] {
  const out = execFileSync(SS, ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '');
}

/** The seconds left on a `timer:(keepalive,1min2sec,0)` of an `ss -o` line; undefined without one. */
function keepaliveSecondsLeft(line: string): number | undefined {
  const timer = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)ms)?,/.exec(line);
  return timer ? Number(timer[1] ?? 0) * 60 + Number(timer[2] ?? 0) + Number(timer[3] ?? 0) / 1000 : undefined;
}

/** A device with MQTT keepalive 0: mqtt.js then sends no PINGREQ and aedes arms no timer. */
function connectKeepaliveZero(port: number, deviceId: string, creds: DeviceCredentials): Promise<MqttClient> {
  const client = mqtt.connect(`mqtts://localhost:${port}`, {
    clientId: deviceId, protocolVersion: 4, keepalive: 0, reconnectPeriod: 0,
    ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key),
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

describe.skipIf(!hasSs)('TCP keepalive on device connections', () => {
  let bus: InProcessBus | undefined;
  let fx: GatewayFixture | undefined;
  let client: MqttClient | undefined;

  afterEach(async () => {
    client?.end(true);
    await fx?.close();
    await bus?.close();
  });

  const connectedDevice = async (overrides: Partial<GatewayOptions>) => {
    bus = new InProcessBus();
    fx = await startGatewayFixture(bus, overrides);
    client = await connectKeepaliveZero(fx.port, 'dev-ka', fx.addDevice('dev-ka', 'pat-ka'));
    return gatewaySockets(fx.port);
  };

  it('by default the gateway\'s socket of a keepalive-0 device has a TCP keepalive timer of at most 60 s', async () => {
    const sockets = await connectedDevice({});
    expect(sockets).toHaveLength(1);
    const left = keepaliveSecondsLeft(sockets[0]!);
    expect(left, sockets[0]).toBeDefined();
    expect(left).toBeLessThanOrEqual(60);
  });

  it('the first probe follows tcpKeepAlive.initialDelayMs', async () => {
    const sockets = await connectedDevice({ tcpKeepAlive: { initialDelayMs: 3_600_000, intervalMs: 10_000, count: 6 } });
    expect(sockets).toHaveLength(1);
    // ss rounds to whole minutes above one: 59min for a timer set to one hour a moment ago.
    expect(keepaliveSecondsLeft(sockets[0]!), sockets[0]).toBeGreaterThanOrEqual(59 * 60);
  });

  it('tcpKeepAlive false leaves the socket without keepalive', async () => {
    const sockets = await connectedDevice({ tcpKeepAlive: false });
    expect(sockets).toHaveLength(1);
    expect(keepaliveSecondsLeft(sockets[0]!), sockets[0]).toBeUndefined();
  });
});
