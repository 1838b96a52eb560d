/**
 * Scenario run of issue 4 ("100 simulated devices for 10 minutes: every injected episode
 * detected, no false physiological alarms, detection latencies reported"). Not a CI test: it
 * takes minutes of wall time and the whole machine.
 *
 * Starts an embedded stack in this process (gateway over mutual TLS, in-process bus, processor,
 * SQLite store, dashboard API; as `pulsebridge demo` does, on free ports and a fresh data
 * folder), then runs `pulsebridge sim --report` against it: N devices with the scenario for the
 * given device time at the given speed, alerts read back through `GET /v1/alerts` with an admin
 * token, matched to the ground truth (device-sim/report.ts). Prints the report table, what the
 * machine sustained (send lag, CPU) and where the JSON report is.
 *
 *   node scripts/sim-100.ts [--devices 100] [--duration 10m] [--speed 5] [--scenario all-alarms]
 *                         [--report FILE] [--data-dir DIR] [--keep] [--ecg-only] [--paced]
 *                         [--format v1|v2|mix] [--disconnect-every D …] (the device flags of `pulsebridge sim`)
 * `--ecg-only`: the devices send their ECG without firmware beats, so every alarm rests on the
 * beats the processor's QRS detector finds (processor/ecg-beats.ts). `--paced`: paced patients
 * (pacemaker pulses flagged in `ecg.pace`; a pause or asystole is a loss of capture). `--format v2`
 * cannot carry the pulse flags.
 * The data folder (default: a new temporary one) keeps the report and the ground truth; the
 * time series is deleted unless --keep.
 *
 * Exit status 0 when the report passes (every scored episode detected, no false physiological
 * alarm), 1 when it does not, 2 on a usage error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDurationMs } from '../cli/args.ts';
import { startDashboard, startGateway, startProcessor, type Running } from '../cli/components.ts';
import { parseSimBehaviour, parseSimEcgFlags, parseSpeed, runSimCommand, SIM_BEHAVIOUR_FLAGS, SIM_ECG_FLAGS } from '../cli/sim.ts';
import { openBus, openVitalsStore } from '../platform/adapters.ts';
import { loadConfig } from '../platform/config.ts';
import { ensureDevPki } from '../platform/security/index.ts';
import { DeviceRegistry } from '../platform/registry/index.ts';
import { createLogger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    duration: { type: 'string', default: '10m' },
    speed: { type: 'string', default: '5' },
    scenario: { type: 'string', default: 'all-alarms' },
    report: { type: 'string' },
    'data-dir': { type: 'string' },
    keep: { type: 'boolean', default: false },
    ...SIM_ECG_FLAGS,
    ...SIM_BEHAVIOUR_FLAGS,
  },
});

const devices = Number(values.devices);
if (!Number.isInteger(devices) || devices < 1) {
  process.stderr.write('sim-100: --devices must be a whole number ≥ 1.\n');
  process.exit(2);
}
const durationMs = parseDurationMs(values.duration);
const speed = parseSpeed(values.speed, 5);
const dataDir = values['data-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pb-sim-bench-'));
const reportPath = values.report ?? path.join(dataDir, 'sim', 'report.json');

const out = (line: string) => process.stdout.write(line + '\n');
const logger = createLogger('warn', { app: 'pulsebridge-bench' });
const config = loadConfig({ ...process.env, PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_MQTT_PORT: '0', PULSEBRIDGE_HTTP_PORT: '0', PULSEBRIDGE_BUS: 'memory', PULSEBRIDGE_STORE: 'sqlite' });
fs.mkdirSync(dataDir, { recursive: true });
ensureDevPki(dataDir);

const bus = await openBus(config, logger);
const store = await openVitalsStore(config);
const registry = new DeviceRegistry(config.registryPath);
const ctx = { config, bus, logger, metrics: new MetricsRegistry() };
const running: Running[] = [];
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

let pass = false;
try {
  running.push(await startProcessor(ctx, store));
  const dashboard = await startDashboard(ctx, store, registry);
  running.push(dashboard);
  const gateway = await startGateway(ctx, registry);
  running.push(gateway);
  out(`Embedded stack up (data in ${dataDir}); ${devices} ${values.paced ? 'paced ' : ''}${values['ecg-only'] ? 'ECG-only devices (no firmware beats: beats from the processor\'s QRS detector)' : 'devices'}, scenario ${values.scenario}${values.format ? `, format ${values.format}` : ''}, ${values.duration} of device time at ${speed}× (≈ ${speed === 'max' ? '?' : ((durationMs / speed) / 60_000).toFixed(1)} min of wall time).`);

  const cpuBefore = process.cpuUsage();
  const wallBefore = Date.now();
  const lines: string[] = [];
  await runSimCommand({
    config, devices, scenario: values.scenario, durationMs, speed, groundTruthPath: undefined,
    url: `mqtts://localhost:${gateway.port}`, credentials: {}, behaviour: { ...parseSimBehaviour(values), ...parseSimEcgFlags(values) },
    report: { path: reportPath, apiUrl: dashboard.url, token: undefined, waitMs: 5000 },
    signal: controller.signal, logger, out: (line) => { lines.push(line); out(line); },
  });
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = Date.now() - wallBefore;
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8')) as { pass: boolean; sendLagMs: { p50: number; p95: number; max: number; frames: number } };
  const summary = JSON.parse(lines[0]!) as { framesSent: number };
  pass = report.pass;
  out(`Machine: ${os.cpus().length} cores; ${(wallMs / 1000).toFixed(0)} s of wall time (including the 5 s report wait), ${(summary.framesSent / (wallMs / 1000)).toFixed(0)} frames/s, ` +
    `CPU ${(((cpu.user + cpu.system) / 1000) / wallMs).toFixed(2)} cores on average; frames sent late by p50/p95/max ${report.sendLagMs.p50}/${report.sendLagMs.p95}/${report.sendLagMs.max} ms over ${report.sendLagMs.frames} frames.`);
} finally {
  for (const r of running.reverse()) await r.stop().catch((err: unknown) => logger.warn(`stopping ${r.name} failed`, { err: err as Error }));
  await store.close();
  await bus.close();
  registry.close();
  // The report and ground truth stay; the time series (large) only with --keep.
  if (!values.keep) fs.rmSync(config.store.kind === 'sqlite' ? config.store.path : '', { force: true });
  out(`Report: ${reportPath}; ground truth: ${path.join(dataDir, 'sim', 'ground-truth.json')}`);
}
process.exitCode = pass ? 0 : 1;
