/**
 * Device commands (device-protocol.md "Commands"): persisted with a time-to-live, delivered at
 * QoS 1 when the device is subscribed (now, or when it reconnects), results correlated by id,
 * no answer → timed_out, TTL passed before delivery → expired, every step audited.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { connectDevice, publishQos1 } from '../helpers/gateway-fixture.ts';
import { startLifecycleGateway, until, type LifecycleFixture } from './lifecycle-fixture.ts';

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

it('a device that drops before answering gets the command again after reconnecting', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  const first = await commandListener('dev-1', creds);
  const cmd = api.commands.create('dev-1', { type: 'ping', timeoutMs: 60_000 }, 'test');
  await until(() => first.received.length === 1, 5000, 'the first delivery');
  first.client.end(true);
  await until(() => fx.gateway.connectedDevices === 0, 5000, 'the disconnect');
  const second = await commandListener('dev-1', creds);
  await until(() => second.received.length === 1, 5000, 'the second delivery');
  await publishQos1(second.client, ackTopic('dev-1'), JSON.stringify({ id: cmd.id, ok: true }));
  second.client.end(true);
  expect(api.commands.get(cmd.id)).toMatchObject({ state: 'ok', deliveryCount: 2 });
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
