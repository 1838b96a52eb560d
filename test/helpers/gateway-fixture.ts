/**
 * Starts a real gateway (mutual TLS on a random loopback port) with a development PKI in a
 * temporary data folder, and connects MQTT clients to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/gateway.ts';
import type { Bus } from '../../platform/bus/index.ts';
import { ensureDevPki, issueDeviceCertificate, type DeviceCredentials } from '../../platform/security/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';

export interface GatewayFixture {
  dataDir: string;
  registryPath: string;
  port: number;
  gateway: Gateway;
  registry: DeviceRegistry;
  metrics: MetricsRegistry;
  addDevice(deviceId: string, patientId: string): DeviceCredentials;
  close(): Promise<void>;
}

export function makeTempDir(prefix = 'pb-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * `overrides` replace gateway options (liveness, commands, rate limit, poll period …), given
 * directly or computed from the fixture's registry; without them the gateway runs with just the
 * registry, as in the spine tests.
 */
export async function startGatewayFixture(
  bus: Bus,
  overrides: Partial<GatewayOptions> | ((registry: DeviceRegistry) => Partial<GatewayOptions>) = {},
  dataDir = makeTempDir(),
): Promise<GatewayFixture> {
  const pki = ensureDevPki(dataDir);
  const registryPath = path.join(dataDir, 'registry.sqlite');
  const registry = new DeviceRegistry(registryPath);
  const metrics = new MetricsRegistry();
  const gateway = await createGateway({
    bus, registry, logger: silentLogger, metrics,
    tls: { cert: fs.readFileSync(pki.gatewayCert), key: fs.readFileSync(pki.gatewayKey), deviceCa: fs.readFileSync(pki.deviceCaCert) },
    ...(typeof overrides === 'function' ? overrides(registry) : overrides),
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return {
    dataDir, registryPath, port, gateway, registry, metrics,
    addDevice(deviceId, patientId) {
      // Assignment starts an hour back so frames stamped slightly in the past belong to the patient.
      registry.add(deviceId, patientId, 'test', Date.now() - 3_600_000);
      return issueDeviceCertificate(dataDir, deviceId);
    },
    async close() {
      await gateway.close();
      registry.close();
    },
  };
}

export interface ConnectOptions {
  clientId: string;
  creds?: Partial<DeviceCredentials>;
  reconnectPeriod?: number;
}

/** Connects over TLS; resolves with the client once CONNACK accepted, rejects with the error otherwise. */
export function connectDevice(port: number, options: ConnectOptions): Promise<MqttClient> {
  const c = options.creds ?? {};
  const client = mqtt.connect(`mqtts://localhost:${port}`, {
    clientId: options.clientId,
    protocolVersion: 4,
    ca: c.ca ? fs.readFileSync(c.ca) : undefined,
    cert: c.cert ? fs.readFileSync(c.cert) : undefined,
    key: c.key ? fs.readFileSync(c.key) : undefined,
    rejectUnauthorized: true,
    reconnectPeriod: options.reconnectPeriod ?? 0,
    connectTimeout: 5000,
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => { client.end(true); reject(err); });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

export function publishQos1(client: MqttClient, topic: string, payload: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

export function frameJson(seq: number, ts = Date.now(), extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ v: 1, seq, ts, durMs: 1000, hr: 74, battery: 88, leadOff: false,
    beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 921, rr: 809, cls: 'N' }], ...extra });
}
