/**
 * A real gateway (mutual TLS, random port) wired like production: the device registry file in a
 * temporary data folder, liveness and commands in that file, options overridable per test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/gateway.ts';
import type { Bus } from '../../platform/bus.ts';
import { ensureDevPki, issueDeviceCertificate, type DeviceCredentials } from '../../platform/dev-pki.ts';
import { DeviceRegistry } from '../../platform/device-registry.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

export interface LifecycleFixture {
  dataDir: string;
  registryPath: string;
  port: number;
  gateway: Gateway;
  registry: DeviceRegistry;
  metrics: MetricsRegistry;
  addDevice(deviceId: string, patientId: string): DeviceCredentials;
  close(): Promise<void>;
}

export async function startLifecycleGateway(bus: Bus, overrides: Partial<GatewayOptions> = {}): Promise<LifecycleFixture> {
  const dataDir = makeTempDir('pb-lifecycle-');
  const pki = ensureDevPki(dataDir);
  const registryPath = path.join(dataDir, 'registry.sqlite');
  const registry = new DeviceRegistry(registryPath);
  const metrics = new MetricsRegistry();
  const gateway = await createGateway({
    bus, registry, liveness: registry.liveness, commands: registry.commands, gatewayId: 'gw-test', logger: silentLogger, metrics,
    tls: { cert: fs.readFileSync(pki.gatewayCert), key: fs.readFileSync(pki.gatewayKey), deviceCa: fs.readFileSync(pki.deviceCaCert) },
    ...overrides,
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  return {
    dataDir, registryPath, port, gateway, registry, metrics,
    addDevice(deviceId, patientId) {
      registry.add(deviceId, patientId, 'test', Date.now() - 3_600_000);
      return issueDeviceCertificate(dataDir, deviceId);
    },
    async close() {
      await gateway.close();
      registry.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it returns a value other than undefined/false, or `timeoutMs` passes (then throws). */
export async function until<T>(check: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
