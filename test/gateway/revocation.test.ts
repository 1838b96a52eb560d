/**
 * Revocation (device-protocol.md "Connection and identity", issue 3): disabling a device in the
 * registry — from another process, as the CLI does — closes its live connection within 5 s and
 * refuses its reconnection with CONNACK "not authorized".
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { connectDevice } from '../helpers/gateway-fixture.ts';
import { sleep, startLifecycleGateway, until, type LifecycleFixture } from './lifecycle-fixture.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The contract: a disabled device is dropped within 5 s. */
const CONTRACT_MS = 5000;

let bus: InProcessBus;
let fx: LifecycleFixture;
beforeEach(async () => {
  bus = new InProcessBus();
  fx = await startLifecycleGateway(bus); // default poll period (1 s), as in production
});
afterEach(async () => {
  await fx.close();
  await bus.close();
});

it('a device disabled through another registry connection is disconnected within 5 s and its reconnect is refused', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  fx.addDevice('dev-2', 'pat-2');
  const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  const bystander = await connectDevice(fx.port, { clientId: 'dev-2', creds: { ...fx.addDevice('dev-2', 'pat-2') } });
  const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));

  const outside = new DeviceRegistry(fx.registryPath); // another connection, like the CLI's process
  const disabledAt = Date.now();
  outside.setEnabled('dev-1', false, 'cli:ops');
  outside.close();

  const closedAt = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), CONTRACT_MS))]);
  client.end(true);
  expect(closedAt, 'connection still open 5 s after the device was disabled').toBeDefined();
  console.log(`revocation: connection closed ${closedAt! - disabledAt} ms after the device was disabled`);

  await expect(connectDevice(fx.port, { clientId: 'dev-1', creds })).rejects.toThrow(/Not authorized/i);
  expect(fx.metrics.counter('pb_gateway_revoked_total', '').get({ reason: 'device_disabled' })).toBe(1);
  expect(fx.metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'device_disabled' })).toBe(1);
  // The other device is untouched.
  expect(bystander.connected).toBe(true);
  bystander.end(true);

  await fx.gateway.poll();
  expect(fx.registry.liveness.get('dev-1')).toMatchObject({ connected: false, online: false, disconnectReason: 'revoked' });
});

it('`pulsebridge device disable` in another process drops the connected device', async () => {
  const creds = fx.addDevice('dev-cli', 'pat-1');
  const client = await connectDevice(fx.port, { clientId: 'dev-cli', creds });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const { stdout } = await promisify(execFile)(path.join(ROOT, 'bin/pulsebridge'), ['device', 'disable', 'dev-cli', '--data-dir', fx.dataDir]);
  expect(stdout.trim()).toBe('device dev-cli disabled');
  const disabledAt = Date.now();
  const result = await Promise.race([closed.then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('still open'), CONTRACT_MS))]);
  client.end(true);
  expect(result).toBe('closed');
  console.log(`revocation via CLI: connection closed ${Date.now() - disabledAt} ms after the CLI returned`);
  expect(fx.registry.audit('dev-cli').map((e) => e.action)).toEqual(['add', 'disable']);
  await expect(connectDevice(fx.port, { clientId: 'dev-cli', creds })).rejects.toThrow(/Not authorized/i);
});

it('re-enabling a device lets it connect again', async () => {
  const creds = fx.addDevice('dev-1', 'pat-1');
  fx.registry.setEnabled('dev-1', false, 'test');
  await expect(connectDevice(fx.port, { clientId: 'dev-1', creds })).rejects.toThrow(/Not authorized/i);
  fx.registry.setEnabled('dev-1', true, 'test');
  const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  await until(() => fx.gateway.connectedDevices === 1, 5000, 'the device to be connected');
  client.end(true);
});

it('a liveness flush that hangs (the liveness stream stalled) does not delay revocation past 5 s', async () => {
  // A gateway whose liveness writes never finish, e.g. a Kafka write waiting to see itself.
  const stalledBus = new InProcessBus();
  const stalled = await startLifecycleGateway(stalledBus, {
    liveness: { write: () => new Promise<void>(() => {}), resetGateway: () => {}, get: () => undefined, list: () => [] },
  });
  try {
    const creds = stalled.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(stalled.port, { clientId: 'dev-1', creds });
    await sleep(1500); // at least one poll is now stuck in its liveness flush
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    const disabledAt = Date.now();
    stalled.registry.setEnabled('dev-1', false, 'cli:ops');
    const closedAt = await Promise.race([closed, sleep(CONTRACT_MS).then(() => undefined)]);
    client.end(true);
    expect(closedAt, 'connection still open 5 s after the device was disabled').toBeDefined();
  } finally {
    await Promise.race([stalled.close(), sleep(2000)]);
    await stalledBus.close();
  }
});
