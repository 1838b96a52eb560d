/**
 * Frame time of the central-station board in Chromium (playwright-core, Debian's chromium) with
 * N patients whose devices each send one frame per second (issue 10 §6: "100 patients at 1
 * frame/s each update without jank").
 *
 * Setup: the real dashboard API on an in-process bus; N paced simulated devices (the simulator's
 * frames with 250 Hz synthetic ECG, published on the telemetry stream as the gateway would);
 * a few active alarms (one high, flashing; some medium and low). The page is measured with a
 * requestAnimationFrame loop (frame-to-frame time) and the Long Tasks API, for the same duration:
 *   1. baseline — the same board, the devices paused (no updates);
 *   2. live — the devices sending, the board updating every second.
 * Numbers only (no pass/fail): compare "live" with "baseline" from the same run.
 *
 *   node bench/board-frames.ts [--patients 100] [--seconds 20]
 *   npm run bench:board
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { alertId, DEFAULT_PRIORITY, type Alert, type AlertKind } from '../contracts/alert.ts';
import { STREAMS } from '../contracts/topics.ts';
import { JsonlAuditSink } from '../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../dashboard-api/auth.ts';
import { openDevIssuer } from '../dashboard-api/dev-issuer.ts';
import { registryPatientDirectory } from '../dashboard-api/patient-directory.ts';
import { createDashboardApi } from '../dashboard-api/server.ts';
import { InProcessBus } from '../platform/bus/index.ts';
import { silentLogger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import { DeviceRegistry } from '../platform/registry/index.ts';
import { SqliteVitalsStore } from '../platform/store/index.ts';
import { rhythmBeats, TelemetryFeeder } from '../test/dashboard-api/telemetry-feeder.ts';

const { values } = parseArgs({ options: { patients: { type: 'string', default: '100' }, seconds: { type: 'string', default: '20' }, screenshot: { type: 'string' } } });
const patientCount = Number(values.patients);
const seconds = Number(values.seconds);
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);

declare const window: { __pbBoard: { renders: number; renderMs: number; maxRenderMs: number }; __frames?: number[]; __long?: number[]; requestAnimationFrame: (cb: (t: number) => void) => void };
declare const document: { querySelectorAll(s: string): { length: number } };
declare const PerformanceObserver: new (cb: (list: { getEntries(): { duration: number }[] }) => void) => { observe(o: { type: string; buffered?: boolean }): void; disconnect(): void };

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-bench-board-'));
const bus = new InProcessBus();
const store = new SqliteVitalsStore(':memory:');
const registry = new DeviceRegistry(':memory:');
const ids = Array.from({ length: patientCount }, (_, i) => `patient-${String(i + 1).padStart(4, '0')}`);
const t0 = Date.now() - 120_000;
for (const p of ids) registry.add(`dev-${p}`, p, 'bench', t0 - 1000);
const issuer = await openDevIssuer({ dataDir });
const api = createDashboardApi({
  bus, vitalsStore: store, patients: registryPatientDirectory(registry), auth: createDevTokenVerifier(issuer),
  audit: new JsonlAuditSink({ dataDir }), logger: silentLogger, metrics: new MetricsRegistry(), heartbeatIntervalMs: 5000,
});
const { url } = await api.listen(0, '127.0.0.1');
const feeder = new TelemetryFeeder(bus, t0, ids.map((p, i) => ({ patientId: p, deviceId: `dev-${p}`, beats: rhythmBeats(t0, 600 + (i * 37) % 500), battery: 20 + (i * 13) % 80 })));
feeder.start(100);

// A realistic mix of open alarms: one high (flashing tile), a few medium and low.
const alarm = (p: string, kind: AlertKind, minutesAgo: number): Alert => {
  const onsetMs = Date.now() - minutesAgo * 60_000;
  return {
    id: alertId(p, kind, onsetMs), patientId: p, deviceId: `dev-${p}`, kind, category: kind === 'lead_off' || kind === 'low_battery' ? 'technical' : 'physiological',
    priority: DEFAULT_PRIORITY[kind], state: 'active', onset: new Date(onsetMs).toISOString(), detectedAt: new Date(onsetMs + 1000).toISOString(),
    evidence: { criterion: 'bench', thresholds: {} }, revision: 1, updatedAt: new Date(onsetMs + 1000).toISOString(),
  };
};
const alarms = [alarm(ids[3]!, 'vt', 2), alarm(ids[7]!, 'afib', 5), alarm(ids[8]!, 'brady', 3), alarm(ids[12 % patientCount]!, 'tachy', 1), alarm(ids[20 % patientCount]!, 'low_battery', 9)];
await bus.publish(STREAMS.alerts, alarms.map((a) => ({ key: a.patientId, value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source: 'processor', alert: a })) })));

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
const token = await issuer.issueToken({ sub: 'bench', role: 'admin', patients: [], ttlSeconds: 3600 });
await page.goto(`${url}/#token=${token}`);
await page.locator('#connection.state-live').waitFor();
await page.waitForFunction((n) => document.querySelectorAll('#board .tile').length === n, patientCount);
await page.waitForTimeout(3000); // every tile has data and a sparkline

async function measure(label: string): Promise<Record<string, number | string>> {
  const before = await page.evaluate(() => ({ renders: window.__pbBoard.renders, renderMs: window.__pbBoard.renderMs }));
  await page.evaluate(() => { window.__pbBoard.maxRenderMs = 0; });
  await page.evaluate(() => {
    window.__frames = [];
    window.__long = [];
    let last = 0;
    const loop = (t: number) => { if (last) window.__frames!.push(t - last); last = t; if (window.__frames) window.requestAnimationFrame(loop); };
    window.requestAnimationFrame(loop);
    const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long?.push(e.duration); });
    obs.observe({ type: 'longtask' });
  });
  await page.waitForTimeout(seconds * 1000);
  const { frames, long, renders, renderMs, maxRenderMs } = await page.evaluate(() => {
    const out = { frames: window.__frames ?? [], long: window.__long ?? [], renders: window.__pbBoard.renders, renderMs: window.__pbBoard.renderMs, maxRenderMs: window.__pbBoard.maxRenderMs };
    window.__frames = undefined;
    return out;
  });
  const sorted = [...frames].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return {
    run: label,
    frames: frames.length,
    'p50 ms': +q(0.5).toFixed(1),
    'p95 ms': +q(0.95).toFixed(1),
    'p99 ms': +q(0.99).toFixed(1),
    'max ms': +(sorted.at(-1) ?? NaN).toFixed(1),
    'frames > 50 ms': frames.filter((f) => f > 50).length,
    'long tasks': long.length,
    'longest task ms': long.length ? Math.round(Math.max(...long)) : 0,
    'full renders': renders - before.renders,
    // The page's own work (render functions), without the browser's layout and paint after it.
    'board script ms/s': +((renderMs - before.renderMs) / seconds).toFixed(1),
    'longest update ms': +maxRenderMs.toFixed(1),
  };
}

feeder.stop();
await page.waitForTimeout(1500);
const baseline = await measure('baseline (no updates)');
const resumed = new TelemetryFeeder(bus, Date.now(), ids.map((p, i) => ({ patientId: p, deviceId: `dev-${p}`, beats: rhythmBeats(Date.now(), 600 + (i * 37) % 500) })));
resumed.start(100);
await page.waitForTimeout(2000);
const live = await measure(`live (${patientCount} devices × 1 frame/s)`);
if (values.screenshot) await page.screenshot({ path: values.screenshot });
resumed.stop();

console.log(`board frame time, ${patientCount} patients, ${seconds} s per run, Chromium ${browser.version()} headless (software rendering), ${os.cpus().length} cores`);
console.table([baseline, live]);
await browser.close();
await api.close();
await bus.close();
await store.close();
registry.close();
await rm(dataDir, { recursive: true, force: true });
