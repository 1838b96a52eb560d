/**
 * Device commands (device-protocol.md "Commands"): persisted with a time-to-live, delivered at
 * QoS 1 when the device is subscribed (now, or when it reconnects), results correlated by id,
 * no answer → timed_out, TTL passed before delivery → expired, every step audited; a device with a
 * persistent session (clean session false) that does not subscribe again after reconnecting.
 */
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { connectDevice, publishQos1 } from '../helpers/gateway-fixture.ts';
import { sleep, startLifecycleGateway, until, type LifecycleFixture } from './lifecycle-fixture.ts';

let bus: InProcessBus;
let fx: LifecycleFixture;
/** The API's or CLI's own connection to the registry file (another process in production). */
let api: DeviceRegistry;
beforeEach(async () => {
  bus = new InProcessBus();
  fx = await startLifecycleGateway(bus, { pollIntervalMs: 100 });
  api = new DeviceRegistry(fx.registryPath);
});
afterEach(async () => {
  api.close();
  await fx.close();
  await bus.close();
});

const cmdTopic = (id: string) => `pb/v1/dev/${id}/cmd`;
const ackTopic = (id: string) => `pb/v1/dev/${id}/cmd/ack`;

/** Connects, subscribes to the command topic at QoS 1 and collects commands in arrival order. */
async function commandListener(deviceId: string, creds: DeviceCredentials): Promise<{ client: MqttClient; received: Record<string, unknown>[] }> {
  const client = await connectDevice(fx.port, { clientId: deviceId, creds });
  const received: Record<string, unknown>[] = [];
  client.on('message', (topic, payload) => { if (topic === cmdTopic(deviceId)) received.push(JSON.parse(payload.toString()) as Record<string, unknown>); });
  await client.subscribeAsync(cmdTopic(deviceId), { qos: 1 });
  return { client, received };
}

it('a command to an offline device is delivered when it reconnects and its result is correlated by id', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const cmd = api.commands.create('dev-1', { type: 'config', config: { frameMs: 500, ecg: true, fs: 250 } }, 'api:admin');
  await fx.gateway.poll(); // nobody to deliver to: stays pending
  expect(api.commands.get(cmd.id)?.state).toBe('pending');

  const { client, received } = await commandListener('dev-1', creds);
  await until(() => received.length === 1, 5000, 'the command');
  expect(received).toEqual([{ id: cmd.id, type: 'config', config: { frameMs: 500, ecg: true, fs: 250 } }]);
  await publishQos1(client, ackTopic('dev-1'), JSON.stringify({ id: cmd.id, ok: true }));
  client.end(true);

  expect(api.commands.get(cmd.id)).toMatchObject({ state: 'ok', deliveryCount: 1, result: { ok: true } });
  expect(api.audit('dev-1').filter((e) => e.action.startsWith('command.')).map((e) => [e.action, e.actor])).toEqual([
    ['command.create', 'api:admin'], ['command.deliver', 'gateway:gw-test'], ['command.ok', 'device:dev-1'],
  ]);
  expect(fx.metrics.counter('pb_gateway_commands_total', '').get({ event: 'delivered' })).toBe(1);
  expect(fx.metrics.counter('pb_gateway_commands_total', '').get({ event: 'ok' })).toBe(1);
});

it('a command created while the device is online is delivered by the next poll; an error answer is stored with its message', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const { client, received } = await commandListener('dev-1', creds);
  const cmd = api.commands.create('dev-1', { type: 'ping' }, 'cli:ops');
  await until(() => received.length === 1, 5000, 'the command');
  expect(received).toEqual([{ id: cmd.id, type: 'ping' }]);
  await publishQos1(client, ackTopic('dev-1'), JSON.stringify({ id: cmd.id, ok: false, error: 'battery too low' }));
  client.end(true);
  expect(api.commands.get(cmd.id)).toMatchObject({ state: 'error', result: { ok: false, error: 'battery too low' } });
});

it('a device that never answers yields timed_out; an undelivered command past its TTL expires and is never sent', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const stale = api.commands.create('dev-1', { type: 'ping', ttlMs: 1000 }, 'test');
  await until(() => api.commands.get(stale.id)?.state === 'expired', 5000, 'expiry');
  const { client, received } = await commandListener('dev-1', creds);
  const silent = api.commands.create('dev-1', { type: 'ping', timeoutMs: 300 }, 'test');
  await until(() => received.length === 1, 5000, 'the command');
  const final = await until(() => { const c = api.commands.get(silent.id); return c?.state === 'timed_out' ? c : undefined; }, 5000, 'the timeout');
  client.end(true);
  expect(received.map((c) => c['id'])).toEqual([silent.id]);
  expect(final).toMatchObject({ state: 'timed_out', result: undefined });
  expect(final.finishedAtMs! - final.deliveredAtMs!).toBeGreaterThanOrEqual(300);
  expect(api.audit('dev-1').map((e) => e.action).filter((a) => a.startsWith('command.'))).toEqual([
    'command.create', 'command.expired', 'command.create', 'command.deliver', 'command.timed_out',
  ]);
});

// README "Commands may arrive twice": firmware dedupes by the command id (device-protocol.md
// "Commands"); a repeated answer is acknowledged, counted as duplicate and changes nothing.
it('a device that drops before answering gets the command again after reconnecting, with the same id; a second answer is counted as duplicate and keeps the first result', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const first = await commandListener('dev-1', creds);
  const cmd = api.commands.create('dev-1', { type: 'ping', timeoutMs: 60_000 }, 'test');
  await until(() => first.received.length === 1, 5000, 'the first delivery');
  first.client.end(true);
  await until(() => fx.gateway.connectedDevices === 0, 5000, 'the disconnect');
  const second = await commandListener('dev-1', creds);
  await until(() => second.received.length === 1, 5000, 'the second delivery');
  expect(second.received).toEqual(first.received);
  expect(second.received[0]?.['id']).toBe(cmd.id);
  await publishQos1(second.client, ackTopic('dev-1'), JSON.stringify({ id: cmd.id, ok: true }));
  await publishQos1(second.client, ackTopic('dev-1'), JSON.stringify({ id: cmd.id, ok: false, error: 'already done' }));
  second.client.end(true);
  expect(api.commands.get(cmd.id)).toMatchObject({ state: 'ok', deliveryCount: 2, result: { ok: true } });
  expect(fx.metrics.counter('pb_gateway_commands_total', '').get({ event: 'duplicate' })).toBe(1);
  expect(bus.read(STREAMS.deadLetter)).toHaveLength(0);
});

it('results for unknown commands, for another device\'s command, and malformed results are acknowledged and dead-lettered', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  fx.addDevice('dev-2', 'pat-2');
  const other = api.commands.create('dev-2', { type: 'ping' }, 'test');
  const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  await publishQos1(client, ackTopic('dev-1'), JSON.stringify({ id: 'c-nope', ok: true }));
  await publishQos1(client, ackTopic('dev-1'), JSON.stringify({ id: other.id, ok: true }));
  await publishQos1(client, ackTopic('dev-1'), JSON.stringify({ ok: true }));
  client.end(true);
  const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
  expect(dead.map((d) => [d.topic, d.reason])).toEqual([
    ['pb/v1/dev/dev-1/cmd/ack', 'unknown_command'], ['pb/v1/dev/dev-1/cmd/ack', 'unknown_command'], ['pb/v1/dev/dev-1/cmd/ack', 'invalid_command_result'],
  ]);
  expect(api.commands.get(other.id)?.state).toBe('pending');
});

// Persistent sessions, found in the firmware walk of 2026-12-07 (/work/notes/firmware-walk.md):
// firmware that subscribes to its command topic once and, reconnecting with sessionPresent 1, does
// not subscribe again ([MQTT-3.1.2-4]: the server keeps the subscription) got no command after its
// first reconnect — neither those that waited while it was offline nor those created later.

/** A firmware-like connection: clean session false; collects commands; resolves with the CONNACK's sessionPresent. */
async function connectPersistent(creds: DeviceCredentials): Promise<{ client: MqttClient; sessionPresent: boolean; received: string[] }> {
  const client = mqtt.connect(`mqtts://localhost:${fx.port}`, {
    clientId: 'dev-1', protocolVersion: 4, clean: false, reconnectPeriod: 0, connectTimeout: 5000,
    ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key),
  });
  const received: string[] = [];
  client.on('message', (topic, payload) => { if (topic === cmdTopic('dev-1')) received.push((JSON.parse(payload.toString()) as { id: string }).id); });
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (ack) => resolve(ack.sessionPresent));
    client.once('error', reject);
  });
  return { client, sessionPresent, received };
}

async function disconnect(client: MqttClient): Promise<void> {
  await client.endAsync();
  await until(() => fx.gateway.connectedDevices === 0, 5000, 'the disconnect');
}

it('a device that reconnects with its session present and does not subscribe again gets the commands that waited and those created later', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const first = await connectPersistent(creds);
  expect(first.sessionPresent).toBe(false);
  await first.client.subscribeAsync(cmdTopic('dev-1'), { qos: 1 });
  await disconnect(first.client);

  const waiting = api.commands.create('dev-1', { type: 'ping' }, 'test');
  await fx.gateway.poll(); // offline: stays pending

  const second = await connectPersistent(creds);
  expect(second.sessionPresent).toBe(true);
  await until(() => second.received.length === 1, 5000, 'the command that waited');
  await publishQos1(second.client, `${cmdTopic('dev-1')}/ack`, JSON.stringify({ id: waiting.id, ok: true }));

  const later = api.commands.create('dev-1', { type: 'config', config: { frameMs: 1000, ecg: true, fs: 250 } }, 'test');
  await until(() => second.received.length === 2, 5000, 'the command created while connected');
  await publishQos1(second.client, `${cmdTopic('dev-1')}/ack`, JSON.stringify({ id: later.id, ok: true }));
  await disconnect(second.client);

  expect(second.received).toEqual([waiting.id, later.id]);
  expect(api.commands.get(waiting.id)).toMatchObject({ state: 'ok', deliveryCount: 1 });
  expect(api.commands.get(later.id)).toMatchObject({ state: 'ok', deliveryCount: 1 });
});

it('a device that reconnects with its session present and subscribes again anyway gets a waiting command once', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const first = await connectPersistent(creds);
  await first.client.subscribeAsync(cmdTopic('dev-1'), { qos: 1 });
  await disconnect(first.client);
  const waiting = api.commands.create('dev-1', { type: 'ping', timeoutMs: 60_000 }, 'test');

  const second = await connectPersistent(creds);
  expect(second.sessionPresent).toBe(true);
  await second.client.subscribeAsync(cmdTopic('dev-1'), { qos: 1 });
  await until(() => second.received.length >= 1, 5000, 'the command');
  // Settle: a second delivery (restored session and SUBSCRIBE each serving it) would follow within milliseconds.
  await sleep(300);
  await fx.gateway.poll();
  await disconnect(second.client);

  expect(second.received).toEqual([waiting.id]);
  expect(api.commands.get(waiting.id)).toMatchObject({ state: 'delivered', deliveryCount: 1 });
});
