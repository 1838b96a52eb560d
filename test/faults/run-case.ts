/**
 * One fault case on the production-mode stack: starts the EHR test server, the four component
 * processes and a clinician's WebSocket; streams simulated devices with scripted episodes at a
 * known rate while `inject` runs the fault; then waits until every output settled and counts
 * everything end to end (ledger.ts) into a RELIABILITY.md row.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TECHNICAL_KINDS, type Alert } from '../../contracts/alert.ts';
import type { Patient } from '@medplum/fhirtypes';
import { openDevIssuer } from '../../dashboard-api/dev-issuer.ts';
import { demoPatientIdentity } from '../../dashboard-api/patient-directory.ts';
import { buildSimReport, runSim, scenarioFromPhases, type RunSimSummary, type ScenarioPhase } from '../../device-sim/index.ts';
import type { GroundTruthEpisode } from '../../device-sim/ground-truth.ts';
import type { Scenario } from '../../device-sim/scenario.ts';
import type { ReliabilityRow } from '../../scripts/reliability-report.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import {
  alertsOnBus, ClinicianStream, duplicateEpisodes, ehrMatches, ehrResources, latestById, missedEpisodes, pointsInStore,
  SentFrames, telemetryOnBus, writeRow, type Check,
} from './ledger.ts';
import { FaultStack, ownServicesConfigured } from './stack.ts';

/** Wall seconds of an outage the suite can afford (issue 13 asks 60 s for InfluxDB, 10 min for the EHR). */
export const OUTAGE_S = Number(process.env.FAULTS_OUTAGE_S ?? 60);

export interface CaseContext {
  stack: FaultStack;
  fhir: FhirTestServer;
  clinician: ClinicianStream;
  sent: SentFrames;
  devices: { deviceId: string; patientId: string }[];
  /** The simulator's run seed: with the device ids, the case's frames can be rebuilt offline (eval/sim-device-replay.ts). */
  seed: string;
  /** Wall time the devices started streaming. */
  startedAtMs: number;
  notes: string[];
  checks: Check[];
  /** Set by `inject` when the fault is lifted (the service is back). */
  liftedAtMs?: number;
  /** Set by `inject`: when the fault began. */
  injectedAtMs?: number;
}

export interface CaseSpec {
  case: string;
  fault: string;
  /** Wall seconds the devices stream (speed 2: device time runs twice as fast). */
  streamS: number;
  devices?: number;
  /** Processor processes in one consumer group (default 1). */
  processors?: number;
  /** Environment of every component process (e.g. KAFKA_SESSION_TIMEOUT_MS). */
  env?: Record<string, string>;
  /** Runs while the devices stream: inject the fault and lift it, setting injectedAtMs/liftedAtMs. */
  inject: (ctx: CaseContext) => Promise<void>;
  /** What "recovered" means for this fault (for the recovery-time column), polled after the lift. */
  recovery: { of: string; caughtUp: (ctx: CaseContext, liftedAtMs: number) => Promise<boolean> };
  /** Case-specific checks after the counting. */
  extraChecks?: (ctx: CaseContext, counted: Counted) => void | Promise<void>;
  /** The devices' scripted phases over the device time (default: {@link scenario}'s brady and tachy). */
  phases?: (deviceMs: number) => ScenarioPhase[];
  /**
   * Which scripted episodes the detectors alarm without the fault (an oracle, e.g. the devices'
   * frames replayed offline through an uninterrupted processor). Only those count in "every
   * scripted episode alarmed": an episode the detectors miss without the fault as well (the
   * simulator can draw AF too regular for the AF criterion) says nothing about the fault; the
   * check names it. Default: every scripted episode with an alarm.
   */
  alarmedWithoutFault?: (ctx: CaseContext, counted: Counted) => Promise<(episode: GroundTruthEpisode) => boolean>;
  /**
   * Which physiological alarms the detectors raise without the fault too (the same oracle): an
   * alarm the script does not explain but an uninterrupted processor raises the same way (e.g. an
   * AF onset the detector dates outside the scripted episode's ±5 s) is the detector's, not the
   * fault's: "no physiological alarm the script does not explain" names it and does not fail on
   * it. Default: none (every unexplained alarm fails the case).
   */
  raisedWithoutFault?: (ctx: CaseContext, counted: Counted) => Promise<(alert: { deviceId: string; kind: string; onsetMs: number }) => boolean>;
}

export interface Counted {
  summary: RunSimSummary;
  /** The scenario the devices played. */
  scenario: Readonly<Scenario>;
  raised: Map<string, Alert>;
  clinicianLatest: Map<string, Alert>;
}

/**
 * Every other device sends ECG without firmware beats: the processor detects its beats (ecg-beats.ts),
 * whose state across a crash or handover is the more delicate one (issue 12 sessions 16–19).
 */
export function ecgOnlyDevice(index: number): boolean {
  return index % 2 === 1;
}

/** Device time runs this many times as fast as the wall clock in the fault cases. */
export const FAULTS_SPEED = 2;

/** Normal, extreme bradycardia, normal, extreme tachycardia, normal: fractions of the device time. */
function scenario(deviceMs: number) {
  const part = (f: number) => Math.round(deviceMs * f / 1000) * 1000;
  const phases = [
    { kind: 'normal' as const, durationMs: part(0.15) },
    { kind: 'extreme_brady' as const, durationMs: part(0.25) },
    { kind: 'normal' as const, durationMs: part(0.2) },
    { kind: 'extreme_tachy' as const, durationMs: part(0.25) },
  ];
  const used = phases.reduce((s, p) => s + p.durationMs, 0);
  return scenarioFromPhases('faults', [...phases, { kind: 'normal', durationMs: deviceMs - used }]);
}

export async function runFaultCase(spec: CaseSpec): Promise<ReliabilityRow> {
  if (!ownServicesConfigured()) {
    throw new Error('the fault suite needs its own Kafka and InfluxDB: run it with `npm run faults` (scripts/faults.sh), never against the shared services');
  }
  const wallStart = Date.now();
  // The run's id is also the simulator's seed: FAULTS_RUN_ID replays a run's devices exactly (e.g.
  // one that failed in CI: its device ids read f<run id>-<case>-d<i>).
  const runId = process.env.FAULTS_RUN_ID ?? randomUUID().slice(0, 6);
  const identifierSystem = `urn:pulsebridge:faults:${spec.case}:${runId}`;
  const fhir = await startFhirServer();
  const stack = await FaultStack.create({ caseName: spec.case, fhirBaseUrl: fhir.baseUrl, identifierSystem, influxDatabase: `faults_${spec.case.replace(/\W/g, '_')}_${runId}`,
    ...(spec.env ? { env: spec.env } : {}) });
  const devices = Array.from({ length: spec.devices ?? 4 }, (_, i) => ({ deviceId: `f${runId}-${spec.case}-d${i}`, patientId: `f${runId}-${spec.case}-p${i}` }));
  const patientOf = (d: string) => devices.find((x) => x.deviceId === d)!.patientId;
  // The EHR knows each patient by the MRN the patient directory gives them (else the exporter parks their alerts).
  for (const d of devices) await fhir.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [demoPatientIdentity(d.patientId).mrn] });
  const ctx: CaseContext = { stack, fhir, clinician: undefined as never, sent: new SentFrames(), devices, seed: runId, startedAtMs: 0, notes: [], checks: [] };
  try {
    await stack.addDevices(devices);
    await Promise.all([stack.start('processor'), stack.start('gateway'), stack.start('dashboard-api'), stack.start('ehr-exporter'),
      ...((spec.processors ?? 1) > 1 ? [stack.start('processor', { key: 'processor-b' })] : [])]);
    const issuer = await openDevIssuer({ dataDir: stack.dataDir });
    const token = await issuer.issueToken({ sub: 'dr-faults', role: 'clinician', patients: devices.map((d) => d.patientId), ttlSeconds: 3600 });
    ctx.clinician = new ClinicianStream(stack.dashboardUrl, token);
    await ctx.clinician.open();

    const deviceMs = spec.streamS * 1000 * FAULTS_SPEED;
    const creds = stack.credentials(devices[0]!.deviceId);
    ctx.startedAtMs = Date.now();
    const played = spec.phases ? scenarioFromPhases(spec.case, spec.phases(deviceMs)) : scenario(deviceMs);
    const simming = runSim({
      devices: devices.map((d) => d.deviceId),
      scenario: played,
      durationMs: deviceMs,
      speed: FAULTS_SPEED,
      t0Ms: Date.now() - deviceMs,
      seed: runId,
      connect: {
        url: `mqtts://localhost:${stack.mqttPort}`, ca: fs.readFileSync(creds.ca), reconnectPeriodMs: 500,
        certFor: (id) => fs.readFileSync(stack.credentials(id).cert), keyFor: (id) => fs.readFileSync(stack.credentials(id).key),
      },
      ecgOnly: (_id, i) => ecgOnlyDevice(i),
      groundTruthPath: path.join(stack.dataDir, 'ground-truth.json'),
      onFrame: ctx.sent.onFrame,
    });
    let recoveryS: number | null = null;
    const injecting = (async () => {
      await spec.inject(ctx);
      if (ctx.liftedAtMs === undefined) throw new Error('inject did not lift the fault');
      const lifted = ctx.liftedAtMs;
      await waitFor(`recovery (${spec.recovery.of})`, async () => ((await spec.recovery.caughtUp(ctx, lifted)) ? true : undefined), 300_000);
      recoveryS = (Date.now() - lifted) / 1000;
    })();
    const [summary] = await Promise.all([simming, injecting]);

    // ---- settle and count ----
    const expectedPoints = ctx.sent.expectedPoints(patientOf);
    const storeExpected = [...expectedPoints.values()].reduce((s, v) => s + v.size, 0);
    const from = summary.t0Ms - 60_000;
    const to = summary.t0Ms + summary.durationMs + 60_000;
    let stored = new Map<string, number[]>();
    await waitFor('every point in InfluxDB', async () => {
      stored = await pointsInStore(stack.o.influxDatabase, devices.map((d) => d.patientId), from, to);
      return [...expectedPoints].every(([p, times]) => [...times].every((t) => stored.get(p)?.includes(t))) ? true : undefined;
    }, 120_000).catch(() => {});
    const onBus = await telemetryOnBus(new Set(devices.map((d) => d.deviceId)), ctx.sent.frames.size);
    const raisedSnapshots = await alertsOnBus(new Set(devices.map((d) => d.patientId)));
    const raised = latestById(raisedSnapshots);
    const ehrExpected = [...raised.values()];
    let ehr = new Map<string, number>();
    await waitFor('the clinician and the EHR to hold every alert', async () => {
      const latest = latestById(ctx.clinician.alerts());
      ehr = await ehrResources(fhir.baseUrl, identifierSystem);
      const wsDone = [...raised.values()].every((a) => (latest.get(a.id)?.revision ?? 0) >= a.revision);
      const ehrDone = ehrExpected.every((a) => [...ehr.keys()].some((v) => ehrMatches(v, a)));
      return wsDone && ehrDone ? true : undefined;
    }, 120_000).catch(() => {});
    await sleep(1000);
    const clinicianLatest = latestById(ctx.clinician.alerts());
    ehr = await ehrResources(fhir.baseUrl, identifierSystem);

    let storeFound = 0;
    let storeExtra = 0;
    for (const [p, times] of expectedPoints) {
      const got = stored.get(p) ?? [];
      storeFound += [...times].filter((t) => got.includes(t)).length;
      storeExtra += got.length - new Set(got).size;
    }
    const busDistinct = new Set(onBus);
    const acked = summary.framesAcked;
    const framesLost = Math.max(ctx.sent.frames.size - busDistinct.size, 0) + (storeExpected - storeFound);
    const raisedList = [...raised.values()];
    const alertsAtClinician = raisedList.filter((a) => (clinicianLatest.get(a.id)?.revision ?? 0) >= a.revision).length;
    const inEhr = raisedList.filter((a) => [...ehr.keys()].some((v) => ehrMatches(v, a))).length;
    const ehrDuplicates = [...ehr.values()].reduce((s, c) => s + Math.max(c - 1, 0), 0);
    const dupEpisodes = duplicateEpisodes(raisedList);
    const alarmedWithoutFault = spec.alarmedWithoutFault ? await spec.alarmedWithoutFault(ctx, { summary, scenario: played, raised, clinicianLatest }) : () => true;
    const missedAll = missedEpisodes(summary.episodes, raisedList);
    const missed = missedAll.filter(alarmedWithoutFault);
    const missedWithoutFault = missedAll.filter((e) => !alarmedWithoutFault(e));
    // A device that stopped at the end of the run is silent for real: only a signal_loss whose onset
    // (the end of the last frame before the silence) lies before the end of the stream is false.
    const streamEndMs = summary.t0Ms + summary.durationMs;
    const falseSignalLoss = raisedList.filter((a) => a.kind === 'signal_loss' && Date.parse(a.onset) < streamEndMs - 1000).length;
    // Physiological alarms the script does not explain (the simulator's report: each scripted episode's
    // alarm and those its beats imply, ±5 s): a fault must not make the detectors see what is not there.
    const simReport = buildSimReport({ scenario: 'faults', t0Ms: summary.t0Ms, endMs: streamEndMs, devices: devices.map((d) => d.deviceId), episodes: summary.episodes, alerts: raisedList });
    const raisedWithoutFault = spec.raisedWithoutFault ? await spec.raisedWithoutFault(ctx, { summary, scenario: played, raised, clinicianLatest }) : () => false;
    const falseAlarms = simReport.falseAlarms.filter((a) => !raisedWithoutFault(a));
    const falseWithoutFault = simReport.falseAlarms.filter((a) => raisedWithoutFault(a));
    const row: ReliabilityRow = {
      case: spec.case,
      fault: spec.fault,
      frames: { sent: ctx.sent.frames.size, acked, onBus: busDistinct.size, busCopies: onBus.length - busDistinct.size, storeExpected, storeFound, lost: framesLost, duplicated: storeExtra },
      alerts: {
        raised: raised.size, atClinician: alertsAtClinician, inEhr, ehrExpected: ehrExpected.length,
        lost: (raised.size - alertsAtClinician) + (ehrExpected.length - inEhr), duplicated: dupEpisodes.length + ehrDuplicates,
        missedEpisodes: missed.length, falsePhysiological: falseAlarms.length, falseSignalLoss,
      },
      recoveryS,
      recoveryOf: spec.recovery.of,
      notes: ctx.notes,
      checks: ctx.checks,
      wallS: (Date.now() - wallStart) / 1000,
      finishedAt: new Date().toISOString(),
    };
    const check = (name: string, ok: boolean, detail: string) => ctx.checks.push({ name, ok, detail });
    check('every frame produced was acknowledged', acked === ctx.sent.frames.size, `${acked} of ${ctx.sent.frames.size}`);
    check('every frame is on the bus', busDistinct.size === ctx.sent.frames.size, `${busDistinct.size} of ${ctx.sent.frames.size}`);
    check('every heart-rate point is in InfluxDB', storeFound === storeExpected, `${storeFound} of ${storeExpected}`);
    check('every alert raised reached the clinician', alertsAtClinician === raised.size, `${alertsAtClinician} of ${raised.size}`);
    check('every alert raised is in the EHR', inEhr === ehrExpected.length, `${inEhr} of ${ehrExpected.length}`);
    check('no episode raised twice, no EHR resource twice', row.alerts.duplicated === 0, dupEpisodes.map((a) => `${a.kind}@${a.onset}`).join(', ') || `${ehrDuplicates} EHR duplicates`);
    check(spec.alarmedWithoutFault ? 'every scripted episode alarmed that the detectors alarm without the fault' : 'every scripted episode alarmed', missed.length === 0,
      (missed.map((e) => `${e.deviceId} ${e.kind}`).join(', ') || `${summary.episodes.length} episodes`)
      + (missedWithoutFault.length ? `; not alarmed without the fault either: ${missedWithoutFault.map((e) => `${e.deviceId} ${e.kind}`).join(', ')}` : ''));
    check('no patient signal_loss while the devices streamed', falseSignalLoss === 0, `${falseSignalLoss} signal_loss alerts`);
    const alarmText = (a: (typeof falseAlarms)[number]) => `${a.deviceId}${summary.deviceInfo[a.deviceId]?.ecgOnly ? ' (ECG-only)' : ''} ${a.kind}@${new Date(a.onsetMs).toISOString()}`;
    check(spec.raisedWithoutFault ? 'no physiological alarm the script does not explain that the detectors do not raise without the fault' : 'no physiological alarm the script does not explain', falseAlarms.length === 0,
      (falseAlarms.map(alarmText).join(', ') || `${simReport.totals.alertsConsidered - falseWithoutFault.length} alerts, all explained`)
      + (falseWithoutFault.length ? `; raised without the fault as well: ${falseWithoutFault.map(alarmText).join(', ')}` : ''));
    await spec.extraChecks?.(ctx, { summary, scenario: played, raised, clinicianLatest });
    row.notes.push(`${devices.length} devices (${devices.filter((d) => summary.deviceInfo[d.deviceId]?.ecgOnly).length} of them ECG-only) × ${spec.streamS} s wall at speed ${FAULTS_SPEED} (1 frame per device-second: ${(devices.length * FAULTS_SPEED).toFixed(0)} frames/s), `
      + `episodes: ${summary.episodes.map((e) => e.kind).filter((k, i, a) => a.indexOf(k) === i).join(', ')}; technical alerts go to the EHR as Communications.`);
    if (raisedList.some((a) => TECHNICAL_KINDS.has(a.kind))) row.notes.push(`technical alerts raised: ${raisedList.filter((a) => TECHNICAL_KINDS.has(a.kind)).map((a) => a.kind).join(', ')}`);
    writeRow(row);
    return row;
  } finally {
    ctx.clinician?.close();
    await stack.close();
    await fhir.close();
  }
}

const patientOfCtx = (ctx: CaseContext) => (d: string) => ctx.devices.find((x) => x.deviceId === d)!.patientId;

/** The store holds every point of the frames produced before `sentBeforeMs`. */
export async function storeCaughtUp(ctx: CaseContext, sentBeforeMs: number): Promise<boolean> {
  const expected = ctx.sent.expectedPoints(patientOfCtx(ctx), sentBeforeMs);
  const stored = await pointsInStore(ctx.stack.o.influxDatabase, [...expected.keys()], 0, Date.now() + 86_400_000);
  return [...expected].every(([p, times]) => { const got = new Set(stored.get(p)); return [...times].every((t) => got.has(t)); });
}

/** Data flows end to end again: the store holds a point of a frame produced after `sentAfterMs`. */
export async function storeFlowingAfter(ctx: CaseContext, sentAfterMs: number): Promise<boolean> {
  const all = ctx.sent.expectedPoints(patientOfCtx(ctx));
  const before = ctx.sent.expectedPoints(patientOfCtx(ctx), sentAfterMs);
  const stored = await pointsInStore(ctx.stack.o.influxDatabase, [...all.keys()], 0, Date.now() + 86_400_000);
  return [...all].some(([p, times]) => (stored.get(p) ?? []).some((t) => times.has(t) && !before.get(p)?.has(t)));
}
