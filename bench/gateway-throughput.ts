/**
 * Gateway benchmark (issue 3 "Done when"): telemetry throughput of the gateway for JSON v1 and
 * binary v2 frames next to raw aedes QoS 1 throughput on the same machine in the same run, and
 * memory per connected device. Not a test: it prints numbers (BENCHMARKS.md has a run and its
 * reading).
 *
 *   npm run bench            (= node bench/gateway-throughput.ts)
 *   node bench/gateway-throughput.ts --seconds 5 --runs 5 --devices 200 --window 10 --kafka off
 *
 * Processes: this script only orchestrates and prints. Each mode gets a fresh server process
 * (bench/server-under-test.ts, --expose-gc) and a fresh load-generator process
 * (bench/load-client.ts), so the load generator never shares an event loop with the server and
 * baseline and gateway are measured the same way. Loopback only (127.0.0.1).
 *
 * Throughput: K devices, each on its own mutual-TLS connection with its own certificate, keep W
 * QoS 1 telemetry PUBLISHes in flight (closed loop). Per run: connect, warm up, measure, drain,
 * disconnect; the median of the runs is printed. The gateway runs with its rate limit OFF
 * (`rateLimit: false`): the contract's 20 frames/s per device would otherwise cap it at K × 20/s.
 * Printed per mode: frames/s and its ratio to raw aedes with the same payload, PUBACK latency,
 * and CPU: the server's, its µs per frame (robust to other jobs on a shared machine), the load
 * generator's and everything else's (Kafka broker, other jobs; from /proc/stat).
 *
 * Latency at a fixed load: the same K devices, open loop, `--paced-rate` frames/s each, so the
 * PUBACK latency is the path's own and not queueing behind a full window.
 *
 * Memory: N idle devices connect (CONNECT with Last Will, SUBSCRIBE cmd, retained status) to a
 * fresh server process, which forces two full GCs before and after; (after − before) / N is
 * printed for RSS and JS heap, median of `--runs` processes. A few devices connect and leave
 * first so one-time costs (TLS context, code) are not charged to the devices.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kafkaAnswers } from '../platform/bus/index.ts';
import { ensureDevPki, issueDeviceCertificate } from '../platform/security/index.ts';
import { FRAME_VARIANTS, framePool, type FramePool, type FrameVariant } from './bench-frames.ts';
import { RpcChild } from './ipc-rpc.ts';
import type { DeviceCredentialFiles, Mark } from './load-client.ts';
import type { BusKind, MemorySample, ServerKind, SetupParams, StopStats } from './server-under-test.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_SCRIPT = path.join(here, 'server-under-test.ts');
const CLIENT_SCRIPT = path.join(here, 'load-client.ts');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    devices: { type: 'string', default: '100' },
    window: { type: 'string', default: '10' },
    'idle-devices': { type: 'string', default: '500' },
    variants: { type: 'string', default: FRAME_VARIANTS.join(',') },
    kafka: { type: 'string', default: 'auto' },
    'kafka-variants': { type: 'string', default: 'v1,v2' },
    'kafka-brokers': { type: 'string', default: '127.0.0.1:9092' },
    parts: { type: 'string', default: 'throughput,paced,memory' },
    'paced-rate': { type: 'string', default: '20' },
    'paced-variant': { type: 'string', default: 'v1-ecg' },
    'pki-dir': { type: 'string', default: path.join(os.tmpdir(), 'pulsebridge-bench') },
    'server-cpu-prof': { type: 'string' },
  },
});

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) usage(`--${name} must be a positive integer, got ${value}`);
  return n;
}
function variantList(name: string, value: string | undefined): FrameVariant[] {
  const list = (value ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  for (const v of list) if (!(FRAME_VARIANTS as readonly string[]).includes(v)) usage(`--${name}: unknown variant ${v} (known: ${FRAME_VARIANTS.join(', ')})`);
  return list as FrameVariant[];
}
function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node bench/gateway-throughput.ts [--seconds 2] [--warmup 1] [--runs 3] [--devices 100] [--window 10] [--idle-devices 500] [--variants ${FRAME_VARIANTS.join(',')}] [--kafka auto|on|off] [--kafka-variants v1,v2] [--kafka-brokers host:port] [--parts throughput,paced,memory] [--paced-rate 20] [--paced-variant v1-ecg] [--pki-dir dir] [--server-cpu-prof dir]\n`);
  process.exit(2);
}

const options = {
  measureMs: positiveInt('seconds', args.seconds) * 1000,
  warmupMs: positiveInt('warmup', args.warmup) * 1000,
  runs: positiveInt('runs', args.runs),
  devices: positiveInt('devices', args.devices),
  windowPerDevice: positiveInt('window', args.window),
  idleDevices: positiveInt('idle-devices', args['idle-devices']),
  variants: variantList('variants', args.variants),
  kafkaVariants: variantList('kafka-variants', args['kafka-variants']),
  parts: new Set((args.parts ?? '').split(',').map((p) => p.trim()).filter(Boolean)),
  pacedRateHz: positiveInt('paced-rate', args['paced-rate']),
  pacedVariant: variantList('paced-variant', args['paced-variant'])[0] ?? usage('--paced-variant needs a variant'),
  kafka: args.kafka ?? 'auto',
  kafkaBrokers: (args['kafka-brokers'] ?? '').split(',').map((b) => b.trim()).filter(Boolean),
  pkiDataDir: args['pki-dir'] ?? '',
  /** Where the server processes write V8 CPU profiles (--cpu-prof), to see where the time goes. */
  serverCpuProfDir: args['server-cpu-prof'],
};
for (const p of options.parts) if (!['throughput', 'paced', 'memory'].includes(p)) usage(`--parts: unknown part ${p} (known: throughput, paced, memory)`);
if (!['auto', 'on', 'off'].includes(options.kafka)) usage(`--kafka must be auto, on or off, got ${options.kafka}`);

// The benchmark stops by itself, whatever happens.
const HARD_LIMIT_MS = 10 * 60_000;
const children = new Set<RpcChild>();
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: still running after ${HARD_LIMIT_MS / 60_000} min; stopping\n`);
  for (const c of children) if (c.pid) process.kill(c.pid, 'SIGKILL');
  process.exit(1);
}, HARD_LIMIT_MS);
watchdog.unref();

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

function spawn(script: string, execArgv: string[] = []): RpcChild {
  const child = new RpcChild(script, execArgv);
  children.add(child);
  return child;
}
async function closeChild(child: RpcChild): Promise<void> {
  await child.close();
  children.delete(child);
}

// ---- set-up: machine, certificates, Kafka ------------------------------------------------

function machine(): string[] {
  const cpus = os.cpus();
  const freeH = (() => {
    try { return execFileSync('free', ['-h'], { encoding: 'utf8' }).trim(); } catch { return `${Math.round(os.totalmem() / 2 ** 30)} GiB total`; }
  })();
  return [
    `nproc: ${os.availableParallelism()} (${cpus[0]?.model ?? 'unknown CPU'})`,
    `node: ${process.version}, ${os.type()} ${os.release()} ${os.arch()}`,
    `load average at start (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    'free -h:',
    ...freeH.split('\n').map((l) => `  ${l}`),
  ];
}

/** The commit benchmarked, and whether the code under test differs from it. */
function sourceVersion(): string {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { cwd: path.join(here, '..'), encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--', 'gateway', 'platform', 'contracts', 'bench');
    return `code: commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ` with uncommitted changes in: ${dirty.split('\n').map((l) => l.slice(3)).join(', ')}` : ' (gateway, platform, contracts, bench unmodified)'}`;
  } catch {
    return 'code: not a git checkout';
  }
}

const serverExecArgv = (label: string) => [
  '--expose-gc',
  ...(options.serverCpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.serverCpuProfDir}`, `--cpu-prof-name=${label.replace(/[^A-Za-z0-9.-]+/g, '_')}.cpuprofile`] : []),
];

function deviceId(i: number): string {
  return `bench-dev-${String(i).padStart(4, '0')}`;
}

/** One certificate per device (CN = client id), kept in --pki-dir between runs: openssl costs ~65 ms each. */
function credentials(count: number): DeviceCredentialFiles[] {
  const started = performance.now();
  ensureDevPki(options.pkiDataDir);
  let issued = 0;
  const creds: DeviceCredentialFiles[] = [];
  for (let i = 0; i < count; i++) {
    const id = deviceId(i);
    if (!fs.existsSync(path.join(options.pkiDataDir, 'pki', 'devices', `${id}.crt`))) issued++;
    creds.push({ id, ...issueDeviceCertificate(options.pkiDataDir, id) });
  }
  progress(`${count} device certificates ready in ${options.pkiDataDir} (${issued} issued now, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return creds;
}

const kafkaUp = (brokers: string[]) => kafkaAnswers(brokers, 'pulsebridge-bench-probe');

// ---- throughput ----------------------------------------------------------------------------

interface ThroughputMode {
  label: string;
  kind: ServerKind;
  bus: BusKind;
  pool: FramePool;
  /** Open loop at this rate per device (latency at a fixed load); closed loop when absent. */
  ratePerDeviceHz?: number;
}
interface RunResult {
  frames: number;
  seconds: number;
  framesPerS: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuPct: number;
  clientCpuPct: number;
  /** CPU of everything else on the machine meanwhile (Kafka broker, other jobs), % of one core; NaN off Linux. */
  otherCpuPct: number;
}
interface ModeResult { mode: ThroughputMode; runs: RunResult[] }

interface CpuSample { tMs: number; userUs: number; systemUs: number }
/** Busy CPU time of the whole machine so far, ms (Linux /proc/stat; USER_HZ is 100 on Linux). */
function machineBusyMs(): number {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy = all − idle − iowait.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - (fields[3] ?? 0) - (fields[4] ?? 0)) * 10;
  } catch {
    return NaN;
  }
}

const cpuPct = (a: CpuSample, b: CpuSample) => (100 * ((b.userUs - a.userUs) + (b.systemUs - a.systemUs)) / 1000) / (b.tMs - a.tMs);

async function throughputMode(mode: ThroughputMode, creds: DeviceCredentialFiles[], kafkaBrokers: string[]): Promise<ModeResult> {
  const server = spawn(SERVER_SCRIPT, serverExecArgv(mode.label));
  const client = spawn(CLIENT_SCRIPT);
  const setup: SetupParams = { kind: mode.kind, bus: mode.bus, pkiDataDir: options.pkiDataDir, deviceIds: creds.map((c) => c.id), kafkaBrokers };
  const runs: RunResult[] = [];
  try {
    for (let r = 0; r < options.runs; r++) {
      const { port } = await server.call<{ port: number }>('start', setup);
      await client.call('connect', { port, devices: creds, concurrency: 20 });
      await client.call('startLoad', { payloads: mode.pool.payloads, windowPerDevice: options.windowPerDevice, ratePerDeviceHz: mode.ratePerDeviceHz });
      await sleep(options.warmupMs);
      const m0 = { tMs: performance.now(), busyMs: machineBusyMs() };
      const c0 = await client.call<Mark>('mark');
      const s0 = await server.call<CpuSample>('cpu');
      await sleep(options.measureMs);
      const c1 = await client.call<Mark>('mark');
      const s1 = await server.call<CpuSample>('cpu');
      const m1 = { tMs: performance.now(), busyMs: machineBusyMs() };
      const end = await client.call<{ acks: number; unacknowledged: number; closedUnexpectedly: number; unexpectedPackets: number }>('stopLoad');
      await client.call('disconnect');
      const stats = await server.call<StopStats>('stop');
      // Every PUBACKed frame must have been accepted, and (in-process bus) be on the bus: a
      // benchmark of a gateway that drops or dead-letters frames would measure the wrong thing.
      const problems: string[] = [];
      if (end.unacknowledged > 0) problems.push(`${end.unacknowledged} frames never acknowledged`);
      if (end.closedUnexpectedly > 0) problems.push(`${end.closedUnexpectedly} connections closed during the load`);
      if (stats.framesRejected > 0) problems.push(`${stats.framesRejected} frames rejected (dead-lettered)`);
      if (stats.framesAcknowledged !== end.acks) problems.push(`server acknowledged ${stats.framesAcknowledged} frames, the devices got ${end.acks} PUBACKs`);
      if (stats.telemetryRecordsOnBus !== undefined && stats.telemetryRecordsOnBus !== end.acks) problems.push(`${stats.telemetryRecordsOnBus} records on the bus for ${end.acks} PUBACKs`);
      if (problems.length > 0) throw new Error(`${mode.label}: ${problems.join('; ')}`);
      const frames = c1.acks - c0.acks;
      const seconds = (c1.tMs - c0.tMs) / 1000;
      const serverCpuPct = cpuPct(s0, s1);
      const clientCpuPct = cpuPct({ tMs: c0.tMs, userUs: c0.cpuUserUs, systemUs: c0.cpuSystemUs }, { tMs: c1.tMs, userUs: c1.cpuUserUs, systemUs: c1.cpuSystemUs });
      const machineCpuPct = (100 * (m1.busyMs - m0.busyMs)) / (m1.tMs - m0.tMs);
      runs.push({
        frames, seconds, framesPerS: frames / seconds, p50Ms: c1.latency.p50Ms, p99Ms: c1.latency.p99Ms,
        serverCpuPct, clientCpuPct, otherCpuPct: Math.max(0, machineCpuPct - serverCpuPct - clientCpuPct),
      });
      progress(`${mode.label} run ${r + 1}/${options.runs}: ${Math.round(frames / seconds)} frames/s (${end.acks} frames acknowledged and checked)`);
    }
    await server.call('shutdown');
  } finally {
    await closeChild(client);
    await closeChild(server);
  }
  return { mode, runs };
}

// ---- memory per connected device ---------------------------------------------------------

interface MemorySampleResult { rssPerDeviceKiB: number; heapPerDeviceKiB: number; connectS: number }
interface MemoryResult { label: string; devices: number; samples: MemorySampleResult[] }

async function waitConnected(server: RpcChild, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await server.call<number>('connected')) !== n) {
    if (Date.now() > deadline) throw new Error(`the server did not reach ${n} connected devices within 30 s`);
    await sleep(50);
  }
}

/**
 * JS heap in use without the large-object spaces. Those hold one-time objects whose release
 * moment is unpredictable — notably a 3.8 MB source string of Node's TypeScript stripper, freed
 * some time after start-up (seen in heap snapshots), which made the per-device figure jump by
 * ~7 KiB at 500 devices between identical runs — and nothing per device at this scale.
 */
const heapWithoutLargeObjects = (m: MemorySample) =>
  Object.entries(m.spaces).filter(([name]) => !name.includes('large_object')).reduce((sum, [, used]) => sum + used, 0);

async function memorySample(label: string, kind: ServerKind, creds: DeviceCredentialFiles[]): Promise<MemorySampleResult & { connected: number }> {
  // V8 grows its young generation (up to 2 × 16 MiB semi-spaces) when allocation is brisk, as it
  // is while 500 devices connect, and may or may not shrink it back: that made RSS per device jump
  // between 86 and 150 KiB in identical runs. Its size is a per-process GC setting, not a cost of a
  // device, so the memory processes pin it at 1 MiB.
  const server = spawn(SERVER_SCRIPT, [...serverExecArgv(`memory ${label}`), '--min-semi-space-size=1', '--max-semi-space-size=1']);
  const client = spawn(CLIENT_SCRIPT);
  try {
    const { port } = await server.call<{ port: number }>('start', {
      kind, bus: 'memory', pkiDataDir: options.pkiDataDir, deviceIds: creds.map((c) => c.id), kafkaBrokers: [],
    } satisfies SetupParams);
    // Warm-up: one-time costs (TLS context, aedes and gateway code paths, SQLite statements).
    await client.call('connect', { port, devices: creds.slice(0, 10), concurrency: 10 });
    await client.call('disconnect');
    await waitConnected(server, 0);
    await sleep(1_100); // one gateway poll (1 s): liveness of the warm-up devices flushed
    const before = await server.call<MemorySample>('memory');
    const connect = await client.call<{ connected: number; ms: number }>('connect', { port, devices: creds, concurrency: 20 });
    await waitConnected(server, creds.length);
    await sleep(1_100);
    const after = await server.call<MemorySample>('memory');
    await client.call('disconnect');
    await server.call('stop');
    await server.call('shutdown');
    const per = (a: number, b: number) => (b - a) / creds.length / 1024;
    const result = {
      connected: after.connected,
      rssPerDeviceKiB: per(before.rssBytes, after.rssBytes),
      heapPerDeviceKiB: per(heapWithoutLargeObjects(before), heapWithoutLargeObjects(after)),
      connectS: connect.ms / 1000,
    };
    progress(`memory, ${label}: RSS ${fmt(before.rssBytes / 2 ** 20, 1)} → ${fmt(after.rssBytes / 2 ** 20, 1)} MiB, ` +
      `heap without large objects ${fmt(heapWithoutLargeObjects(before) / 2 ** 20, 1)} → ${fmt(heapWithoutLargeObjects(after) / 2 ** 20, 1)} MiB ` +
      `(${fmt(result.rssPerDeviceKiB, 1)} / ${fmt(result.heapPerDeviceKiB, 1)} KiB per device)`);
    return result;
  } finally {
    await closeChild(client);
    await closeChild(server);
  }
}

/** RSS moves with the allocator's reuse of freed memory, so each server is measured in several fresh processes. */
async function memoryMode(label: string, kind: ServerKind, creds: DeviceCredentialFiles[]): Promise<MemoryResult> {
  const samples: MemorySampleResult[] = [];
  let devices = 0;
  for (let r = 0; r < options.runs; r++) {
    const s = await memorySample(label, kind, creds);
    devices = s.connected;
    samples.push(s);
  }
  return { label, devices, samples };
}

// ---- report --------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/**
 * Server CPU time per acknowledged frame. Less sensitive than frames/s to CPU taken by other
 * processes on a shared machine (the server is then descheduled, not slower per frame).
 */
const cpuPerFrameUs = (r: RunResult) => (r.serverCpuPct / 100) * 1e6 / r.framesPerS;

function throughputTable(results: ModeResult[]): string[] {
  const lines = [
    '| mode | payload (B) | frames | seconds | frames/s (median) | min–max frames/s | ratio to raw aedes | ratio by CPU µs/frame | PUBACK p50 (ms) | PUBACK p99 (ms) | server CPU % | server CPU µs/frame | load-gen CPU % | other CPU % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const fps = r.runs.map((x) => x.framesPerS);
    const baseline = results.find((b) => b.mode.kind === 'aedes' && b.mode.pool.variant === r.mode.pool.variant && b.mode.ratePerDeviceHz === r.mode.ratePerDeviceHz);
    const ratio = baseline ? `${fmt((100 * median(fps)) / median(baseline.runs.map((x) => x.framesPerS)))} %` : 'n/a';
    // Raw aedes CPU per frame / this mode's: the throughput ratio both would reach on equal CPU.
    const cpuRatio = baseline ? `${fmt((100 * median(baseline.runs.map(cpuPerFrameUs))) / median(r.runs.map(cpuPerFrameUs)))} %` : 'n/a';
    lines.push(`| ${r.mode.label} | ${r.mode.pool.meanBytes} | ${fmt(median(r.runs.map((x) => x.frames)))} | ${fmt(median(r.runs.map((x) => x.seconds)), 2)} | ${fmt(median(fps))} | ${fmt(Math.min(...fps))}–${fmt(Math.max(...fps))} | ${r.mode.kind === 'aedes' ? '(baseline)' : ratio} | ${r.mode.kind === 'aedes' ? '(baseline)' : cpuRatio} | ${fmt(median(r.runs.map((x) => x.p50Ms)), 1)} | ${fmt(median(r.runs.map((x) => x.p99Ms)), 1)} | ${fmt(median(r.runs.map((x) => x.serverCpuPct)))} | ${fmt(median(r.runs.map(cpuPerFrameUs)), 1)} | ${fmt(median(r.runs.map((x) => x.clientCpuPct)))} | ${fmt(median(r.runs.map((x) => x.otherCpuPct)))} |`);
  }
  return lines;
}

function pacedTable(results: ModeResult[]): string[] {
  const lines = [
    '| mode | payload (B) | offered frames/s | achieved frames/s (median) | PUBACK p50 (ms) | PUBACK p99 (ms) | server CPU % | server CPU µs/frame | other CPU % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const offered = options.devices * (r.mode.ratePerDeviceHz ?? 0);
    lines.push(`| ${r.mode.label} | ${r.mode.pool.meanBytes} | ${fmt(offered)} | ${fmt(median(r.runs.map((x) => x.framesPerS)))} | ${fmt(median(r.runs.map((x) => x.p50Ms)), 1)} | ${fmt(median(r.runs.map((x) => x.p99Ms)), 1)} | ${fmt(median(r.runs.map((x) => x.serverCpuPct)))} | ${fmt(median(r.runs.map(cpuPerFrameUs)), 1)} | ${fmt(median(r.runs.map((x) => x.otherCpuPct)))} |`);
  }
  return lines;
}

function memoryTable(results: MemoryResult[]): string[] {
  const cell = (xs: number[]) => `${fmt(median(xs), 1)} (${fmt(Math.min(...xs), 1)}–${fmt(Math.max(...xs), 1)})`;
  return [
    '| server | idle devices connected | RSS per device, KiB: median (min–max) | JS heap per device, KiB: median (min–max) | connect time (s) |',
    '|---|---:|---:|---:|---:|',
    ...results.map((m) => `| ${m.label} | ${m.devices} | ${cell(m.samples.map((x) => x.rssPerDeviceKiB))} | ${cell(m.samples.map((x) => x.heapPerDeviceKiB))} | ${fmt(median(m.samples.map((x) => x.connectS)), 1)} |`),
  ];
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const header = [...machine(), sourceVersion()];
  const creds = credentials(Math.max(options.devices, options.idleDevices));
  const kafkaOn = options.kafka === 'on' || (options.kafka === 'auto' && await kafkaUp(options.kafkaBrokers));
  if (options.kafka === 'on' && !(await kafkaUp(options.kafkaBrokers))) throw new Error(`Kafka at ${options.kafkaBrokers.join(',')} does not answer`);
  progress(kafkaOn ? `Kafka at ${options.kafkaBrokers.join(',')} is up: KafkaBus lines included` : 'Kafka not used: in-process bus only');

  const nowMs = Date.now();
  const pools = new Map<FrameVariant, FramePool>();
  const pool = (v: FrameVariant) => { let p = pools.get(v); if (!p) { p = framePool(v, nowMs); pools.set(v, p); } return p; };
  const modes: ThroughputMode[] = [];
  for (const v of options.variants) {
    modes.push({ label: `raw aedes, ${v}`, kind: 'aedes', bus: 'memory', pool: pool(v) });
    modes.push({ label: `gateway + in-process bus, ${v}`, kind: 'gateway', bus: 'memory', pool: pool(v) });
  }
  if (kafkaOn) for (const v of options.kafkaVariants) modes.push({ label: `gateway + KafkaBus, ${v}`, kind: 'gateway', bus: 'kafka', pool: pool(v) });
  const paced = (label: string, kind: ServerKind, bus: BusKind): ThroughputMode =>
    ({ label: `${label}, ${options.pacedVariant}`, kind, bus, pool: pool(options.pacedVariant), ratePerDeviceHz: options.pacedRateHz });
  const pacedModes = [paced('raw aedes', 'aedes', 'memory'), paced('gateway + in-process bus', 'gateway', 'memory')];
  if (kafkaOn) pacedModes.push(paced('gateway + KafkaBus', 'gateway', 'kafka'));

  const loadCreds = creds.slice(0, options.devices);
  const throughput: ModeResult[] = [];
  if (options.parts.has('throughput')) for (const m of modes) throughput.push(await throughputMode(m, loadCreds, options.kafkaBrokers));
  const pacedResults: ModeResult[] = [];
  if (options.parts.has('paced')) for (const m of pacedModes) pacedResults.push(await throughputMode(m, loadCreds, options.kafkaBrokers));

  const idleCreds = creds.slice(0, options.idleDevices);
  const memory: MemoryResult[] = [];
  if (options.parts.has('memory')) {
    memory.push(await memoryMode('raw aedes (mutual TLS)', 'aedes', idleCreds));
    memory.push(await memoryMode('gateway (in-process bus, SQLite registry)', 'gateway', idleCreds));
  }

  const out = [
    '# Pulsebridge gateway benchmark',
    '',
    ...header,
    '',
    `command: node bench/gateway-throughput.ts ${process.argv.slice(2).join(' ')}`.trimEnd(),
  ];
  if (throughput.length > 0) {
    out.push(
      `throughput: ${options.devices} devices (one mutual-TLS connection and certificate each) × ${options.windowPerDevice} QoS 1 frames in flight (closed loop), ` +
        `${options.warmupMs / 1000} s warm-up + ${options.measureMs / 1000} s measured, ${options.runs} runs per mode, median shown; ` +
        'server and load generator in separate processes on the same machine, loopback only.',
      'gateway: createGateway wired like production (registry, liveness and command stores: SQLite with the in-process bus, on Kafka with KafkaBus), per-device rate limit OFF (rateLimit: false); ' +
        'frames: 1 s, ~75 bpm sinus with PVCs, "-ecg" = plus 250 Hz ECG; every PUBACKed frame checked accepted (none dead-lettered) and, on the in-process bus, present on the bus.',
      '',
      ...throughputTable(throughput),
      '',
    );
  }
  if (pacedResults.length > 0) {
    out.push(
      `latency at a fixed offered load: the same ${options.devices} devices, open loop, each sending ${options.pacedRateHz} frames/s ` +
        `(the contract's sustained per-device maximum is 20/s; real devices send 1/s) whatever the PUBACKs do; same warm-up, measurement and runs.`,
      '',
      ...pacedTable(pacedResults),
      '',
    );
  }
  if (memory.length > 0) {
    out.push(
      `memory: ${options.idleDevices} idle devices (CONNECT with Last Will, SUBSCRIBE cmd, retained status) connect to a fresh server process; two forced full GCs ` +
        `before and after; (after − before) / devices; ${options.runs} processes per server, V8 young generation pinned at 1 MiB semi-spaces; ` +
        'JS heap = V8 spaces without the large-object spaces.',
      '',
      ...memoryTable(memory),
      '',
    );
  }
  out.push(
    `load average at end (1/5/15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; total time: ${fmt((performance.now() - startedAt) / 1000)} s`,
  );
  process.stdout.write(out.join('\n') + '\n');
}

main().then(
  () => { clearTimeout(watchdog); },
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    for (const c of children) await c.close().catch(() => {});
    process.exit(1);
  },
);
