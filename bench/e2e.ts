/**
 * End-to-end benchmark (issue 9): the product as a cardiologist experiences it, under load.
 *
 *   load generator (own process, N mutual-TLS devices × 1 frame/s, scripted episodes)
 *     → gateway (`pulsebridge gateway`) → Apache Kafka → processor(s) (`pulsebridge processor`,
 *       one consumer group) → InfluxDB, and alerts → dashboard-api (`pulsebridge dashboard-api`)
 *       → WebSocket clinicians (each with its own care team), and → ehr-exporter → FHIR server
 *       (the medplum router of the tests, in this process).
 *
 * Every component is the real CLI command in its own process, on a Kafka broker and an InfluxDB
 * this script starts for itself (scripts/services.sh with its own ports and state folder, removed
 * afterwards): the load never touches the shared services, and --partitions really sets the
 * telemetry partition count. Baselines in the same run, against the same data: raw kafkajs
 * consume of the same topic, raw InfluxDB /write in batches of 5,000, raw aedes with the same
 * devices at the same rate. Prints a markdown table and, as its last line, one JSON object.
 *
 *   npm run bench:e2e -- --devices 10000 --seconds 120 [--processors 2] [--partitions 6]
 *                        [--episode-fraction 0.02] [--format v1|v2] [--kill-processor-at 60 | --stop-processor-at 60]
 *                        [--ecg none|with-beats|only] [--criterion-lead-ms 0|N|random] [--no-aedes-baseline] [--check]   (--check: exit 1 on a correctness problem; CI's smoke run)
 *
 * --kill-processor-at S: SIGKILL the first of ≥ 2 processors S s into the run (checked every ≈ 2 s;
 * the table says when it fell); --stop-processor-at S: the same with SIGTERM, a graceful stop that
 * hands its streams over (processor.ts `stop`).
 *
 * --ecg: `none` (default) sends beats only; `with-beats` adds 250 Hz synthetic ECG (strips for the
 * EHR); `only` sends ECG without beats, so the processor's QRS detector finds them (issue 12 item 3).
 *
 * --criterion-lead-ms: where in its frame each episode's criterion falls, N ms before the frame's end
 * (default 0: at the end, so the latency from the criterion is the pipeline's alone), or `random`
 * (each episode its own, spread evenly over the frame: as on patients). The table then also gives
 * the latency from the moment the frame holding the criterion was sent.
 *
 * A benchmark, not a test: nothing here asserts a timing; correctness checks (every frame
 * acknowledged, every episode alerted to its care team and nobody else) are reported.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { AssignerProtocol, Kafka, logLevel, type Admin } from 'kafkajs';
import WebSocket from 'ws';
import { TECHNICAL_KINDS, type Alert, type AlertKind } from '../contracts/alert.ts';
import { ECG_STRIP_POST_S } from '../contracts/ecg-strip.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Patient } from '@medplum/fhirtypes';
import { openDevIssuer } from '../dashboard-api/dev-issuer.ts';
import { demoPatientIdentity } from '../dashboard-api/patient-directory.ts';
import type { WireFormat } from '../device-sim/wire-format.ts';
import { KafkaBus } from '../platform/bus/index.ts';
import { createLogger, silentLogger } from '../platform/log.ts';
import { BusRegistry } from '../platform/registry/index.ts';
import { InfluxVitalsStore } from '../platform/store/index.ts';
import { startFhirServer } from '../test/helpers/fhir-server.ts';
import { freePort, freeServicePort, sleep, waitFor } from '../test/helpers/wait.ts';
import type { E2eDevice, E2eEcgMode, EpisodeTruth, LoadStats } from './e2e-load.ts';
import { issueBenchDeviceCertificates } from './e2e-pki.ts';
import { RpcChild } from './ipc-rpc.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '20' },
    processors: { type: 'string', default: '1' },
    partitions: { type: 'string', default: '6' },
    'episode-fraction': { type: 'string', default: '0.05' },
    format: { type: 'string', default: 'v1' },
    ecg: { type: 'string', default: 'none' },
    'criterion-lead-ms': { type: 'string', default: '0' },
    'kill-processor-at': { type: 'string' },
    'stop-processor-at': { type: 'string' },
    'clinician-team': { type: 'string', default: '50' },
    /** Kafka session timeout of every component (how long a SIGKILLed processor's partitions wait). */
    'session-timeout-ms': { type: 'string', default: '10000' },
    'no-aedes-baseline': { type: 'boolean', default: false },
    /** Exit 1 on a correctness problem (never on a timing): the CI smoke run. */
    check: { type: 'boolean', default: false },
    /** Write a V8 CPU profile of every component into this folder (node --cpu-prof), and print the top functions. */
    'cpu-prof-dir': { type: 'string' },
    'cache-dir': { type: 'string', default: path.join(os.tmpdir(), 'pulsebridge-bench-e2e') },
    /** Log level of every component; their logs are kept in <cache-dir>/logs (info: e.g. the processor's "streams handed over"). */
    'log-level': { type: 'string', default: 'warn' },
  },
});
const DEVICES = Number(flags.devices);
const SECONDS = Number(flags.seconds);
const PROCESSORS = Number(flags.processors);
const PARTITIONS = Number(flags.partitions);
const EPISODE_FRACTION = Number(flags['episode-fraction']);
const FORMAT = flags.format as WireFormat;
const ECG = flags.ecg as E2eEcgMode;
const TEAM = Number(flags['clinician-team']);
if (flags['kill-processor-at'] !== undefined && flags['stop-processor-at'] !== undefined) throw new Error('--kill-processor-at or --stop-processor-at, not both');
/** SIGKILL (a crash) or SIGTERM (a graceful stop) of one processor, at KILL_AT_S. */
const KILL_SIGNAL: 'SIGKILL' | 'SIGTERM' = flags['stop-processor-at'] !== undefined ? 'SIGTERM' : 'SIGKILL';
const killAtFlag = flags['kill-processor-at'] ?? flags['stop-processor-at'];
const KILL_AT_S = killAtFlag === undefined ? undefined : Number(killAtFlag);
for (const [name, v, min] of [['devices', DEVICES, 1], ['seconds', SECONDS, 15], ['processors', PROCESSORS, 1], ['partitions', PARTITIONS, 1], ['clinician-team', TEAM, 1]] as const) {
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be a whole number ≥ ${min}`);
}
if (!(EPISODE_FRACTION > 0 && EPISODE_FRACTION <= 1)) throw new Error('--episode-fraction must be in (0, 1]');
if (FORMAT !== 'v1' && FORMAT !== 'v2') throw new Error('--format must be v1 or v2');
if (!['none', 'with-beats', 'only'].includes(ECG)) throw new Error('--ecg must be none, with-beats or only');
const CRITERION_LEAD: number | 'random' = flags['criterion-lead-ms'] === 'random' ? 'random' : Number(flags['criterion-lead-ms']);
if (CRITERION_LEAD !== 'random' && !(Number.isInteger(CRITERION_LEAD) && CRITERION_LEAD >= 0 && CRITERION_LEAD <= 998)) throw new Error('--criterion-lead-ms must be a whole number in 0 … 998, or random');
if (KILL_AT_S !== undefined && (PROCESSORS < 2 || !(KILL_AT_S > 0 && KILL_AT_S < SECONDS))) throw new Error('--kill-processor-at / --stop-processor-at need --processors ≥ 2 and a time inside --seconds');

const log = (line: string) => process.stderr.write(`[bench:e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const pct = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
const r1 = (x: number) => Math.round(x * 10) / 10;
const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const benchStarted = Date.now();

// ---- per-process CPU and memory from /proc --------------------------------------------------

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
  } catch {
    return NaN;
  }
}
function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}
function machineBusySeconds(): number {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return (cpu.reduce((a, b) => a + b, 0) - idle) / TICKS;
}

// ---- services of our own ----------------------------------------------------------------------

interface Services { kafkaBrokers: string[]; influxUrl: string; stop(): void }

async function startOwnServices(stateDir: string): Promise<Services> {
  const env = {
    ...process.env,
    SERVICES_STATE_DIR: stateDir,
    SERVICES_KAFKA_PORT: String(await freeServicePort()),
    SERVICES_KAFKA_CONTROLLER_PORT: String(await freeServicePort()),
    SERVICES_INFLUX_PORT: String(await freeServicePort()),
    SERVICES_INFLUX_RPC_PORT: String(await freeServicePort()),
    SERVICES_START_TIMEOUT_S: '180',
  };
  const run = (cmd: string) => execFileSync('bash', [path.join(ROOT, 'scripts/services.sh'), cmd], { env, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  log(`starting a Kafka broker and an InfluxDB of our own (state in ${stateDir})`);
  try {
    run('start');
  } catch (err) {
    // (What did start — Kafka before a failed InfluxDB — must not outlive the bench.)
    try { run('stop'); } catch { /* reported by services.sh */ }
    fs.rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
  return {
    kafkaBrokers: [`127.0.0.1:${env.SERVICES_KAFKA_PORT}`],
    influxUrl: `http://127.0.0.1:${env.SERVICES_INFLUX_PORT}`,
    stop: () => {
      try { run('stop'); } catch (err) { log(`services stop failed: ${(err as Error).message}`); }
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

// ---- components ---------------------------------------------------------------------------------

interface Component { name: string; child: ChildProcess; pid: number; exited: Promise<void> }

function startComponent(name: string, command: string, env: Record<string, string>): Component {
  const prof = flags['cpu-prof-dir'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(flags['cpu-prof-dir']), '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const child = spawn(process.execPath, ['--expose-gc', ...prof, '--disable-warning=ExperimentalWarning', '--import', path.join(ROOT, 'bench/e2e-probe.ts'), 'cli/main.ts', command], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let tail = '';
  // Every component's log (JSON lines, warn and up) is kept for reading after the run.
  const logDir = path.join(flags['cache-dir']!, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = fs.createWriteStream(path.join(logDir, `${name}.log`));
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
    logFile.write(chunk);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', (code, signal) => {
    if (signal !== 'SIGTERM' && signal !== 'SIGKILL' && code !== 0) log(`${name} exited (code ${code}, signal ${signal}); stderr tail:\n${tail}`);
    resolve();
  }));
  return { name, child, pid: child.pid!, exited };
}

function memoryOf(c: Component): Promise<{ rssBytes: number; heapUsedBytes: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${c.name}: no memory answer`)), 30_000);
    const onMessage = (m: unknown) => {
      const mem = (m as { pbBenchMemory?: { rssBytes: number; heapUsedBytes: number } }).pbBenchMemory;
      if (!mem) return;
      clearTimeout(timer);
      c.child.off('message', onMessage);
      resolve(mem);
    };
    c.child.on('message', onMessage);
    c.child.send('pb-bench-memory');
  });
}

async function stopComponent(c: Component): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill('SIGTERM');
  await Promise.race([c.exited, sleep(15_000)]);
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
}

// ---- Kafka lag --------------------------------------------------------------------------------

async function groupLag(admin: Admin, groupId: string): Promise<{ end: number; committed: number; lag: number }> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(STREAMS.telemetry), admin.fetchOffsets({ groupId, topics: [STREAMS.telemetry] })]);
  const end = ends.reduce((a, p) => a + Number(p.high), 0);
  const done = (committed[0]?.partitions ?? []).reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
  return { end, committed: done, lag: end - done };
}

async function groupAssignment(admin: Admin, groupId: string): Promise<{ members: number; partitions: number; state: string }> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  let partitions = 0;
  for (const m of g?.members ?? []) {
    if (m.memberAssignment.length === 0) continue;
    partitions += AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[STREAMS.telemetry]?.length ?? 0;
  }
  return { members: g?.members.length ?? 0, partitions, state: g?.state ?? 'Unknown' };
}

// ---- InfluxDB -----------------------------------------------------------------------------------

async function influxHttpStats(url: string): Promise<{ writeReq: number; pointsWrittenOK: number }> {
  const vars = (await (await fetch(`${url}/debug/vars`)).json()) as Record<string, { name?: string; values?: Record<string, number> }>;
  const httpd = Object.values(vars).find((v) => v?.name === 'httpd')?.values ?? {};
  return { writeReq: httpd.writeReq ?? 0, pointsWrittenOK: httpd.pointsWrittenOK ?? 0 };
}

async function influxLastHeartRateMs(url: string, patientId: string): Promise<number | undefined> {
  const q = encodeURIComponent(`SELECT last(hr_bpm) FROM heart_rate WHERE patient='${patientId}'`);
  const res = await fetch(`${url}/query?db=pulsebridge&epoch=ms&q=${q}`);
  const body = (await res.json()) as { results?: { series?: { values?: [number, number][] }[] }[] };
  return body.results?.[0]?.series?.[0]?.values?.[0]?.[0];
}

/** Heart-rate and RR line-protocol points like the processor writes, for `frames` frames. */
function syntheticPoints(frames: number): { heartRate: { patientId: string; deviceId: string; timeMs: number; hrBpm: number }[]; rr: { patientId: string; deviceId: string; timeMs: number; rrMs: number; cls: 'N' }[] } {
  const heartRate = [];
  const rr = [];
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < frames; i++) {
    const dev = i % DEVICES;
    const k = Math.floor(i / DEVICES);
    const patientId = `raw-pat-${dev}`;
    const deviceId = `raw-dev-${dev}`;
    const end = t0 + dev + (k + 1) * 1000;
    heartRate.push({ patientId, deviceId, timeMs: end, hrBpm: 75 });
    rr.push({ patientId, deviceId, timeMs: end - 600, rrMs: 800, cls: 'N' as const });
  }
  return { heartRate, rr };
}

function lineOf(p: { patientId: string; deviceId: string; timeMs: number }, measurement: string, field: string): string {
  return `${measurement},patient=${p.patientId},device=${p.deviceId}${measurement === 'rr_interval' ? ',cls=N' : ''} ${field} ${p.timeMs}`;
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const runId = Date.now().toString(36);
  fs.mkdirSync(flags['cache-dir']!, { recursive: true });
  const dataDir = path.join(flags['cache-dir']!, 'data');
  const services = await startOwnServices(fs.mkdtempSync(path.join(os.tmpdir(), 'pb-bench-e2e-services-')));
  const cleanups: (() => Promise<void> | void)[] = [() => services.stop()];
  const cleanup = async () => { for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((err: unknown) => log(`cleanup: ${(err as Error).message}`)); cleanups.length = 0; };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await run(services, dataDir, runId, cleanups);
  } finally {
    await cleanup();
  }
}

async function run(services: Services, dataDir: string, runId: string, cleanups: (() => Promise<void> | void)[]): Promise<void> {
  const { kafkaBrokers, influxUrl } = services;
  // ---- devices, certificates, registry
  const ids = Array.from({ length: DEVICES }, (_, i) => `e2e-dev-${String(i).padStart(5, '0')}`);
  let t = Date.now();
  const creds = await issueBenchDeviceCertificates(dataDir, ids);
  log(`${DEVICES} device certificates ready (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  const every = Math.max(1, Math.round(1 / EPISODE_FRACTION));
  let episodeCount = 0;
  const devices: E2eDevice[] = creds.map((c, i) => {
    const patientId = `e2e-pat-${String(i).padStart(5, '0')}`;
    const episode = i % every === every - 1 ? (episodeCount++ % 2 === 0 ? 'asystole' as const : 'extreme_brady' as const) : undefined;
    return { ...c, patientId, ...(episode ? { episode } : {}) };
  });

  const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: 'bench-e2e', logger: silentLogger });
  cleanups.push(() => bus.close());
  const { streamPartitions } = await import('../platform/adapters.ts');
  await bus.ensureStreams(streamPartitions(PARTITIONS));
  t = Date.now();
  // A broker that has just started may not host a new topic's partitions for a moment.
  const openRegistry = async (attempt = 1): Promise<BusRegistry> => {
    try {
      return await BusRegistry.open({ bus, logger: createLogger('warn', { component: 'bench-registry' }), keepAuditTrail: false });
    } catch (err) {
      if (attempt >= 5) throw err;
      log(`registry not ready (${(err as Error).message}); retrying`);
      await sleep(2_000);
      return openRegistry(attempt + 1);
    }
  };
  const registry = await openRegistry();
  const fromMs = Date.now() - 3_600_000;
  for (let i = 0; i < devices.length; i += 200) {
    await Promise.all(devices.slice(i, i + 200).map((d) => registry.add(d.id, d.patientId, 'bench-e2e', fromMs)));
  }
  await registry.close();
  log(`${DEVICES} devices registered on Kafka (${((Date.now() - t) / 1000).toFixed(1)} s)`);

  // ---- FHIR server, components
  const fhir = await startFhirServer();
  cleanups.push(() => fhir.close());
  // The EHR knows its patients by MRN (ehr-exporter/identity.ts; without an MRN file the demo identity).
  for (const d of devices) await fhir.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [demoPatientIdentity(d.patientId).mrn] });
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const groupId = `bench-e2e-processor-${runId}`;
  const baseEnv: Record<string, string> = {
    PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: kafkaBrokers.join(','), PULSEBRIDGE_STORE: 'influxdb', INFLUX_URL: influxUrl,
    PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_MQTT_PORT: String(mqttPort), PULSEBRIDGE_HTTP_PORT: String(httpPort),
    PULSEBRIDGE_TELEMETRY_PARTITIONS: String(PARTITIONS), PULSEBRIDGE_PROCESSOR_GROUP: groupId, PULSEBRIDGE_LOG_LEVEL: flags['log-level']!,
    PULSEBRIDGE_FHIR_BASE_URL: fhir.baseUrl, PULSEBRIDGE_GATEWAY_ID: `bench-e2e-${runId}`, KAFKA_SESSION_TIMEOUT_MS: flags['session-timeout-ms']!,
  };
  const components: Component[] = [];
  const start = (name: string, command: string, extra: Record<string, string> = {}) => {
    const c = startComponent(name, command, { ...baseEnv, KAFKA_CLIENT_ID: `bench-${name}`, ...extra });
    components.push(c);
    cleanups.push(() => stopComponent(c));
    return c;
  };
  const gateway = start('gateway', 'gateway');
  const processors = Array.from({ length: PROCESSORS }, (_, i) => start(`processor-${i + 1}`, 'processor'));
  const dashboard = start('dashboard-api', 'dashboard-api');
  const ehr = start('ehr-exporter', 'ehr-exporter');
  const kafka = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  cleanups.push(() => admin.disconnect());
  // When each ECG strip reached the bus (devices that stream ECG): the EHR exporter waits for it.
  const stripSeenAt = new Map<string, number>();
  const stripConsumer = kafka.consumer({ groupId: `bench-e2e-strips-${runId}`, maxWaitTimeInMs: 100 });
  await stripConsumer.connect();
  cleanups.push(() => stripConsumer.disconnect());
  await stripConsumer.subscribe({ topics: [STREAMS.ecgStrips], fromBeginning: true });
  void stripConsumer.run({
    eachMessage: async ({ message }) => {
      const alertId = message.value ? (JSON.parse(message.value.toString('utf8')) as { alertId?: string }).alertId : undefined;
      if (alertId !== undefined && !stripSeenAt.has(alertId)) stripSeenAt.set(alertId, Date.now());
    },
  });
  await waitFor('the gateway port', () => new Promise<true | undefined>((resolve) => {
    const s = net.connect(mqttPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(undefined));
  }), 120_000);
  await waitFor('the dashboard-api', async () => ((await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined))?.ok ? true : undefined), 120_000);
  await waitFor(`${PROCESSORS} processor(s) owning all ${PARTITIONS} partitions`, async () => {
    const a = await groupAssignment(admin, groupId).catch(() => undefined);
    return a && a.members === PROCESSORS && a.partitions === PARTITIONS && a.state === 'Stable' ? true : undefined;
  }, 180_000);
  log(`components up: gateway, ${PROCESSORS} processor(s), dashboard-api, ehr-exporter; telemetry partitions ${PARTITIONS}`);

  // ---- clinicians: one WebSocket per care team of TEAM patients
  const issuer = await openDevIssuer({ dataDir });
  const teams: string[][] = [];
  for (let i = 0; i < devices.length; i += TEAM) teams.push(devices.slice(i, i + TEAM).map((d) => d.patientId));
  const firstAlertAt = new Map<string, number>(); // `${patientId}/${kind}` → receive time
  const firstAlertId = new Map<string, string>();
  let alertMessages = 0;
  const alertKinds: Record<string, number> = {};
  let foreignAlerts = 0;
  const sockets: WebSocket[] = [];
  await Promise.all(teams.map(async (team, i) => {
    const token = await issuer.issueToken({ sub: `bench-clinician-${i}`, role: 'clinician', patients: team, ttlSeconds: 6 * 3600 });
    const inTeam = new Set(team);
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/v1/stream?access_token=${token}`);
    sockets.push(ws);
    ws.on('message', (data: Buffer) => {
      const at = Date.now();
      const m = JSON.parse(data.toString()) as { type: string; alert?: Alert };
      if (m.type !== 'alert' || !m.alert) return;
      alertMessages++;
      alertKinds[m.alert.kind] = (alertKinds[m.alert.kind] ?? 0) + 1;
      if (!inTeam.has(m.alert.patientId)) foreignAlerts++;
      const key = `${m.alert.patientId}/${m.alert.kind}`;
      if (!firstAlertAt.has(key)) { firstAlertAt.set(key, at); firstAlertId.set(key, m.alert.id); }
    });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  }));
  cleanups.push(() => { for (const ws of sockets) ws.terminate(); });
  log(`${teams.length} clinicians connected over WebSocket (care teams of ${TEAM})`);

  // ---- load
  const load = new RpcChild(path.join(ROOT, 'bench/e2e-load.ts'));
  cleanups.push(() => load.close());
  t = Date.now();
  const connected = await load.call<{ connected: number; failed: number; ms: number }>('connect', { port: mqttPort, devices, concurrency: 64 });
  log(`${connected.connected} devices connected over mutual TLS in ${(connected.ms / 1000).toFixed(1)} s (${connected.failed} failed)`);
  // Processor memory before any patient stream exists (after forced GCs): subtracted below.
  const memBefore = new Map(await Promise.all(processors.map(async (p) => [p.name, await memoryOf(p)] as const)));
  const warmupS = Math.min(30, Math.round(SECONDS / 4));
  const episodeFrame = Math.max(10, Math.ceil(warmupS + (SECONDS - warmupS) * 0.3));
  const started = await load.call<{ startMs: number }>('start', { format: FORMAT, episodeFrame, ecg: ECG, criterionLeadMs: CRITERION_LEAD });
  const windowStartMs = started.startMs + warmupS * 1000;
  const windowEndMs = started.startMs + SECONDS * 1000;

  // ---- sampling
  interface Sample { tMs: number; lag: number; end: number; committed: number; load: LoadStats; cpu: Record<string, number>; busy: number }
  const samples: Sample[] = [];
  // A killed component keeps its last reading (its CPU until the kill still counts).
  const lastCpu: Record<string, number> = {};
  const cpuAll = () => {
    for (const [name, pid] of [...components.map((c) => [c.name, c.pid] as const), ['load-generator', load.pid!] as const]) {
      const v = cpuSeconds(pid);
      if (Number.isFinite(v)) lastCpu[name] = v;
    }
    return { ...lastCpu };
  };
  const influxVisible: number[] = [];
  const probes = devices.filter((d) => !d.episode).slice(0, 5).map((d) => ({ patientId: d.patientId, lastMs: 0 }));
  let killed: { atMs: number; name: string } | undefined;
  let rebalance: { stableAfterMs?: number; caughtUpAfterMs?: number; lagBefore?: number } | undefined;
  let influxAtStart: { writeReq: number; pointsWrittenOK: number } | undefined;
  const rssPeak: Record<string, number> = {};
  const probeLoop = (async () => {
    while (Date.now() < windowEndMs) {
      for (const p of probes) {
        const last = await influxLastHeartRateMs(influxUrl, p.patientId).catch(() => undefined);
        const now = Date.now();
        if (last !== undefined && last > p.lastMs) {
          if (p.lastMs > 0 && now >= windowStartMs) influxVisible.push(now - last); // a point is at its frame's end = send time
          p.lastMs = last;
        }
      }
      await sleep(100);
    }
  })();
  while (Date.now() < windowEndMs) {
    const now = Date.now();
    if (!influxAtStart && now >= windowStartMs) influxAtStart = await influxHttpStats(influxUrl);
    const [lag, stats] = await Promise.all([groupLag(admin, groupId), load.call<LoadStats>('stats')]);
    samples.push({ tMs: now, ...lag, load: stats, cpu: cpuAll(), busy: machineBusySeconds() });
    for (const c of components) rssPeak[c.name] = Math.max(rssPeak[c.name] ?? 0, rssBytes(c.pid));
    log(`t=${((now - started.startMs) / 1000).toFixed(0)} s: acked ${stats.acked}/${stats.sent}, lag ${lag.lag}, PUBACK p99 ${r1(stats.pubackP99Ms)} ms`);
    if (KILL_AT_S !== undefined && !killed && now >= started.startMs + KILL_AT_S * 1000) {
      const victim = processors[0]!;
      killed = { atMs: Date.now(), name: victim.name };
      rebalance = { lagBefore: lag.lag };
      victim.child.kill(KILL_SIGNAL);
      log(`${KILL_SIGNAL} ${victim.name}`);
      void (async () => {
        await waitFor('the group stable without the killed processor', async () => {
          const a = await groupAssignment(admin, groupId).catch(() => undefined);
          return a && a.members === PROCESSORS - 1 && a.partitions === PARTITIONS && a.state === 'Stable' ? true : undefined;
        }, 120_000).then(() => { rebalance!.stableAfterMs = Date.now() - killed!.atMs; }, () => {});
        await waitFor('lag back to its level before the kill', async () => ((await groupLag(admin, groupId)).lag <= Math.max(rebalance!.lagBefore!, DEVICES) ? true : undefined), 120_000)
          .then(() => { rebalance!.caughtUpAfterMs = Date.now() - killed!.atMs; }, () => {});
      })();
    }
    await sleep(2_000);
  }
  await probeLoop;
  const influxAtEnd = await influxHttpStats(influxUrl);
  const inWindow = samples.filter((s) => s.tMs >= windowStartMs);
  const first = inWindow[0]!;
  const last = inWindow.at(-1)!;
  const windowS = (last.tMs - first.tMs) / 1000;
  const framesInWindow = last.load.acked - first.load.acked;
  // Lag trend: least-squares slope over the window, frames per second.
  const slope = (() => {
    const xs = inWindow.map((s) => (s.tMs - first.tMs) / 1000);
    const ys = inWindow.map((s) => s.lag);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    const num = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0);
    const den = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    return den > 0 ? num / den : 0;
  })();

  // ---- drain: stop the devices, wait until the processors have read everything and alerts came
  const stopped = await load.call<{ sent: number; acked: number; unacknowledged: number; closedUnexpectedly: number }>('stop');
  const stoppedAtMs = Date.now();
  // After this the devices are silent: signal_loss alarms 10 s later are expected, not counted as load-time alarms.
  const alertKindsWhileSending = { ...alertKinds };
  const drainStarted = Date.now();
  await waitFor('the processors to catch up', async () => ((await groupLag(admin, groupId)).lag === 0 ? true : undefined), 180_000).catch((err: Error) => log(err.message));
  const drainS = (Date.now() - drainStarted) / 1000;
  const episodes = await load.call<EpisodeTruth[]>('episodes');
  await waitFor('every episode alerted', () => (episodes.every((e) => firstAlertAt.has(`${e.patientId}/${e.kind}`)) ? true : undefined), 60_000).catch((err: Error) => log(err.message));
  // The EHR exporter holds a raised alert up to 20 s for its ECG strip (ehr-exporter ecgWaitMs); without ECG no strip comes.
  const ehrWrites = () => fhir.requests.filter((r) => (r.method === 'POST' || r.method === 'PUT') && r.status < 300);
  const ehrWriteOf = (e: EpisodeTruth) => {
    const id = firstAlertId.get(`${e.patientId}/${e.kind}`);
    return id === undefined ? undefined : ehrWrites().find((r) => JSON.stringify(r.body).includes(id));
  };
  const ehrHas = (e: EpisodeTruth) => ehrWriteOf(e) !== undefined;
  await waitFor('every episode in the EHR', () => (episodes.every(ehrHas) ? true : undefined), 60_000).catch((err: Error) => log(err.message));
  // Physiological alarms the script did not call for, raised while the devices sent (each patient's
  // rhythm is sinus at 75 bpm apart from its one scripted episode): false alarms under load.
  const scripted = new Set(episodes.map((e) => `${e.patientId}/${e.kind}`));
  const unexpectedAlerts = [...firstAlertAt].filter(([key, at]) => at <= stoppedAtMs && !scripted.has(key) && !TECHNICAL_KINDS.has(key.split('/')[1] as AlertKind)).map(([key]) => key);
  const alertLatencies = episodes.flatMap((e) => { const at = firstAlertAt.get(`${e.patientId}/${e.kind}`); return at === undefined ? [] : [at - e.criterionMs]; }).sort((a, b) => a - b);
  const sendSkew = episodes.flatMap((e) => (e.frameSentMs === undefined ? [] : [e.frameSentMs - e.criterionMs])).sort((a, b) => a - b);
  // From the moment the frame holding the criterion left the device: the pipeline's part when the
  // criterion falls inside a frame (--criterion-lead-ms), including any wait for the next frame.
  const afterFrameSentByLead = episodes.flatMap((e) => { const at = firstAlertAt.get(`${e.patientId}/${e.kind}`); return at === undefined || e.frameSentMs === undefined ? [] : [[e.kind, e.leadMs, at - e.frameSentMs] as const]; })
    .sort((a, b) => a[1] - b[1]);
  const afterFrameSent = afterFrameSentByLead.map(([, , ms]) => ms).sort((a, b) => a - b);
  const leads = episodes.map((e) => e.leadMs).sort((a, b) => a - b);
  const byKind = (kind: string) => episodes.filter((e) => e.kind === kind).flatMap((e) => { const at = firstAlertAt.get(`${e.patientId}/${e.kind}`); return at === undefined ? [] : [at - e.criterionMs]; }).sort((a, b) => a - b);
  // EHR: the first Observation write per (patient, kind) of an episode.
  const ehrDelays: number[] = [];
  // Observations arrive one per request (conditional create / If-Match update) or inside a transaction Bundle.
  type Body = { resourceType?: string; entry?: { resource?: { resourceType?: string } }[] };
  const observationsIn = (body: unknown) => {
    const b = body as Body | undefined;
    if (b?.resourceType === 'Observation') return 1;
    return b?.resourceType === 'Bundle' ? (b.entry ?? []).filter((e) => e.resource?.resourceType === 'Observation').length : 0;
  };
  const observationWrites = fhir.requests.filter((r) => (r.method === 'POST' || r.method === 'PUT') && r.status < 300 && observationsIn(r.body) > 0);
  const observationCount = observationWrites.reduce((a, r) => a + observationsIn(r.body), 0);
  const fhirStatuses: Record<string, number> = {};
  for (const r of fhir.requests) fhirStatuses[`${r.method} ${r.status}`] = (fhirStatuses[`${r.method} ${r.status}`] ?? 0) + 1;
  for (const e of episodes) {
    const w = ehrWriteOf(e);
    if (w) ehrDelays.push(w.atMs - e.criterionMs);
  }
  ehrDelays.sort((a, b) => a - b);
  const stripDelays = episodes.flatMap((e) => { const id = firstAlertId.get(`${e.patientId}/${e.kind}`); const at = id === undefined ? undefined : stripSeenAt.get(id); return at === undefined ? [] : [at - e.criterionMs]; }).sort((a, b) => a - b);
  const ehrSpanS = observationWrites.length > 1 ? (observationWrites.at(-1)!.atMs - observationWrites[0]!.atMs) / 1000 : NaN;

  // ---- memory per patient stream in the processors (after forced GCs)
  const alive = processors.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  const procMem = await Promise.all(alive.map((p) => memoryOf(p)));
  const streamsPerProcessor = DEVICES / alive.length;
  const heapPerStream = procMem.map((m, i) => (m.heapUsedBytes - memBefore.get(alive[i]!.name)!.heapUsedBytes) / streamsPerProcessor);
  const rssPerStream = procMem.map((m, i) => (m.rssBytes - memBefore.get(alive[i]!.name)!.rssBytes) / streamsPerProcessor);
  await load.call('disconnect');
  for (const ws of sockets) ws.terminate();
  await stopComponent(ehr);
  await stopComponent(dashboard);
  for (const p of processors) await stopComponent(p);
  await stopComponent(gateway);

  // ---- CPU per frame per component (measured window)
  const cpuPerFrame: Record<string, number> = {};
  const cpuPct: Record<string, number> = {};
  for (const name of Object.keys(first.cpu)) {
    const used = (last.cpu[name] ?? NaN) - (first.cpu[name] ?? NaN);
    cpuPerFrame[name] = (used * 1e6) / framesInWindow;
    cpuPct[name] = (used / windowS) * 100;
  }
  const machineBusyPct = ((last.busy - first.busy) / windowS) * 100;
  const processorCpuUsPerFrame = processors.reduce((a, p) => a + (Number.isFinite(cpuPerFrame[p.name]!) ? cpuPerFrame[p.name]! : 0), 0);
  const influxWrites = influxAtEnd.writeReq - (influxAtStart?.writeReq ?? 0);
  const influxPoints = influxAtEnd.pointsWrittenOK - (influxAtStart?.pointsWrittenOK ?? 0);
  const influxWindowS = (Date.now() - windowStartMs) / 1000; // counters read after the drain started; see note

  // ---- baselines in the same run
  log('baseline: raw kafkajs consume of the telemetry topic');
  const topicEnd = (await admin.fetchTopicOffsets(STREAMS.telemetry)).reduce((a, p) => a + Number(p.high), 0);
  const rawConsumeOnce = async (attempt: number) => {
    const consumer = kafka.consumer({ groupId: `bench-raw-${runId}-${attempt}`, maxWaitTimeInMs: 100 });
    let n = 0;
    let firstAt = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [STREAMS.telemetry], fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch }) => {
          if (!firstAt) firstAt = performance.now();
          // What any consumer must do at least: parse each record.
          for (const m of batch.messages) if (m.value) JSON.parse(m.value.toString('utf8'));
          n += batch.messages.length;
          if (n >= topicEnd) resolve();
        },
      });
    });
    const cpu0 = process.cpuUsage();
    await Promise.race([done, sleep(120_000)]);
    const s = (performance.now() - firstAt) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await consumer.disconnect();
    return { records: n, seconds: s, perSecond: n / s, cpuUsPerRecord: (cpu.user + cpu.system) / n };
  };
  // Three fresh groups, median by rate: one read of a topic this size lasts seconds on a shared machine.
  const rawRuns = [];
  for (let i = 1; i <= 3; i++) rawRuns.push(await rawConsumeOnce(i));
  rawRuns.sort((a, b) => a.perSecond - b.perSecond);
  const rawConsume = rawRuns[1]!;
  log(`raw kafkajs: ${fmt(rawConsume.perSecond)} records/s`);

  log('ours: a fresh processor (own group) reads the same topic from the beginning');
  const catchUpGroup = `bench-e2e-catchup-${runId}`;
  const catchUp = start('processor-catch-up', 'processor', { PULSEBRIDGE_PROCESSOR_GROUP: catchUpGroup });
  const oursConsume = await (async () => {
    let firstProgress: { tMs: number; committed: number; cpu: number } | undefined;
    let lastSeen: { tMs: number; committed: number; cpu: number } | undefined;
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      const l = await groupLag(admin, catchUpGroup).catch(() => undefined);
      if (l) {
        const point = { tMs: Date.now(), committed: l.committed, cpu: cpuSeconds(catchUp.pid) };
        if (!firstProgress && l.committed > 0) firstProgress = point;
        lastSeen = point;
        if (l.lag === 0 && l.committed > 0) break;
      }
      await sleep(250);
    }
    await stopComponent(catchUp);
    if (!firstProgress || !lastSeen || lastSeen.committed === firstProgress.committed) return { records: 0, seconds: NaN, perSecond: NaN, cpuUsPerRecord: NaN };
    const records = lastSeen.committed - firstProgress.committed;
    const seconds = (lastSeen.tMs - firstProgress.tMs) / 1000;
    return { records, seconds, perSecond: records / seconds, cpuUsPerRecord: ((lastSeen.cpu - firstProgress.cpu) * 1e6) / records };
  })();
  log(`processor catch-up: ${fmt(oursConsume.perSecond)} records/s`);

  log('baseline: raw InfluxDB /write, batches of 5,000, against our store adapter with the same points');
  const influxFrames = Math.min(Math.max(framesInWindow, 20_000), 100_000);
  const points = syntheticPoints(influxFrames);
  const lines = [...points.heartRate.map((p) => lineOf(p, 'heart_rate', `hr_bpm=${p.hrBpm}`)), ...points.rr.map((p) => lineOf(p, 'rr_interval', `rr_ms=${p.rrMs}i`))];
  await fetch(`${influxUrl}/query?q=${encodeURIComponent('CREATE DATABASE bench_raw')}`, { method: 'POST' });
  let tRaw = performance.now();
  for (let i = 0; i < lines.length; i += 5000) {
    const res = await fetch(`${influxUrl}/write?db=bench_raw&precision=ms`, { method: 'POST', body: lines.slice(i, i + 5000).join('\n') });
    if (res.status !== 204) throw new Error(`raw write: ${res.status} ${await res.text()}`);
  }
  const rawInflux = { points: lines.length, perSecond: lines.length / ((performance.now() - tRaw) / 1000) };
  const ourStore = new InfluxVitalsStore({ url: influxUrl, database: 'bench_ours' });
  await ourStore.init();
  tRaw = performance.now();
  // As the processor does: one write per consumed batch (kafkajs hands ~1 partition fetch, here 1,000 frames).
  for (let i = 0; i < points.heartRate.length; i += 1000) await ourStore.write({ heartRate: points.heartRate.slice(i, i + 1000), rr: points.rr.slice(i, i + 1000) });
  const oursInflux = { points: lines.length, perSecond: lines.length / ((performance.now() - tRaw) / 1000) };
  await ourStore.close();

  let aedes: { cpuUsPerFrame: number; frames: number; cpuPct: number } | undefined;
  if (!flags['no-aedes-baseline']) {
    log(`baseline: raw aedes with the same ${DEVICES} devices at 1 frame/s`);
    const server = new RpcChild(path.join(ROOT, 'bench/server-under-test.ts'), ['--expose-gc']);
    const aedesLoad = new RpcChild(path.join(ROOT, 'bench/e2e-load.ts'));
    try {
      const { port } = await server.call<{ port: number }>('start', { kind: 'aedes', bus: 'memory', pkiDataDir: dataDir, deviceIds: [], kafkaBrokers: [] });
      await aedesLoad.call('connect', { port, devices: devices.map(({ episode: _e, ...d }) => d), concurrency: 64 });
      const st = await aedesLoad.call<{ startMs: number }>('start', { format: FORMAT, episodeFrame: 1_000_000, ecg: ECG });
      const measureS = Math.min(30, Math.max(10, Math.round(SECONDS / 4)));
      await sleep(Math.max(0, st.startMs + 5_000 - Date.now()));
      const c0 = await server.call<{ userUs: number; systemUs: number }>('cpu');
      const a0 = await aedesLoad.call<LoadStats>('stats');
      await sleep(measureS * 1000);
      const c1 = await server.call<{ userUs: number; systemUs: number }>('cpu');
      const a1 = await aedesLoad.call<LoadStats>('stats');
      const frames = a1.acked - a0.acked;
      const us = c1.userUs + c1.systemUs - c0.userUs - c0.systemUs;
      aedes = { cpuUsPerFrame: us / frames, frames, cpuPct: us / 1e4 / measureS };
      await aedesLoad.call('stop');
      await aedesLoad.call('disconnect');
      await server.call('shutdown');
    } finally {
      aedesLoad.close();
      server.close();
    }
  }

  // ---- report
  const lagGrowing = slope > Math.max(5, DEVICES * 0.01);
  // Frames the processors committed per second in the window: what the whole path kept up with.
  const processedPerS = (last.committed - first.committed) / windowS;
  const sustained = !lagGrowing && stopped.unacknowledged === 0 && stopped.closedUnexpectedly === 0 ? DEVICES : Math.floor(processedPerS);
  const result = {
    command: `npm run bench:e2e -- --devices ${DEVICES} --seconds ${SECONDS} --processors ${PROCESSORS} --partitions ${PARTITIONS}${FORMAT !== 'v1' ? ` --format ${FORMAT}` : ''}${ECG !== 'none' ? ` --ecg ${ECG}` : ''}${CRITERION_LEAD !== 0 ? ` --criterion-lead-ms ${CRITERION_LEAD}` : ''}${KILL_AT_S !== undefined ? ` --${KILL_SIGNAL === 'SIGTERM' ? 'stop' : 'kill'}-processor-at ${KILL_AT_S}` : ''}`,
    devices: DEVICES, seconds: SECONDS, processors: PROCESSORS, partitions: PARTITIONS, format: FORMAT, ecg: ECG, nproc: os.cpus().length,
    window: { seconds: r1(windowS), frames: framesInWindow, framesPerSecond: r1(framesInWindow / windowS), machineBusyPct: r1(machineBusyPct) },
    correctness: { sent: stopped.sent, acked: stopped.acked, unacknowledged: stopped.unacknowledged, connectionsDropped: stopped.closedUnexpectedly, episodes: episodes.length, episodesAlerted: alertLatencies.length, unexpectedPhysiologicalAlerts: unexpectedAlerts.length, unexpectedAlertExamples: unexpectedAlerts.slice(0, 10), alertMessages, alertMessagesByKindWhileSending: alertKindsWhileSending, alertMessagesByKind: alertKinds, alertsOutsideCareTeam: foreignAlerts },
    lag: { slopeFramesPerS: r1(slope), growing: lagGrowing, maxInWindow: Math.max(...inWindow.map((s) => s.lag)), atWindowEnd: last.lag, drainSeconds: r1(drainS) },
    sustainedDevices: sustained, processedFramesPerS: r1(processedPerS),
    alertLatencyMs: { n: alertLatencies.length, p50: pct(alertLatencies, 0.5), p95: pct(alertLatencies, 0.95), p99: pct(alertLatencies, 0.99), max: alertLatencies.at(-1) ?? NaN,
      asystoleP99: pct(byKind('asystole'), 0.99), extremeBradyP99: pct(byKind('extreme_brady'), 0.99), decidingFrameSentAfterCriterionP99: pct(sendSkew, 0.99),
      criterionLeadMs: { setting: CRITERION_LEAD, min: leads[0] ?? NaN, max: leads.at(-1) ?? NaN },
      afterCriterionFrameSent: { byLead: CRITERION_LEAD === 0 ? undefined : afterFrameSentByLead, n: afterFrameSent.length, p50: pct(afterFrameSent, 0.5), p95: pct(afterFrameSent, 0.95), p99: pct(afterFrameSent, 0.99), max: afterFrameSent.at(-1) ?? NaN } },
    pubackMs: { p50: last.load.pubackP50Ms, p99: last.load.pubackP99Ms },
    influxVisibleMs: { n: influxVisible.length, p50: pct(influxVisible.sort((a, b) => a - b), 0.5), p99: pct(influxVisible, 0.99), max: influxVisible.at(-1) ?? NaN },
    cpuUsPerFrame: Object.fromEntries(Object.entries(cpuPerFrame).map(([k, v]) => [k, r1(v)])),
    cpuPct: Object.fromEntries(Object.entries(cpuPct).map(([k, v]) => [k, r1(v)])),
    rssPeakMiB: Object.fromEntries(Object.entries(rssPeak).map(([k, v]) => [k, r1(v / 1048576)])),
    processorMemory: { streamsPerProcessor, heapBytesPerStream: heapPerStream.map(Math.round), rssBytesPerStream: rssPerStream.map(Math.round), note: '(after the run − before the first frame), both after forced GCs, ÷ streams the processor owns' },
    influx: { writes: influxWrites, points: influxPoints, linesPerWrite: r1(influxPoints / Math.max(1, influxWrites)), writesPerSecond: r1(influxWrites / influxWindowS),
      rawBatch5000PointsPerS: Math.round(rawInflux.perSecond), oursPointsPerS: Math.round(oursInflux.perSecond), ratio: r1((oursInflux.perSecond / rawInflux.perSecond) * 100) },
    ecgStripMs: { n: stripDelays.length, p50: pct(stripDelays, 0.5), p99: pct(stripDelays, 0.99), max: stripDelays.at(-1) ?? NaN },
    ehr: { requests: fhirStatuses, observations: observationCount, observationWrites: observationWrites.length, resourcesPerSecond: r1(observationCount / ehrSpanS), delayMsP50: pct(ehrDelays, 0.5), delayMsP99: pct(ehrDelays, 0.99), delayMsMax: ehrDelays.at(-1) ?? NaN },
    consume: { rawKafkajsPerS: Math.round(rawConsume.perSecond), rawCpuUsPerRecord: r1(rawConsume.cpuUsPerRecord), processorPerS: Math.round(oursConsume.perSecond), processorCpuUsPerRecord: r1(oursConsume.cpuUsPerRecord), ratio: r1((oursConsume.perSecond / rawConsume.perSecond) * 100), ratioByCpu: r1((rawConsume.cpuUsPerRecord / oursConsume.cpuUsPerRecord) * 100), rawRunsPerS: rawRuns.map((r) => Math.round(r.perSecond)), records: rawConsume.records },
    gatewayVsAedes: aedes ? { aedesCpuUsPerFrame: r1(aedes.cpuUsPerFrame), gatewayCpuUsPerFrame: r1(cpuPerFrame.gateway!), ratioByCpu: r1((aedes.cpuUsPerFrame / cpuPerFrame.gateway!) * 100) } : null,
    processorCpuUsPerFrame: r1(processorCpuUsPerFrame),
    rebalance: killed ? { killed: killed.name, groupStableAfterMs: rebalance?.stableAfterMs ?? null, lagRecoveredAfterMs: rebalance?.caughtUpAfterMs ?? null } : null,
    totalSeconds: Math.round((Date.now() - benchStarted) / 1000),
  };

  const out = (s: string) => process.stdout.write(s + '\n');
  out('# Pulsebridge end-to-end benchmark\n');
  out(`nproc ${result.nproc}, node ${process.version}; load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; machine busy ${fmt(machineBusyPct)} % of one core during the window`);
  const ecgText = { none: 'no ECG', 'with-beats': 'beats + 250 Hz ECG', only: '250 Hz ECG without beats (the processor finds them)' }[ECG];
  out(`command: ${result.command}; frames ${FORMAT}, 1 s, ${ecgText}; ${episodes.length} scripted episodes (asystole / extreme bradycardia); ${teams.length} clinicians (care teams of ${TEAM})\n`);
  out('| figure | value | baseline (same run) | ours / baseline |');
  out('|---|---:|---:|---:|');
  out(`| devices × 1 frame/s | ${fmt(DEVICES)} (${fmt(result.window.framesPerSecond, 0)} frames/s acknowledged in the ${fmt(windowS)} s window) | | |`);
  out(`| every frame acknowledged, no connection dropped | ${stopped.unacknowledged === 0 && stopped.closedUnexpectedly === 0 ? 'yes' : `NO (${stopped.unacknowledged} unacknowledged, ${stopped.closedUnexpectedly} dropped)`} | | |`);
  out(`| sustained devices at 1 frame/s (lag not growing; else frames/s the processors committed) | ${fmt(sustained)}${lagGrowing ? ` (processors committed ${fmt(processedPerS)} frames/s)` : ''} | | |`);
  out(`| consumer lag: trend, max, at end | ${fmt(slope, 1)} frames/s, ${fmt(result.lag.maxInWindow)}, ${fmt(last.lag)} → ${lagGrowing ? '**growing**' : 'not growing'} | | |`);
  out(`| episodes alerted to their care team (outsiders' messages) | ${alertLatencies.length} / ${episodes.length} (${foreignAlerts}) | | |`);
  out(`| physiological alarms nobody scripted (false alarms), while the devices sent | ${unexpectedAlerts.length}${unexpectedAlerts.length ? ` (${unexpectedAlerts.slice(0, 5).join(', ')})` : ''} | | |`);
  out(`| alert messages on the WebSockets while the devices sent, by kind | ${Object.entries(alertKindsWhileSending).map(([k, n]) => `${k} ${n}`).join(', ')} | | |`);
  out(`| alert latency criterion → WebSocket, p50 / p95 / p99 / max (ms) | ${[0.5, 0.95, 0.99].map((q) => fmt(pct(alertLatencies, q))).join(' / ')} / ${fmt(alertLatencies.at(-1))} | | |`);
  if (CRITERION_LEAD !== 0) out(`| the same from the moment the frame holding the criterion was sent (criterion ${fmt(leads[0])}–${fmt(leads.at(-1))} ms before its frame's end), p50 / p95 / p99 / max (ms) | ${[0.5, 0.95, 0.99].map((q) => fmt(pct(afterFrameSent, q))).join(' / ')} / ${fmt(afterFrameSent.at(-1))} | | |`);
  out(`| frame → visible in InfluxDB, p50 / p99 (ms, polled every ~100 ms × ${probes.length} patients) | ${fmt(result.influxVisibleMs.p50)} / ${fmt(result.influxVisibleMs.p99)} | | |`);
  out(`| PUBACK p50 / p99 (ms, last 2 s of the window) | ${fmt(last.load.pubackP50Ms, 1)} / ${fmt(last.load.pubackP99Ms, 1)} | | |`);
  for (const name of Object.keys(cpuPerFrame)) out(`| CPU ${name}: µs per frame (% of a core) | ${fmt(cpuPerFrame[name], 1)} (${fmt(cpuPct[name])} %) | | |`);
  if (aedes) out(`| gateway CPU per frame vs raw aedes (same devices, 1 frame/s) | ${fmt(cpuPerFrame.gateway, 1)} µs | ${fmt(aedes.cpuUsPerFrame, 1)} µs | ${fmt(result.gatewayVsAedes!.ratioByCpu)} % |`);
  out(`| processor consume rate (fresh group, same topic from the beginning) | ${fmt(oursConsume.perSecond)} records/s (${fmt(oursConsume.cpuUsPerRecord, 1)} µs CPU each) | raw kafkajs + JSON.parse: ${fmt(rawConsume.perSecond)}/s (median of 3; ${fmt(rawConsume.cpuUsPerRecord, 1)} µs CPU each) | ${fmt(result.consume.ratio)} % (by CPU per record ${fmt(result.consume.ratioByCpu)} %) |`);
  out(`| InfluxDB points/s, our store adapter vs raw /write (5,000 per batch) | ${fmt(oursInflux.perSecond)} | ${fmt(rawInflux.perSecond)} | ${fmt(result.influx.ratio)} % |`);
  out(`| InfluxDB in the run: lines per write, writes/s | ${fmt(result.influx.linesPerWrite, 1)}, ${fmt(result.influx.writesPerSecond, 1)} | | |`);
  out(`| processor heap / RSS per patient stream ((after − before) ÷ streams, after forced GCs) | ${heapPerStream.map((b) => fmt(b / 1024, 2)).join(', ')} KiB / ${rssPerStream.map((b) => fmt(b / 1024, 1)).join(', ')} KiB | | |`);
  out(`| EHR Observations written, per second, delay criterion → FHIR write p50 / p99 (ms) | ${observationCount} in ${observationWrites.length} requests, ${fmt(result.ehr.resourcesPerSecond, 1)}/s, ${fmt(result.ehr.delayMsP50)} / ${fmt(result.ehr.delayMsP99)} | | |`);
  if (ECG !== 'none') out(`| ECG strips of the episodes on the bus, delay criterion → strip p50 / p99 (ms; the strip ends ${ECG_STRIP_POST_S} s after the onset) | ${stripDelays.length} / ${episodes.length}, ${fmt(result.ecgStripMs.p50)} / ${fmt(result.ecgStripMs.p99)} | | |`);
  if (killed) out(`| ${KILL_SIGNAL} ${killed.name} at ${fmt((killed.atMs - started.startMs) / 1000, 1)} s (asked: ${KILL_AT_S} s; session timeout ${flags['session-timeout-ms']} ms): group stable again / lag back after (ms) | ${fmt(rebalance?.stableAfterMs)} / ${fmt(rebalance?.caughtUpAfterMs)} | | |`);
  out(`| peak RSS (MiB) | ${Object.entries(rssPeak).map(([k, v]) => `${k} ${fmt(v / 1048576)}`).join(', ')} | | |`);
  out('');
  out(JSON.stringify(result));
  const c = result.correctness;
  const problems = [
    ...(c.unacknowledged > 0 ? [`${c.unacknowledged} frames not acknowledged`] : []),
    ...(c.connectionsDropped > 0 ? [`${c.connectionsDropped} connections dropped`] : []),
    ...(c.episodesAlerted < c.episodes ? [`${c.episodes - c.episodesAlerted} of ${c.episodes} episodes without their alert on the care team's WebSocket`] : []),
    ...(c.alertsOutsideCareTeam > 0 ? [`${c.alertsOutsideCareTeam} alerts delivered outside the care team`] : []),
    ...(c.unexpectedPhysiologicalAlerts > 0 ? [`${c.unexpectedPhysiologicalAlerts} physiological alarms nobody scripted (${c.unexpectedAlertExamples.join(', ')})`] : []),
  ];
  if (flags.check && problems.length > 0) throw new Error(`correctness check failed: ${problems.join('; ')}`);
}

await main().then(() => process.exit(0), (err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
