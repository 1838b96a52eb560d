/**
 * Firmware walk of 2026-12-07: a device subscribing to its command topic at QoS 2 was granted
 * QoS 2, but commands go out at QoS 1 (device-protocol.md "Topics"). The gateway now grants
 * min(requested, 1) (MQTT 3.1.1 §3.9.3), so the SUBACK says what it delivers
 * (gateway/subscription-qos.ts). Checked with an independent client, Debian's `mosquitto_sub`
 * (libmosquitto), whose debug output prints the granted QoS of the SUBACK and the QoS of every
 * PUBLISH it receives. Skipped when the binary is missing, failed instead when
 * PULSEBRIDGE_REQUIRE_SERVICES=1. Without the cap the SUBACK line reads `Subscribed (mid: 1): 2`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { requireService } from '../helpers/services.ts';
import { startLifecycleGateway, type LifecycleFixture } from './lifecycle-fixture.ts';
import { MOSQUITTO_SUB, mosquittoClientsAvailable } from './mosquitto-clients.ts';

const hasMosquittoSub = await requireService(`mosquitto_sub (Debian package mosquitto-clients) at ${MOSQUITTO_SUB}`, () => mosquittoClientsAvailable(MOSQUITTO_SUB));

/**
 * Subscribes to `topic` at `qos` with debug output, waits for one message (-C 1) and returns
 * the output. -W bounds a hang (no message): mosquitto_sub then exits non-zero and the test fails.
 */
async function mosquittoSubOne(port: number, deviceId: string, creds: DeviceCredentials, topic: string, qos: number): Promise<string> {
  const { stdout } = await promisify(execFile)(MOSQUITTO_SUB, [
    '-h', 'localhost', '-p', String(port), '-V', 'mqttv311',
    '--cafile', creds.ca, '--cert', creds.cert, '--key', creds.key,
    '-i', deviceId, '-q', String(qos), '-t', topic, '-C', '1', '-W', '30', '-d',
  ], { timeout: 60_000 });
  return stdout;
}

describe.skipIf(!hasMosquittoSub)('the QoS granted to a command subscription (mosquitto_sub)', () => {
  let bus: InProcessBus;
  let fx: LifecycleFixture;
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

  it('a QoS 2 subscription is granted QoS 1, and the command arrives at QoS 1', async () => {
    const creds = fx.addDevice('dev-q2', 'pat-q2');
    const cmd = api.commands.create('dev-q2', { type: 'ping' }, 'test');
    const topic = 'pb/v1/dev/dev-q2/cmd';
    const out = await mosquittoSubOne(fx.port, 'dev-q2', creds, topic, 2);
    expect(out).toMatch(/sending SUBSCRIBE \(Mid: \d+, Topic: pb\/v1\/dev\/dev-q2\/cmd, QoS: 2/);
    expect(out).toMatch(/^Subscribed \(mid: \d+\): 1$/m);
    expect(out).toMatch(/received PUBLISH \(d0, q1, r0, m\d+, 'pb\/v1\/dev\/dev-q2\/cmd'/);
    expect(out).toContain(JSON.stringify({ id: cmd.id, type: 'ping' }));
  });

  it('a QoS 1 and a QoS 0 subscription are granted what they asked for', async () => {
    const creds = fx.addDevice('dev-q1', 'pat-q1');
    api.commands.create('dev-q1', { type: 'ping' }, 'test');
    expect(await mosquittoSubOne(fx.port, 'dev-q1', creds, 'pb/v1/dev/dev-q1/cmd', 1)).toMatch(/^Subscribed \(mid: \d+\): 1$/m);
    api.commands.create('dev-q1', { type: 'ping' }, 'test');
    const out0 = await mosquittoSubOne(fx.port, 'dev-q1', creds, 'pb/v1/dev/dev-q1/cmd', 0);
    expect(out0).toMatch(/^Subscribed \(mid: \d+\): 0$/m);
    expect(out0).toMatch(/received PUBLISH \(d0, q0, r0, m\d+, 'pb\/v1\/dev\/dev-q1\/cmd'/);
  });
});
