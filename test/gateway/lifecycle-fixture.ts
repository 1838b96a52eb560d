/**
 * A real gateway (mutual TLS, random port) wired like production: the device registry file in a
 * temporary data folder, liveness and commands in that file, options overridable per test.
 */
import type { GatewayOptions } from '../../gateway/gateway.ts';
import type { Bus } from '../../platform/bus/index.ts';
import { makeTempDir, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';

export type LifecycleFixture = GatewayFixture;

/** `dataDir`: an earlier fixture's folder, to start the gateway again on the same registry and PKI. */
export async function startLifecycleGateway(bus: Bus, overrides: Partial<GatewayOptions> = {}, dataDir = makeTempDir('pb-lifecycle-')): Promise<LifecycleFixture> {
  // Liveness and commands live in the registry file, as in production; the gateway id is fixed.
  return startGatewayFixture(bus, (registry) => ({ liveness: registry.liveness, commands: registry.commands, gatewayId: 'gw-test', ...overrides }),
    dataDir);
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
