/**
 * Two device-side gaps found by the security review (notes/security-review.md):
 *
 * - Plain MQTT (PULSEBRIDGE_MQTT_PLAINTEXT) authenticates nobody: the gateway believes the client
 *   id. Listening with it on a non-loopback address let anyone on the network connect as any
 *   registered device and have frames PUBACKed into that patient's telemetry (reproduced with
 *   `mosquitto_pub -h <host ip> -i <device> -t pb/v1/dev/<device>/telemetry` against a demo with
 *   PULSEBRIDGE_BIND_HOST=0.0.0.0). device-protocol.md allows plain TCP "only for local
 *   development": the gateway now listens in plain text on loopback only.
 * - A PUBLISH to a wildcard topic (`pb/v1/dev/+/telemetry`) is refused by aedes before our ACL
 *   sees it; the connection closed without a log line or a count, although the contract says a
 *   refused topic is "refused and counted".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../gateway/gateway.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { connectDevice, makeTempDir, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';
import path from 'node:path';

describe('plain MQTT', () => {
  const plaintextGateway = async () => {
    const bus = new InProcessBus();
    const registry = new DeviceRegistry(path.join(makeTempDir(), 'registry.sqlite'));
    const gateway = await createGateway({ bus, registry, logger: silentLogger, metrics: new MetricsRegistry(), plaintext: true });
    return { gateway, close: async () => { await gateway.close(); registry.close(); await bus.close(); } };
  };

  it('refuses to listen on every interface, naming the reason', async () => {
    const { gateway, close } = await plaintextGateway();
    try {
      const err = await gateway.listen(0, '0.0.0.0').then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(PulsebridgeError);
      expect((err as PulsebridgeError).code).toBe('PB_CONFIG_INVALID');
      expect((err as Error).message).toMatch(/plain MQTT .* loopback/);
      expect(gateway.connectedDevices).toBe(0);
    } finally {
      await close();
    }
  });

  it('refuses an unspecified IPv6 address and a LAN address too, and listens on loopback (IPv4, IPv6, localhost)', async () => {
    for (const host of ['::', '192.0.2.10']) {
      const { gateway, close } = await plaintextGateway();
      try {
        await expect(gateway.listen(0, host)).rejects.toThrow(/loopback/);
      } finally {
        await close();
      }
    }
    for (const host of ['127.0.0.1', '::1', 'localhost']) {
      const { gateway, close } = await plaintextGateway();
      try {
        const { port } = await gateway.listen(0, host);
        expect(port).toBeGreaterThan(0);
      } finally {
        await close();
      }
    }
  });
});

describe('a PUBLISH to a wildcard topic', () => {
  let bus: InProcessBus;
  let fx: GatewayFixture;
  const lines: string[] = [];

  beforeAll(async () => {
    bus = new InProcessBus();
    fx = await startGatewayFixture(bus, { logger: createLogger('info', {}, (l) => lines.push(l)) });
  });
  afterAll(async () => {
    await fx.close();
    await bus.close();
  });

  it('is refused, counted as an ACL denial and logged with the device', async () => {
    const creds = fx.addDevice('dev-wild', 'pat-wild');
    const client = await connectDevice(fx.port, { clientId: 'dev-wild', creds });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('pb/v1/dev/+/telemetry', '{"v":1}', { qos: 1 });
    await closed;
    client.end(true);
    const denied = fx.metrics.counter('pb_gateway_acl_denied_total', '');
    await waitFor('the denial counted', () => (denied.get({ reason: 'invalid_topic' }) === 1 ? true : undefined), 5000);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'topic refused: not a valid MQTT topic; connection closed');
    expect(warn).toMatchObject({ level: 'warn', deviceId: 'dev-wild', reason: '+ is not allowed in PUBLISH' });
    // Nothing reached the pipeline.
    expect(fx.metrics.counter('pb_gateway_frames_received_total', '').get({})).toBe(0);
  });
});
