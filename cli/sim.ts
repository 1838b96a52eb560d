/**
 * `pulsebridge sim` and `pulsebridge sim replay`: simulated devices against a running gateway.
 * Credentials: in embedded mode from the development PKI of the data folder (devices are
 * registered on the fly, each to its own patient); otherwise from --cert-dir (`<id>.crt`,
 * `<id>.key`) or --cert/--key, with --ca.
 *
 * `--report [FILE]`: after the run, the alerts of the simulated devices are read from the
 * dashboard API (--api, default http://localhost:<PULSEBRIDGE_HTTP_PORT>) with an admin token
 * from the data folder's development issuer (embedded mode) or --token, matched to the ground
 * truth (device-sim/report.ts), printed as a table and written as JSON (default
 * <data>/sim/report.json); a FAIL makes the command exit 1, so a test script can gate on it.
 */
import fs from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { devIssuerKeyPath, openDevIssuer } from '../dashboard-api/dev-issuer.ts';
import { DeviceClock, fetchAlerts, formatSimReport, perDevice, reportFromApi, unmonitoredPeriods, runReplay, runSim, SIM_STAGGER_MS, simDeviceIds, type RunSimOptions, type RunSimSummary, type SimSpeed } from '../device-sim/index.ts';
import { deviceWireFormats, encoderOf, parseWireFormat, type WireFormatChoice } from '../device-sim/wire-format.ts';
import { sleep } from '../device-sim/pacing.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import { devPkiPaths, issueDeviceCertificate } from '../platform/security/index.ts';
import { withRegistry } from '../platform/adapters.ts';
import type { Registry } from '../platform/registry/index.ts';
import type { Logger } from '../platform/log.ts';
import { parseDurationMs, UsageError } from './args.ts';

export function parseSpeed(text: string | undefined, fallback: SimSpeed): SimSpeed {
  if (text === undefined) return fallback;
  if (text === 'max') return 'max';
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--speed must be a positive number or "max", got "${text}"`);
  return n;
}

/** The patient a simulated device is assigned to in embedded mode: sim-0001 → patient-0001. */
export const simPatientFor = (deviceId: string) => deviceId.replace(/^sim-/, 'patient-');

/** Registers simulated devices (if needed) and issues their development certificates. */
export async function provisionSimDevices(config: Readonly<PulsebridgeConfig>, registry: Registry, deviceIds: string[], actor = 'sim'): Promise<void> {
  for (const id of deviceIds) {
    issueDeviceCertificate(config.dataDir, id);
    const known = registry.get(id);
    if (!known || !known.patientId) await registry.add(id, simPatientFor(id), actor, Date.now() - 24 * 3_600_000);
  }
}

interface CredentialFlags { certDir?: string; cert?: string; key?: string; ca?: string }

function credentialsFor(config: Readonly<PulsebridgeConfig>, flags: CredentialFlags) {
  const pki = devPkiPaths(config.dataDir);
  // A missing file is a setup step not taken, not a crash: say which step (not a raw ENOENT).
  const read = (file: string, what: string, fix: string): Buffer => {
    if (!fs.existsSync(file)) throw new UsageError(`${what} ${file} does not exist: ${fix}`);
    return fs.readFileSync(file);
  };
  const ca = read(flags.ca ?? pki.serverCaCert, 'the server CA', flags.ca ? 'check --ca' : `no Pulsebridge data folder at ${config.dataDir} (start pulsebridge demo, or pass --data-dir of the running one, or --ca)`);
  const dir = flags.certDir ?? path.join(pki.dir, 'devices');
  const addDevice = (id: string) => `register the device first (pulsebridge device add ${id} --patient <patient id>, same --data-dir) or pass --cert/--key`;
  return {
    ca,
    certFor: (id: string) => read(flags.cert ?? path.join(dir, `${id}.crt`), `the certificate of device ${id}`, flags.cert ? 'check --cert' : addDevice(id)),
    keyFor: (id: string) => read(flags.key ?? path.join(dir, `${id}.key`), `the key of device ${id}`, flags.key ? 'check --key' : addDevice(id)),
  };
}

/** Two of the gateway's liveness flushes (≈ 1 s each), ms. */
const LIVENESS_SETTLE_MS = 2500;

/**
 * Which of `deviceIds` are online, and still after {@link LIVENESS_SETTLE_MS}: a device that has
 * just disconnected (the previous run's, the previous replay's) reads as online until its gateway
 * writes the disconnect, at its next liveness flush.
 */
async function devicesStillOnline(registry: Registry, deviceIds: readonly string[]): Promise<string[]> {
  const online = deviceIds.filter((id) => registry.liveness.get(id)?.online === true);
  if (online.length === 0) return [];
  await sleep(LIVENESS_SETTLE_MS);
  return online.filter((id) => registry.liveness.get(id)?.online === true);
}

/**
 * The device ids of an embedded `sim` run: `sim-0001` … as many as asked, skipping every id that
 * is online. A running `pulsebridge demo` streams `sim-0001` … itself; a second simulator of the
 * same ids took over their connections turn by turn and put two device clocks into one stream (the
 * demo's frames then arrived behind the analysed data: a signal loss on each of its patients).
 */
export function simDeviceIdsNotOnline(count: number, isOnline: (deviceId: string) => boolean): { ids: string[]; skipped: string[] } {
  let candidates = count;
  for (;;) {
    const all = simDeviceIds(candidates);
    const ids = all.filter((id) => !isOnline(id));
    if (ids.length >= count) return { ids: ids.slice(0, count), skipped: all.filter((id) => isOnline(id)) };
    candidates += count - ids.length;
  }
}

/** `--report` and its companions. */
export interface SimReportFlags {
  /** Where to write the JSON report; '' = `<data>/sim/report.json`. */
  path: string;
  /** Dashboard API base URL (default http://localhost:<http port>). */
  apiUrl: string | undefined;
  /** Bearer token (default: an admin token from the development issuer of the data folder). */
  token: string | undefined;
  /** Wall time to let the pipeline finish before reading the alerts, ms. */
  waitMs: number;
}

/** Device behaviour flags of `pulsebridge sim` (run-sim.ts options of the same names). */
export type SimBehaviour = Pick<RunSimOptions, 'format' | 'disconnects' | 'reboots' | 'clockOffsetMs' | 'clockDriftPpm' | 'ecgOnly' | 'paced'>;

/** Parse flags `sim` and `sim replay` share. */
export const SIM_BEHAVIOUR_FLAGS = {
  format: { type: 'string' },
  'disconnect-every': { type: 'string' },
  'disconnect-for': { type: 'string' },
  'reboot-every': { type: 'string' },
  'reboot-for': { type: 'string' },
  'clock-offset': { type: 'string' },
  'clock-drift-ppm': { type: 'string' },
} as const;

/** The simulated patients' ECG, flags of `pulsebridge sim` only (and `scripts/sim-100.ts`). */
export const SIM_ECG_FLAGS = {
  'ecg-only': { type: 'boolean' },
  paced: { type: 'boolean' },
} as const;

/** `--ecg-only` (frames without firmware beats) and `--paced` (paced patients, ecg-synth.ts). */
export function parseSimEcgFlags(values: { 'ecg-only'?: boolean; paced?: boolean }): Pick<SimBehaviour, 'ecgOnly' | 'paced'> {
  return { ...(values['ecg-only'] ? { ecgOnly: true } : {}), ...(values.paced ? { paced: true } : {}) };
}

const wrapUsage = <T>(f: () => T): T => {
  try {
    return f();
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\.$/, ''));
  }
};

/** `--format v1|v2|mix`. */
export function parseFormatFlag(text: string | undefined): WireFormatChoice | undefined {
  return text === undefined ? undefined : wrapUsage(() => parseWireFormat(text));
}

/**
 * `--format`, `--disconnect-every D [--disconnect-for D]`, `--reboot-every D [--reboot-for D]`,
 * `--clock-offset [-]D` (device clock minus true time) and `--clock-drift-ppm N`.
 */
export function parseSimBehaviour(values: Partial<Record<keyof typeof SIM_BEHAVIOUR_FLAGS, string>>): SimBehaviour {
  const out: SimBehaviour = {};
  const format = parseFormatFlag(values.format);
  if (format) out.format = format;
  const periodic = (every: string | undefined, down: string | undefined, name: string) => {
    if (every === undefined) {
      if (down !== undefined) throw new UsageError(`--${name}-for needs --${name}-every`);
      return undefined;
    }
    const everyMs = parseDurationMs(every);
    if (everyMs <= 0) throw new UsageError(`--${name}-every must be longer than 0`);
    return { everyMs, ...(down === undefined ? {} : { downMs: parseDurationMs(down) }) };
  };
  const disconnects = periodic(values['disconnect-every'], values['disconnect-for'], 'disconnect');
  if (disconnects) out.disconnects = { downMs: 10_000, ...disconnects };
  const reboots = periodic(values['reboot-every'], values['reboot-for'], 'reboot');
  if (reboots) out.reboots = reboots;
  if (values['clock-offset'] !== undefined) {
    const text = values['clock-offset'].trim();
    const negative = text.startsWith('-');
    out.clockOffsetMs = (negative ? -1 : 1) * parseDurationMs(negative ? text.slice(1) : text);
  }
  if (values['clock-drift-ppm'] !== undefined) {
    const ppm = Number(values['clock-drift-ppm']);
    if (!Number.isFinite(ppm)) throw new UsageError(`--clock-drift-ppm must be a number, got "${values['clock-drift-ppm']}"`);
    out.clockDriftPpm = ppm;
  }
  return out;
}

export interface SimCommandInput {
  config: Readonly<PulsebridgeConfig>;
  devices: number;
  scenario: string | undefined;
  durationMs: number | undefined;
  speed: SimSpeed;
  groundTruthPath: string | undefined;
  url: string | undefined;
  credentials: CredentialFlags;
  report?: SimReportFlags | undefined;
  /** Wire format, disconnects, reboots, device clocks (default: JSON v1, none, true clocks). */
  behaviour?: SimBehaviour;
  signal: AbortSignal;
  logger: Logger;
  out: (line: string) => void;
}

/**
 * `--report` takes an optional FILE: a bare `--report` (last, or followed by another flag)
 * becomes `--report=` so the argument parser accepts it.
 */
export function normalizeReportFlag(argv: readonly string[]): string[] {
  return argv.map((a, i) => (a === '--report' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('-')) ? '--report=' : a));
}

/**
 * Device clocks across runs: at speed N > 1 device time runs ahead of the wall clock, so a second
 * run of the same devices started from the current time would go back in device time, and the
 * processor would take its frames for late ones (analysed already) and raise nothing. The last
 * device time of each simulated device — its own clock's reading (`--clock-offset`,
 * `--clock-drift-ppm`), which is what its frames carry — is kept in `<data>/sim/device-clock.json`,
 * and a run starts so that every device's clock starts after it.
 */
function deviceClockPath(config: Readonly<PulsebridgeConfig>): string {
  return path.join(config.dataDir, 'sim', 'device-clock.json');
}

function readDeviceClock(config: Readonly<PulsebridgeConfig>): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(deviceClockPath(config), 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/**
 * True time a run of `ids` starts at: now, or late enough that each device's clock (true time +
 * its `clockOffsetMs`) starts just after the last device time of the previous runs.
 */
export function simStartMs(config: Readonly<PulsebridgeConfig>, ids: readonly string[], nowMs: number, behaviour: SimBehaviour = {}): number {
  const clock = readDeviceClock(config);
  const starts = ids.map((id, i) => (Number.isFinite(clock[id]) ? clock[id]! + 1000 - (perDevice(behaviour.clockOffsetMs, id, i) ?? 0) : -Infinity));
  return Math.max(nowMs, ...starts);
}

/** Keeps each device's clock reading at the end of the run (see {@link simStartMs}). */
async function saveDeviceClock(config: Readonly<PulsebridgeConfig>, summary: RunSimSummary): Promise<void> {
  const clock = readDeviceClock(config);
  const endMs = summary.t0Ms + summary.durationMs;
  for (const id of summary.deviceIds) {
    const spec = summary.deviceInfo[id]?.clock;
    const deviceEndMs = spec ? Math.ceil(new DeviceClock(summary.t0Ms, spec).toDevice(endMs)) : endMs;
    clock[id] = Math.max(clock[id] ?? 0, deviceEndMs);
  }
  await mkdir(path.dirname(deviceClockPath(config)), { recursive: true });
  await writeFile(deviceClockPath(config), JSON.stringify(clock) + '\n');
}

async function reportToken(config: Readonly<PulsebridgeConfig>, flags: SimReportFlags): Promise<string> {
  if (flags.token) return flags.token;
  if (!fs.existsSync(devIssuerKeyPath(config.dataDir))) {
    throw new UsageError(`--report needs --token: there is no development issuer in ${config.dataDir} to issue an admin token`);
  }
  const issuer = await openDevIssuer({ dataDir: config.dataDir });
  return issuer.issueToken({ sub: 'pulsebridge-sim-report', role: 'admin', patients: [], ttlSeconds: 3600 });
}

/** Writes and prints the report; true when it says PASS. */
async function writeReport(input: SimCommandInput, summary: RunSimSummary, flags: SimReportFlags, embedded: boolean): Promise<boolean> {
  const { config } = input;
  if (!summary.aborted && flags.waitMs > 0) await sleep(flags.waitMs, input.signal);
  const apiUrl = flags.apiUrl ?? `http://localhost:${config.dashboard.httpPort}`;
  const token = await reportToken(config, flags);
  const base = {
    scenario: summary.scenario, t0Ms: summary.t0Ms, endMs: summary.t0Ms + summary.durationMs, devices: summary.deviceIds,
    episodes: summary.episodes, wallStartMs: summary.wallStartMs,
    unmonitored: unmonitoredPeriods(summary.deviceInfo, summary.deviceEvents, summary.t0Ms + summary.durationMs),
    // Alerts carry device-clock times (--clock-offset, --clock-drift-ppm), the ground truth true time.
    deviceClocks: Object.fromEntries(Object.entries(summary.deviceInfo).map(([id, info]) => [id, info.clock])),
  };
  let { report, truncated } = await reportFromApi({ ...base, api: { apiUrl, token } });
  if (truncated && embedded) {
    // More than one page of alerts: ask patient by patient.
    const patientIds = await withRegistry(config, input.logger, async (registry) =>
      [...new Set(summary.deviceIds.map((id) => registry.get(id)?.patientId ?? simPatientFor(id)))]);
    ({ report, truncated } = await reportFromApi({ ...base, api: { apiUrl, token, patientIds } }));
  }
  const file = flags.path || path.join(config.dataDir, 'sim', 'report.json');
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, JSON.stringify({ ...report, groundTruthPath: summary.groundTruthPath ?? null, alertsTruncated: truncated, sendLagMs: summary.sendLagMs }, null, 2) + '\n');
  input.out(formatSimReport(report));
  if (truncated) input.out('Note: the dashboard API returned a full page of alerts; some alerts may be missing from this report.');
  input.out(`Report written to ${file}`);
  return report.pass;
}

/**
 * Runs the simulated devices (and, with `--report`, scores their alerts).
 * @returns `reportPass`: the report's verdict (undefined without `--report`); the CLI exits 1 on false
 */
export async function runSimCommand(input: SimCommandInput): Promise<{ reportPass?: boolean }> {
  const { config } = input;
  const embedded = !input.credentials.certDir && !input.credentials.cert;
  // Before anything is provisioned: a --data-dir without a running Pulsebridge's PKI is a mistake to
  // name, not a folder to fill with a new CA the gateway does not know.
  const creds = credentialsFor(config, input.credentials);
  const ids = embedded
    ? await withRegistry(config, input.logger, async (registry) => {
      const online = new Set(await devicesStillOnline(registry, registry.liveness.list().filter((l) => l.online).map((l) => l.deviceId)));
      const chosen = simDeviceIdsNotOnline(input.devices, (id) => online.has(id));
      if (chosen.skipped.length > 0) {
        input.logger.warn(`devices ${chosen.skipped.join(', ')} are online (streamed by a running demo or another simulator): this run simulates ${chosen.ids.join(', ')}`);
      }
      await provisionSimDevices(config, registry, chosen.ids);
      return chosen.ids;
    })
    : simDeviceIds(input.devices);
  if (input.report) {
    // Fail before the run, not after it, when the report could not be fetched: ask the API once
    // (for nothing changed since now), so a wrong --api or --token shows before a long run.
    const apiUrl = input.report.apiUrl ?? `http://localhost:${config.dashboard.httpPort}`;
    await fetchAlerts({ apiUrl, token: await reportToken(config, input.report), sinceMs: Date.now() });
  }
  const summary = await runSim({
    t0Ms: simStartMs(config, ids, Date.now(), input.behaviour),
    devices: ids,
    scenario: input.scenario,
    durationMs: input.durationMs,
    speed: input.speed,
    staggerMs: SIM_STAGGER_MS,
    groundTruthPath: input.groundTruthPath ?? path.join(config.dataDir, 'sim', 'ground-truth.json'),
    connect: { url: input.url ?? config.sim.gatewayUrl, ca: creds.ca, certFor: creds.certFor, keyFor: creds.keyFor },
    ...input.behaviour,
    signal: input.signal,
    logger: input.logger,
  });
  await saveDeviceClock(config, summary);
  // Devices the gateway refused during the run (e.g. disabled): they stopped, the others went on.
  const refused = summary.deviceEvents.filter((e) => e.kind === 'refused').map((e) => e.deviceId);
  input.out(JSON.stringify({ devices: summary.devices, scenario: summary.scenario, framesSent: summary.framesSent, framesAcked: summary.framesAcked,
    episodes: summary.episodes.length, groundTruth: summary.groundTruthPath, aborted: summary.aborted, ...(refused.length > 0 ? { refused } : {}) }));
  return input.report ? { reportPass: await writeReport(input, summary, input.report, embedded) } : {};
}

export interface ReplayCommandInput {
  config: Readonly<PulsebridgeConfig>;
  /** One record per device, replayed at the same time (`--record a,b --device d1,d2`). */
  recordPaths: string[];
  deviceIds: string[];
  speed: SimSpeed;
  /** Frame length, ms (default 1000; the contract allows up to 5000). */
  frameMs?: number | undefined;
  /** The header signal sent as the ECG (default 0). */
  lead?: number | undefined;
  /** Sample 0 at the start (speed 1), not the record's end (device-sim/replay.ts ReplayOptions.live). */
  live?: boolean | undefined;
  url: string | undefined;
  credentials: CredentialFlags;
  /** `v1` (default), `v2`, or `mix` (a coin tossed by the device id). */
  format?: WireFormatChoice | undefined;
  signal: AbortSignal;
  logger: Logger;
  out: (line: string) => void;
}

/**
 * Embedded: a warning on stderr for each device to replay that is online already — a demo's
 * simulated device or a real one. The replay's connection takes over the device's, and the other
 * client reconnecting takes it back: two sources in one stream.
 */
async function warnIfOnline(config: Readonly<PulsebridgeConfig>, deviceIds: readonly string[], logger: Logger): Promise<void> {
  if (config.bus.kind !== 'memory' || !fs.existsSync(config.registryPath)) return;
  const online = await withRegistry(config, logger, (registry) => devicesStillOnline(registry, deviceIds));
  if (online.length > 0) {
    logger.warn(`devices ${online.join(', ')} are online already (another client holds the connection): the replay takes it over, and that client may take it back, putting two sources into one stream`);
  }
}

/**
 * Replays each record as its device, all at once, and prints one summary line per record and, with
 * several, one for all: frames sent and acknowledged, device time covered, wall time taken.
 */
export async function runReplayCommand(input: ReplayCommandInput): Promise<void> {
  const { config } = input;
  if (input.recordPaths.length !== input.deviceIds.length) {
    throw new UsageError(`sim replay needs one --device per --record (got ${input.recordPaths.length} records and ${input.deviceIds.length} devices)`);
  }
  const creds = credentialsFor(config, input.credentials);
  await warnIfOnline(config, input.deviceIds, input.logger);
  const formats = deviceWireFormats(input.format ?? 'v1', input.deviceIds, input.deviceIds.join(','));
  const started = Date.now();
  const summaries = await Promise.all(input.recordPaths.map((recordPath, i) => {
    const deviceId = input.deviceIds[i]!;
    return runReplay({
      recordPath,
      deviceId,
      speed: input.speed,
      ...(input.frameMs === undefined ? {} : { frameMs: input.frameMs }),
      ...(input.lead === undefined ? {} : { ecgSignalIndex: input.lead }),
      ...(input.live ? { live: true } : {}),
      connect: { url: input.url ?? config.sim.gatewayUrl, ca: creds.ca, cert: creds.certFor(deviceId), key: creds.keyFor(deviceId) },
      out: input.out,
      encode: encoderOf(formats[i]!),
      signal: input.signal,
      logger: input.logger,
    });
  }));
  const line = (what: Record<string, unknown>, frames: number, acked: number, durationMs: number, wallMs: number) => input.out(JSON.stringify({
    ...what, frames, acked, deviceHours: Math.round(durationMs / 36_000) / 100, wallSeconds: Math.round(wallMs / 100) / 10, speedup: Math.round(durationMs / Math.max(1, wallMs)),
  }));
  for (const s of summaries) line({ replayed: s.record, device: s.deviceId }, s.frames, s.acked, s.durationMs, s.wallMs);
  if (summaries.length > 1) {
    const sum = (f: (s: (typeof summaries)[number]) => number) => summaries.reduce((a, s) => a + f(s), 0);
    line({ replayed: `${summaries.length} records` }, sum((s) => s.frames), sum((s) => s.acked), sum((s) => s.durationMs), Date.now() - started);
  }
}
