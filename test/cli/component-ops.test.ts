/**
 * A standalone processor (or gateway) serves /healthz and /metrics on PULSEBRIDGE_OPS_PORT, for
 * the orchestrator's probes and Prometheus (an operator walkthrough found that nothing could
 * scrape them), and stops cleanly on SIGTERM. Through the real CLI, on the embedded adapters.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/pulsebridge');

describe('a standalone component\'s operations endpoint', () => {
  it('the processor answers /healthz and /metrics on PULSEBRIDGE_OPS_PORT and exits 0 on SIGTERM', async () => {
    const dataDir = makeTempDir('pb-ops-');
    const child = spawn(BIN, ['processor'], { env: { ...process.env, PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_BUS: 'memory', PULSEBRIDGE_STORE: 'sqlite', PULSEBRIDGE_OPS_PORT: '0', PULSEBRIDGE_LOG_LEVEL: 'info' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await waitFor('the ops endpoint', () => /"msg":"processor \/healthz and \/metrics listening","url":"([^"]+)"/.exec(stderr)?.[1], 20_000);
      // It answers from the start ('starting' until the processor runs), then 'ok'.
      const first = await (await fetch(`${url}/healthz`)).json() as { status: string };
      expect(['starting', 'ok']).toContain(first.status);
      const health = await waitFor('the processor running', async () => {
        const h = await (await fetch(`${url}/healthz`)).json() as { status: string };
        return h.status === 'ok' ? h : undefined;
      }, 20_000);
      expect(health).toMatchObject({ status: 'ok', component: 'processor', infrastructureGapStreams: 0, storeFailing: false });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('pb_processor_infrastructure_gap_streams');
      // Its bus subscriptions are watched (platform/bus/consumer-health.ts); in-process, they always consume.
      expect(metrics).toContain('pb_bus_subscriptions_not_consuming 0');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
