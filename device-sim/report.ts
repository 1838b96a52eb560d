/**
 * The simulation report: matches the alerts the pipeline raised for the simulated devices to
 * the ground truth of the episodes they were given, and measures detection. Pure (no I/O).
 *
 * Expected alarms: every episode's own alarm (`alarm`), plus the alarms its beats also meet
 * (`implied`, e.g. the pause of an asystole). An expected alarm is scored when its criterion was
 * met and the episode ended within the run; one cut off by the end of the run, or whose
 * criterion was not met (e.g. a signal loss too short in wall-clock time), is listed as not
 * scored: an alert for it is neither a detection nor a false alarm.
 *
 * Matching rule: an alert matches an expected alarm of the same device and kind when its onset
 * lies in [onset − tolerance, max(onset, end) + tolerance] of the episode (end = the run's end
 * for an episode still running then; tolerance default
 * 5 s: the episode window, widened for detectors that place an onset a few beats off, like the
 * AF detector's window-centred boundaries). Expected alarms are matched in onset order, each to
 * the free alert closest in onset. A further alert inside an already matched window is a
 * duplicate (one episode, several alerts); any other alert of a physiological kind is false —
 * also one raised on a distractor (an NSVT run, which must not alarm) — and any other technical
 * alert is reported as unmatched. Alerts with an onset outside the run's time (± the
 * tolerance), e.g. signal loss after the devices stopped, are left out.
 *
 * Time base: the ground truth is in true time; an alert's onset and end are its device's clock
 * readings, converted to true time when the device clock had an offset or drift (`deviceClocks`).
 *
 * Timing, per matched alert: onset error = alert onset − expected onset (true time); latency =
 * alert `detectedAt` − the wall time the frame holding the onset was sent (includes the time
 * the criterion itself needs, e.g. 4 s of silence, divided by the speed); after-criterion delay =
 * `detectedAt` − the wall time the frame completing the criterion was sent (the pipeline's own
 * delay).
 */
import { ALERT_KINDS, TECHNICAL_KINDS, type Alert, type AlertKind } from '../contracts/alert.ts';
import { DeviceClock, type DeviceClockSpec } from './device-clock.ts';
import type { EpisodeKind } from './episode-kinds.ts';
import type { GroundTruthEpisode } from './ground-truth.ts';

/** The alert fields the report reads (a `GET /v1/alerts` item). */
export type ReportAlert = Pick<Alert, 'id' | 'deviceId' | 'patientId' | 'kind' | 'onset' | 'detectedAt'> & Partial<Pick<Alert, 'end' | 'state'>>;

/** What the report is built from. */
export interface ReportInput {
  scenario: string;
  /** Time span of the run (true time, as the ground truth's), ms since the Unix epoch. */
  t0Ms: number;
  endMs: number;
  devices: readonly string[];
  episodes: readonly GroundTruthEpisode[];
  alerts: readonly ReportAlert[];
  /** Onset tolerance, ms (default {@link DEFAULT_TOLERANCE_MS}). */
  toleranceMs?: number;
  /** Where a device sent nothing the rhythm can be read from ({@link unmonitoredPeriods}): alarms due there are not scored. */
  unmonitored?: readonly UnmonitoredPeriod[];
  /**
   * Each device's clock (run-sim.ts `deviceInfo[id].clock`; `t0Ms` is its true start). An alert's
   * onset and end are the device's own times (its frames' `ts`), the ground truth's are true
   * times: with a clock offset or drift, the alert times are converted before they are matched.
   * A device not listed keeps true time.
   */
  deviceClocks?: Readonly<Record<string, DeviceClockSpec>>;
}

/** A stretch of true time in which a device's frames carried neither beats nor ECG. */
export interface UnmonitoredPeriod {
  deviceId: string;
  fromMs: number;
  toMs: number;
}

/**
 * Where the devices of a run could not be monitored: an ECG-only device (no firmware beats)
 * whose ECG a `config` command switched off sends frames with neither beats nor ECG until ECG is
 * switched on again. The processor then raises `signal_loss` (the rhythm is not monitored), and
 * no arrhythmia scripted in that time can be detected, so it is not scored against the product.
 * The same from a `refused` event to the end of the run: the gateway refused the device (an
 * operator disabled it), which sent nothing more.
 */
export function unmonitoredPeriods(
  deviceInfo: Readonly<Record<string, { ecgOnly?: true }>>,
  deviceEvents: readonly { deviceId: string; kind: string; atMs: number; ok?: boolean; settings?: { ecgFsHz: number | null } }[],
  runEndMs: number,
): UnmonitoredPeriod[] {
  const out: UnmonitoredPeriod[] = [];
  const offSince = new Map<string, number>();
  for (const e of deviceEvents) {
    if (e.kind === 'refused') {
      out.push({ deviceId: e.deviceId, fromMs: e.atMs, toMs: runEndMs });
      continue;
    }
    if (e.kind !== 'config' || e.ok !== true || !e.settings || deviceInfo[e.deviceId]?.ecgOnly !== true) continue;
    const since = offSince.get(e.deviceId);
    if (e.settings.ecgFsHz === null) {
      if (since === undefined) offSince.set(e.deviceId, e.atMs);
    } else if (since !== undefined) {
      out.push({ deviceId: e.deviceId, fromMs: since, toMs: e.atMs });
      offSince.delete(e.deviceId);
    }
  }
  for (const [deviceId, fromMs] of offSince) out.push({ deviceId, fromMs, toMs: runEndMs });
  return out;
}

export const DEFAULT_TOLERANCE_MS = 5000;

/** One alarm the ground truth says is due. */
export interface ExpectedAlarm {
  deviceId: string;
  kind: AlertKind;
  /** `episode`: the episode's own alarm; `implied`: another alarm its beats also meet. */
  role: 'episode' | 'implied';
  episodeKind: EpisodeKind;
  onsetMs: number;
  endMs: number | null;
  criterionMs: number | null;
  onsetSentAtMs: number | null;
  criterionSentAtMs: number | null;
  /** Matching window, device time ms. */
  windowStartMs: number;
  windowEndMs: number;
  /** Counted as detected or missed; otherwise why not. */
  scored: boolean;
  notScoredReason?: 'cut_off' | 'criterion_not_met' | 'not_monitored';
}

/** An alert as the report shows it: onset and end in true time (the API's `onset` is the device's clock). */
export interface AlertRef {
  id: string;
  deviceId: string;
  kind: AlertKind;
  onsetMs: number;
  endMs: number | null;
  detectedAtMs: number;
}

/** An expected alarm and the alert matched to it. */
export interface AlarmMatch {
  expected: ExpectedAlarm;
  alert: AlertRef | null;
  onsetErrorMs: number | null;
  endErrorMs: number | null;
  latencyMs: number | null;
  afterCriterionMs: number | null;
}

/** Nearest-rank percentiles of a list of values, ms. */
export interface Distribution {
  n: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Counts and timings of one alert kind. */
export interface KindStats {
  /** Scored expected alarms, of which `implied` came from other episodes. */
  expected: number;
  implied: number;
  detected: number;
  missed: number;
  /** Expected alarms not scored (cut off by the run's end, or criterion not met). */
  notScored: number;
  /** Physiological alerts matching nothing (technical ones: `unmatched`). */
  false: number;
  unmatched: number;
  duplicates: number;
  /** |onset error| over detections. */
  onsetErrorMs: Distribution;
  latencyMs: Distribution;
  afterCriterionMs: Distribution;
}

/** An alert that matched no expected alarm. */
export interface UnmatchedAlert extends AlertRef {
  /** The distractor episode it was raised on, if any (e.g. `nsvt`). */
  onDistractor?: EpisodeKind;
}

export interface SimReport {
  schema: 'pb.sim.report.v1';
  scenario: string;
  t0Ms: number;
  endMs: number;
  devices: number;
  toleranceMs: number;
  totals: {
    /** Scored episode alarms (the injected episodes) and how many were detected. */
    episodes: number;
    episodesDetected: number;
    /** Scored implied alarms and how many were detected. */
    implied: number;
    impliedDetected: number;
    missed: number;
    notScored: number;
    falsePhysiological: number;
    unmatchedTechnical: number;
    duplicates: number;
    /** Distractor episodes (must raise nothing), and alerts raised on them (counted in false too). */
    distractors: number;
    distractorAlarms: number;
    alertsConsidered: number;
    alertsOutsideRun: number;
  };
  /** True when every scored expected alarm was detected and no physiological alert was false. */
  pass: boolean;
  byKind: Partial<Record<AlertKind, KindStats>>;
  latencyMs: Distribution;
  afterCriterionMs: Distribution;
  missed: ExpectedAlarm[];
  falseAlarms: UnmatchedAlert[];
  unmatchedTechnical: UnmatchedAlert[];
  duplicates: AlertRef[];
  matches: AlarmMatch[];
}

/** Nearest-rank percentiles. */
export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { n: 0, p50: null, p95: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), max: sorted.at(-1)! };
}

/**
 * The alarms due for a set of episodes, in (device, onset) order. An episode still running at
 * the end of the run (`endMs` null) has its window extended to `runEndMs`.
 */
export function expectedAlarms(episodes: readonly GroundTruthEpisode[], toleranceMs = DEFAULT_TOLERANCE_MS, runEndMs?: number): ExpectedAlarm[] {
  const out: ExpectedAlarm[] = [];
  for (const e of episodes) {
    const windowEndMs = Math.max(e.onsetMs, e.endMs ?? runEndMs ?? e.onsetMs) + toleranceMs;
    const base = { deviceId: e.deviceId, episodeKind: e.kind, endMs: e.endMs, windowEndMs };
    const scoring = (criterionMs: number | null): Pick<ExpectedAlarm, 'scored' | 'notScoredReason'> =>
      e.endMs === null ? { scored: false, notScoredReason: 'cut_off' } : criterionMs === null ? { scored: false, notScoredReason: 'criterion_not_met' } : { scored: true };
    if (e.alarm !== null) {
      out.push({
        ...base, kind: e.alarm, role: 'episode', onsetMs: e.onsetMs, criterionMs: e.criterionMs, onsetSentAtMs: e.onsetSentAtMs,
        criterionSentAtMs: e.criterionSentAtMs, windowStartMs: e.onsetMs - toleranceMs, ...scoring(e.criterionMs),
      });
    }
    for (const i of e.implied) {
      out.push({
        ...base, kind: i.kind, role: 'implied', onsetMs: i.onsetMs, criterionMs: i.criterionMs, onsetSentAtMs: i.onsetSentAtMs,
        criterionSentAtMs: i.criterionSentAtMs, windowStartMs: Math.min(i.onsetMs, e.onsetMs) - toleranceMs, ...scoring(i.criterionMs),
      });
    }
  }
  return out.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.onsetMs - b.onsetMs));
}

const emptyStats = (): KindStats => ({
  expected: 0, implied: 0, detected: 0, missed: 0, notScored: 0, false: 0, unmatched: 0, duplicates: 0,
  onsetErrorMs: distribution([]), latencyMs: distribution([]), afterCriterionMs: distribution([]),
});

/** An alert with its onset and end in true time (`clock`: its device's, when it had an offset or drift). */
const toRef = (a: ReportAlert, clock: DeviceClock | undefined): AlertRef => {
  const toTrue = (iso: string) => (clock ? Math.round(clock.toTrue(Date.parse(iso))) : Date.parse(iso));
  return { id: a.id, deviceId: a.deviceId, kind: a.kind, onsetMs: toTrue(a.onset), endMs: a.end ? toTrue(a.end) : null, detectedAtMs: Date.parse(a.detectedAt) };
};

const inWindow = (t: number, x: { windowStartMs: number; windowEndMs: number }) => t >= x.windowStartMs && t <= x.windowEndMs;

/** Builds the report (see the file comment for the rules). */
export function buildSimReport(input: ReportInput): SimReport {
  const tol = input.toleranceMs ?? DEFAULT_TOLERANCE_MS;
  const devices = new Set(input.devices);
  // An alarm due while its device sent no rhythm (from the episode's onset to its criterion) cannot be raised.
  const unmonitored = input.unmonitored ?? [];
  const expected = expectedAlarms(input.episodes, tol, input.endMs).map((x) =>
    x.scored && unmonitored.some((u) => u.deviceId === x.deviceId && u.fromMs <= (x.criterionMs ?? x.onsetMs) && u.toMs >= x.onsetMs)
      ? { ...x, scored: false, notScoredReason: 'not_monitored' as const }
      : x);
  const distractors = input.episodes.filter((e) => e.alarm === null).map((e) => ({
    deviceId: e.deviceId, kind: e.kind, windowStartMs: e.onsetMs - tol, windowEndMs: Math.max(e.onsetMs, e.endMs ?? input.endMs) + tol,
  }));
  const clocks = new Map(Object.entries(input.deviceClocks ?? {}).map(([id, spec]) => [id, new DeviceClock(input.t0Ms, spec)]));
  const ofDevices = input.alerts.filter((a) => devices.has(a.deviceId)).map((a) => toRef(a, clocks.get(a.deviceId)));
  const considered = ofDevices.filter((a) => a.onsetMs >= input.t0Ms - tol && a.onsetMs <= input.endMs + tol);

  // Free alerts per device and kind.
  const free = new Map<string, AlertRef[]>();
  for (const a of considered) {
    const key = `${a.deviceId}\n${a.kind}`;
    const list = free.get(key);
    if (list) list.push(a);
    else free.set(key, [a]);
  }

  const matches: AlarmMatch[] = expected.map((x) => {
    const list = free.get(`${x.deviceId}\n${x.kind}`) ?? [];
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      if (!inWindow(a.onsetMs, x)) continue;
      if (best < 0 || Math.abs(a.onsetMs - x.onsetMs) < Math.abs(list[best]!.onsetMs - x.onsetMs)) best = i;
    }
    if (best < 0) return { expected: x, alert: null, onsetErrorMs: null, endErrorMs: null, latencyMs: null, afterCriterionMs: null };
    const [a] = list.splice(best, 1) as [AlertRef];
    return {
      expected: x,
      alert: a,
      onsetErrorMs: a.onsetMs - x.onsetMs,
      endErrorMs: a.endMs !== null && x.endMs !== null ? a.endMs - x.endMs : null,
      latencyMs: x.onsetSentAtMs === null ? null : a.detectedAtMs - x.onsetSentAtMs,
      afterCriterionMs: x.criterionSentAtMs === null ? null : a.detectedAtMs - x.criterionSentAtMs,
    };
  });

  const duplicates: AlertRef[] = [];
  const falseAlarms: UnmatchedAlert[] = [];
  const unmatchedTechnical: UnmatchedAlert[] = [];
  for (const list of free.values()) {
    for (const a of list) {
      if (expected.some((x) => x.deviceId === a.deviceId && x.kind === a.kind && inWindow(a.onsetMs, x) && matches.some((m) => m.expected === x && m.alert))) {
        duplicates.push(a);
        continue;
      }
      const distractor = distractors.find((d) => d.deviceId === a.deviceId && inWindow(a.onsetMs, d));
      const ref: UnmatchedAlert = { ...a, ...(distractor ? { onDistractor: distractor.kind } : {}) };
      (TECHNICAL_KINDS.has(a.kind) ? unmatchedTechnical : falseAlarms).push(ref);
    }
  }

  const byKind: Partial<Record<AlertKind, KindStats>> = {};
  const stats = (k: AlertKind) => (byKind[k] ??= emptyStats());
  const timing = new Map<AlertKind, { onset: number[]; latency: number[]; after: number[] }>();
  for (const m of matches) {
    const s = stats(m.expected.kind);
    if (!m.expected.scored) {
      s.notScored++;
      continue;
    }
    s.expected++;
    if (m.expected.role === 'implied') s.implied++;
    if (!m.alert) {
      s.missed++;
      continue;
    }
    s.detected++;
    const t = timing.get(m.expected.kind) ?? { onset: [], latency: [], after: [] };
    timing.set(m.expected.kind, t);
    if (m.onsetErrorMs !== null) t.onset.push(Math.abs(m.onsetErrorMs));
    if (m.latencyMs !== null) t.latency.push(m.latencyMs);
    if (m.afterCriterionMs !== null) t.after.push(m.afterCriterionMs);
  }
  for (const [k, t] of timing) Object.assign(stats(k), { onsetErrorMs: distribution(t.onset), latencyMs: distribution(t.latency), afterCriterionMs: distribution(t.after) });
  for (const a of falseAlarms) stats(a.kind).false++;
  for (const a of unmatchedTechnical) stats(a.kind).unmatched++;
  for (const a of duplicates) stats(a.kind).duplicates++;
  const ordered: Partial<Record<AlertKind, KindStats>> = {};
  for (const k of ALERT_KINDS) if (byKind[k]) ordered[k] = byKind[k];

  const scored = matches.filter((m) => m.expected.scored);
  const episodeAlarms = scored.filter((m) => m.expected.role === 'episode');
  const impliedAlarms = scored.filter((m) => m.expected.role === 'implied');
  const missed = scored.filter((m) => !m.alert).map((m) => m.expected);
  const detectedTimings = scored.filter((m) => m.alert);
  return {
    schema: 'pb.sim.report.v1',
    scenario: input.scenario,
    t0Ms: input.t0Ms,
    endMs: input.endMs,
    devices: input.devices.length,
    toleranceMs: tol,
    totals: {
      episodes: episodeAlarms.length,
      episodesDetected: episodeAlarms.filter((m) => m.alert).length,
      implied: impliedAlarms.length,
      impliedDetected: impliedAlarms.filter((m) => m.alert).length,
      missed: missed.length,
      notScored: matches.length - scored.length,
      falsePhysiological: falseAlarms.length,
      unmatchedTechnical: unmatchedTechnical.length,
      duplicates: duplicates.length,
      distractors: distractors.length,
      distractorAlarms: falseAlarms.filter((a) => a.onDistractor).length,
      alertsConsidered: considered.length,
      alertsOutsideRun: ofDevices.length - considered.length,
    },
    pass: missed.length === 0 && falseAlarms.length === 0,
    byKind: ordered,
    latencyMs: distribution(detectedTimings.flatMap((m) => (m.latencyMs === null ? [] : [m.latencyMs]))),
    afterCriterionMs: distribution(detectedTimings.flatMap((m) => (m.afterCriterionMs === null ? [] : [m.afterCriterionMs]))),
    missed,
    falseAlarms,
    unmatchedTechnical,
    duplicates,
    matches,
  };
}

const fmt = (v: number | null) => (v === null ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(0)}s` : v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`);
const dist = (d: Distribution) => (d.n === 0 ? '–' : `${fmt(d.p50)} / ${fmt(d.p95)} / ${fmt(d.max)}`);

/** The report as a plain-text table (one line per alert kind, then totals). */
export function formatSimReport(r: SimReport): string {
  const header = ['kind', 'expected', 'detected', 'missed', 'not scored', 'false', 'unmatched', 'dup', '|onset err| p50/p95/max', 'latency p50/p95/max', 'after criterion p50/p95/max'];
  const rows = Object.entries(r.byKind).map(([kind, s]) => [
    kind, s.implied ? `${s.expected} (${s.implied} impl.)` : String(s.expected), String(s.detected), String(s.missed), String(s.notScored),
    TECHNICAL_KINDS.has(kind as AlertKind) ? '' : String(s.false), TECHNICAL_KINDS.has(kind as AlertKind) ? String(s.unmatched) : '', String(s.duplicates),
    dist(s.onsetErrorMs), dist(s.latencyMs), dist(s.afterCriterionMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const t = r.totals;
  return [
    `Simulation report: scenario ${r.scenario}, ${r.devices} devices, ${((r.endMs - r.t0Ms) / 60_000).toFixed(1)} min of device time, onset tolerance ±${r.toleranceMs / 1000} s`,
    line(header),
    ...rows.map(line),
    `Injected episodes detected: ${t.episodesDetected}/${t.episodes}; implied alarms detected: ${t.impliedDetected}/${t.implied}; missed: ${t.missed}; not scored (cut off, criterion not met, or device sending no rhythm): ${t.notScored}`,
    `False physiological alarms: ${t.falsePhysiological} (on distractors: ${t.distractorAlarms} of ${t.distractors} distractor episodes); unmatched technical alerts: ${t.unmatchedTechnical}; duplicates: ${t.duplicates}`,
    `Detection latency (detectedAt − onset frame sent) p50/p95/max: ${dist(r.latencyMs)}; after the criterion was met: ${dist(r.afterCriterionMs)}`,
    `Result: ${r.pass ? 'PASS (every scored episode detected, no false physiological alarm)' : 'FAIL'}`,
    // A duplicate does not fail the run (a device reboot may legitimately split an alarm at its
    // hole), but an episode raised several times is what a clinician sees: say so under the result.
    ...(t.duplicates > 0 ? [`Note: ${t.duplicates} duplicate alert(s): an episode was raised more than once (a split alarm; listed under "duplicates" in the JSON report)`] : []),
  ].join('\n');
}
