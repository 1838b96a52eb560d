/**
 * Status and liveness (device-protocol.md "Status", "Limits"): the retained status and the Last
 * Will, connection events, last-seen time, battery and charging, and clock skew — recorded by the
 * gateway and written to the registry database for the dashboard API.
 */
import mqtt from 'mqtt';
import fs from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { connectDevice, frameJson, publishQos1 } from '../helpers/gateway-fixture.ts';
import { startLifecycleGateway, until, type LifecycleFixture } from './lifecycle-fixture.ts';

const T = Math.floor(Date.now() / 1000) * 1000;
let clock: number;
let bus: InProcessBus;
let fx: LifecycleFixture;
beforeEach(async () => {
  clock = T;
  bus = new InProcessBus();
  // The gateway's clock is the test's: receive times and skew are exact.
  fx = await startLifecycleGateway(bus, { now: () => clock, pollIntervalMs: 60_000 });
});
afterEach(async () => {
  await fx.close();
  await bus.close();
});

const topics = (id: string) => ({ status: `pb/v1/dev/${id}/status`, telemetry: `pb/v1/dev/${id}/telemetry` });

function connectWithWill(port: number, deviceId: string, creds: DeviceCredentials): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(`mqtts://localhost:${port}`, {
    clientId: deviceId, protocolVersion: 4, reconnectPeriod: 0,
    ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key),
    will: { topic: topics(deviceId).status, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

it('records the status, every frame\'s receive time, battery and clock skew, and writes them to the registry on the next poll', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const client = await connectWithWill(fx.port, 'dev-1', creds);
  await publishQos1(client, topics('dev-1').status, JSON.stringify({ online: true, fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: false, extra: 'ignored' }));
  clock = T + 5000;
  // Device clock 2 s ahead: the frame ends (ts + durMs) 2 s after the gateway receives it.
  await publishQos1(client, topics('dev-1').telemetry, frameJson(7, clock + 2000 - 1000, { battery: 87 }));
  clock = T + 6000;
  await publishQos1(client, topics('dev-1').telemetry, frameJson(8, clock + 2000 - 1000, { battery: 255 }));
  await fx.gateway.poll();
  expect(fx.registry.liveness.get('dev-1')).toEqual({
    deviceId: 'dev-1', online: true, connected: true, gatewayId: 'gw-test',
    connectedAtMs: T, disconnectedAtMs: undefined, disconnectReason: undefined,
    lastSeenMs: T + 6000, lastFrameAtMs: T + 6000, lastSeq: 8, lastFramePatientId: 'pat-1',
    reportedOnline: true, statusAtMs: T, fw: '2.3.1', model: 'PB-Patch-2',
    battery: undefined, // 255 = unknown
    charging: false, clockSkewMs: 2000, lastClockSkewMs: 2000,
    gatewayHeardAtMs: expect.any(Number), // the gateway's latest heartbeat (its own clock)
  });
  expect(fx.metrics.render()).toContain('pb_gateway_device_clock_skew_seconds{device="dev-1"} 2\n');
  expect(fx.metrics.render()).toContain('pb_gateway_connected_devices 1\n');
  client.end(true);
});

it('says for which patient the device\'s latest frame was published: another after a reassignment, none when refused', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const client = await connectWithWill(fx.port, 'dev-1', creds);
  // Device time of the frames = the gateway's clock; the assignments change at device times.
  const frameAt = async (seq: number, atMs: number) => {
    clock = atMs;
    await publishQos1(client, topics('dev-1').telemetry, frameJson(seq, atMs - 1000));
    await fx.gateway.poll();
    return fx.registry.liveness.get('dev-1')?.lastFramePatientId;
  };
  expect(await frameAt(1, T + 1000)).toBe('pat-1');
  await fx.registry.assign('dev-1', 'pat-2', T + 1500, 'test');
  expect(await frameAt(2, T + 3000)).toBe('pat-2');
  await fx.registry.unassign('dev-1', T + 3500, 'test');
  expect(await frameAt(3, T + 5000)).toBe(''); // dead-lettered: no patient
  client.end(true);
});

it('the Last Will marks the device as reported offline and the lost connection as disconnected', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const client = await connectWithWill(fx.port, 'dev-1', creds);
  await publishQos1(client, topics('dev-1').status, JSON.stringify({ online: true, fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: true }));
  clock = T + 1000;
  client.stream.destroy(); // the device vanishes without DISCONNECT: the broker publishes its will
  await until(() => fx.gateway.connectedDevices === 0, 5000, 'the gateway to notice the lost connection');
  await fx.gateway.poll();
  expect(fx.registry.liveness.get('dev-1')).toMatchObject({
    online: false, connected: false, disconnectedAtMs: T + 1000, reportedOnline: false, statusAtMs: T + 1000,
    lastSeenMs: T, fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: true,
  });
  expect(fx.metrics.render()).toContain('pb_gateway_connected_devices 0\n');
});

it('a reconnecting device keeps its firmware and skew from before; a takeover by the same device keeps it connected', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const first = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  await publishQos1(first, topics('dev-1').status, JSON.stringify({ online: true, fw: '2.3.1' }));
  await publishQos1(first, topics('dev-1').telemetry, frameJson(1, clock - 1000 - 300));
  await fx.gateway.poll();
  clock = T + 2000;
  // Same device id again (a reboot whose old TCP connection is not dead yet): aedes closes the old one [MQTT-3.1.4-2].
  const second = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  await until(() => first.connected === false || undefined, 5000, 'the old connection to be closed');
  await fx.gateway.poll();
  expect(fx.registry.liveness.get('dev-1')).toMatchObject({ online: true, connected: true, connectedAtMs: T + 2000, fw: '2.3.1', clockSkewMs: -300 });
  first.end(true);
  second.end(true);
});

it('a malformed status is acknowledged and dead-lettered with its reason; an empty retained status is ignored', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  await publishQos1(client, topics('dev-1').status, '{"online":"yes"}');
  await publishQos1(client, topics('dev-1').status, 'not json');
  await new Promise<void>((resolve, reject) => client.publish(topics('dev-1').status, '', { qos: 1, retain: true }, (e) => (e ? reject(e) : resolve())));
  client.end(true);
  const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
  expect(dead.map((d) => [d.topic, d.reason, Buffer.from(d.payloadBase64, 'base64').toString()])).toEqual([
    ['pb/v1/dev/dev-1/status', 'invalid_status', '{"online":"yes"}'],
    ['pb/v1/dev/dev-1/status', 'invalid_status', 'not json'],
  ]);
  expect(fx.metrics.counter('pb_gateway_messages_rejected_total', '').get({ kind: 'status', reason: 'invalid_status' })).toBe(2);
});

it('a gateway shutting down records its devices as disconnected', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  await fx.gateway.close();
  expect(fx.registry.liveness.get('dev-1')).toMatchObject({ connected: false, online: false, disconnectReason: 'gateway_shutdown' });
  client.end(true);
});
