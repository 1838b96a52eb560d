/**
 * The alarm lifecycle of one patient-device stream, in the spirit of IEC 60601-1-8
 * (fhir-and-alarms.md §7): turns the detectors' episode changes (device time) into alert
 * snapshots, one alert per episode, and applies clinician actions and escalation (wall clock).
 *
 * Rules and numbers (defaults in {@link LIFECYCLE_DEFAULTS}):
 * - **One alert per episode.** A detector onset opens an alert (id = patient, kind, onset). While
 *   it lasts, evidence (current rate, RR, beat count, duration) is republished at a bounded rate:
 *   at most every `evidenceUpdateMs` of device time (10 s) and only if it changed, or sooner
 *   (≥ 2 s apart) when the rate moved by ≥ 10 bpm. AF gets no updates: AF alarms should be limited
 *   to onset and termination (Drew et al. 2014).
 * - **End with hysteresis.** A detector end is held for `endConfirmMs` of device time (10 s for
 *   physiological kinds) and published only if the condition stayed absent; an onset of the same
 *   kind within that window continues the same alert (re-arm) instead of opening a new one. The
 *   published `end` is the moment the condition stopped (the detector's end), not the moment it
 *   was confirmed. Why 10 s: a sustained rhythm interrupted by a beat or two (an ectopic beat in a
 *   bradycardia run, one beat between two silences) is one clinical event, and splitting it
 *   multiplies alarms (88.8 % of ICU arrhythmia alarms were false, Drew et al. 2014); 10 s is ≈ 10
 *   beats at 60 bpm, twice the 5-beat onset window of the rate criteria, so ending needs more
 *   evidence than starting; and it is short enough for the end to reach the EHR promptly.
 *   Technical: lead_off 10 s (patch adjustments), signal_loss and low_battery 0 (signal_loss ends
 *   when data returns; low_battery already has a 15 → 20 % hysteresis).
 * - **Priorities** from DEFAULT_PRIORITY. **High-priority alerts latch** (`latchingPriorities`):
 *   once ended they stay `active` (with `end` set) until a clinician acknowledges them, and they
 *   escalate. **AF latches until reviewed** (`latchingKinds`): an AF alert nobody has acknowledged
 *   when it ends stays `active` with `end` set, like a latched high alarm, but never escalates
 *   (medium priority: not an emergency). Why: device-detected AF is to be over-read by a clinician
 *   (2023 ACC/AHA/ACCP/HRS, fhir-and-alarms.md §2.1), and self-terminating paroxysms (7–15 min,
 *   dozens a night in afdb records) otherwise left the board before anyone saw them. One
 *   acknowledged while it lasts has been reviewed: at its end it is resolved like a non-latching
 *   alert. Others are non-latching: when their end is confirmed the processor resolves them
 *   (`resolvedBy` = {@link SYSTEM_ACTOR}: the condition ended on its own, nobody dealt with it);
 *   they remain listed (and in the EHR, where the Observation stays preliminary until over-read).
 *   Global, not per patient: the per-patient criteria set thresholds and which alarms are on, not
 *   the lifecycle.
 * - **Escalation**: a high-priority alert still `active` (unacknowledged) `escalationDelaysMs[n]`
 *   after `detectedAt` (wall clock; 60 s, then 180 s) gets `escalationLevel` n+1 and `escalatedAt`.
 *   Only those are tracked once ended (`latched` in the changelog, restored and re-published after
 *   a restart or hand-over); an AF latched for review needs nothing more from the processor: its
 *   ended snapshot keeps it on the board until someone acknowledges it.
 * - Clinician snapshots (ack, resolve) are folded in: the state never goes backwards, revisions
 *   continue from the highest seen. A clinician-resolved alert whose condition continues gets no
 *   more evidence updates, but its end is still published (the EHR needs it).
 * - **Continuation** after a restart or a detector replacement (criteria change): restored open
 *   alerts wait for the (fresh) detector to report the condition again; that onset continues the
 *   same alert. If it is not reported within `reconfirmMs` of device time (60 s; AF 180 s, as
 *   the AF detector may take 120 s to alarm a weakly irregular episode), the alert ends at the
 *   last moment it was known to hold, with a note.
 */
import { alertId, DEFAULT_PRIORITY, raisedAlert, TECHNICAL_KINDS } from '../contracts/alert.ts';
import type { Alert, AlertEvidence, AlertKind, AlertPriority, AlertState } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import type { EpisodeChange } from './detectors/detector.ts';

/**
 * `resolvedBy` of alerts the processor resolves itself: non-latching alerts whose condition ended
 * on its own, nobody having dealt with it. Part of the API, kept as is; texts for people say the
 * condition ended on its own (ehr-exporter/bundle.ts selfEndedText), not "resolved by" this.
 */
export const SYSTEM_ACTOR = 'pulsebridge-processor';

type PerKind<T> = Record<AlertKind, T>;

export interface LifecycleConfig {
  /** Device time a condition must stay absent before its end is published; re-arm window. */
  endConfirmMs: PerKind<number>;
  /** Device time between evidence updates of an open alert; 0 = no updates. */
  evidenceUpdateMs: PerKind<number>;
  /** A rate change of at least this many bpm is published sooner ... */
  significantHrChangeBpm: number;
  /** ... but never less than this apart (device time), ms. */
  minUpdateSpacingMs: number;
  /** Device time within which a restored/replaced open alert must be re-detected, ms. */
  reconfirmMs: PerKind<number>;
  /** Wall-clock delays after detectedAt at which an unacknowledged latching alert escalates. */
  escalationDelaysMs: readonly number[];
  /** Priorities whose alerts latch until acknowledged and escalate while unacknowledged. */
  latchingPriorities: ReadonlySet<AlertPriority>;
  /**
   * Kinds that latch until acknowledged (reviewed) without escalating, whatever their priority: an
   * alert of one of these still unacknowledged when its end is confirmed stays `active` with `end`.
   */
  latchingKinds: ReadonlySet<AlertKind>;
  /** Resolve non-latching alerts when their end is confirmed. */
  autoResolveNonLatching: boolean;
}

const physiological = (ms: number, overrides: Partial<PerKind<number>> = {}): PerKind<number> => ({
  asystole: ms, pause: ms, extreme_brady: ms, brady: ms, extreme_tachy: ms, tachy: ms, vt: ms, afib: ms,
  signal_loss: 0, lead_off: 0, low_battery: 0, ...overrides,
});

export const LIFECYCLE_DEFAULTS: LifecycleConfig = {
  endConfirmMs: physiological(10_000, { lead_off: 10_000 }),
  evidenceUpdateMs: physiological(10_000, { afib: 0, lead_off: 10_000, low_battery: 60_000 }),
  significantHrChangeBpm: 10,
  minUpdateSpacingMs: 2_000,
  reconfirmMs: physiological(60_000, { afib: 180_000, lead_off: 0, low_battery: 0 }),
  escalationDelaysMs: [60_000, 180_000],
  latchingPriorities: new Set<AlertPriority>(['high']),
  latchingKinds: new Set<AlertKind>(['afib']),
  autoResolveNonLatching: true,
};

/**
 * Kinds whose detector counts the episode's run itself (Detector.openEvidence; vt.ts: the
 * ventricular beats, their V–V rate and the run's length): evidence updates publish its count, not
 * one made from the frames' beats (which would take in the coupling interval and, while the
 * waveform holds a VT open, other beats). An alert that goes on over two detector episodes (re-armed
 * within the end confirmation, or continued by a fresh detector after a restart) shows its longest
 * run: the count an alert showed never goes down, at its end either.
 */
const RUN_KINDS: ReadonlySet<AlertKind> = new Set(['vt']);
const RUN_FIELDS = ['hrBpm', 'rrMs', 'beatCount', 'runMs'] as const;
type RunEvidence = Pick<AlertEvidence, (typeof RUN_FIELDS)[number]>;
const runOf = (e: AlertEvidence): RunEvidence => Object.fromEntries(RUN_FIELDS.flatMap((k) => (e[k] === undefined ? [] : [[k, e[k]]])));
/** `evidence` with the run fields of `run` (RUN_KINDS). */
function withRun(evidence: AlertEvidence, run: RunEvidence): AlertEvidence {
  const out: AlertEvidence = { ...evidence };
  for (const k of RUN_FIELDS) delete out[k];
  return { ...out, ...run };
}

/** The open episode's evidence of a detector, as it stands now (PatientStream.openEvidence). */
export type LiveEvidence = (kind: AlertKind) => { onsetMs: number; evidence: AlertEvidence } | undefined;

/** Kinds whose evidence is a silence (no beats while open). */
const GAP_KINDS: ReadonlySet<AlertKind> = new Set(['asystole', 'pause']);
const STATE_RANK: Record<AlertState, number> = { active: 0, acknowledged: 1, resolved: 2 };
const MAX_EVIDENCE_RR = 32;
const MAX_CLOSED = 64;
const round1 = (x: number) => Math.round(x * 10) / 10;
const iso = (ms: number) => new Date(ms).toISOString();

interface Slot {
  alert: Alert;
  /** Onset of the detector episode this alert follows; undefined while waiting for a re-detection. */
  detectorOnsetMs?: number;
  pendingEnd?: { endMs: number; evidence: AlertEvidence; confirmAtMs: number };
  reconfirm?: { sinceMs: number; deadlineMs: number };
  /** Device time of the last published snapshot, and the rate it showed. */
  lastUpdateMs: number;
  lastUpdateHr?: number;
  /** Beats since onset, recent RR intervals, last battery reading. */
  beats: number;
  rrMs: number[];
  batteryPct?: number;
  /** Latest device time seen while open. */
  seenUntilMs: number;
  /** RUN_KINDS: the longest run the detector reported for this alert (its evidence shows it). */
  run?: RunEvidence;
}

/** Serializable state of one stream's alarms (processor changelog). */
export interface StreamAlarmsState {
  slots: Slot[];
  /** Ended high-priority (escalating) alerts still unacknowledged; alerts latched for review are not kept. */
  latched: Alert[];
  /** Recently closed alerts: a re-run that finds the same onset again must not reopen them. */
  closed: { id: string; onsetMs: number }[];
}

export class StreamAlarms {
  readonly patientId: string;
  readonly deviceId: string;
  readonly #cfg: LifecycleConfig;
  readonly #slots = new Map<AlertKind, Slot>();
  readonly #latched = new Map<string, Alert>();
  #closed: { id: string; onsetMs: number }[] = [];
  /** Detector episodes whose alert was already closed (ignore their end). */
  readonly #suppressed = new Map<AlertKind, number>();

  constructor(patientId: string, deviceId: string, config: LifecycleConfig = LIFECYCLE_DEFAULTS) {
    this.patientId = patientId;
    this.deviceId = deviceId;
    this.#cfg = config;
  }

  // ---- device time --------------------------------------------------------------------------

  /**
   * One analysed frame: its detector/monitor changes (in order), then the passage of device time
   * to the frame's end. Returns the snapshots to publish, in order.
   */
  onFrame(frame: TelemetryFrame, changes: EpisodeChange[], nowIso: string, live?: LiveEvidence): Alert[] {
    const endMs = frame.ts + frame.durMs;
    const out = this.apply(changes, endMs, nowIso);
    this.#observe(frame);
    out.push(...this.advance(endMs, nowIso, live));
    return out;
  }

  /**
   * A frame re-analysed after a restart (its effects were already published): only learns which
   * detector episode continues which restored alert; publishes nothing.
   */
  onReplayedFrame(changes: EpisodeChange[]): void {
    for (const c of changes) {
      const slot = this.#slots.get(c.kind);
      if (c.type === 'onset') {
        if (slot && !slot.pendingEnd) {
          slot.detectorOnsetMs = c.onsetMs;
          delete slot.reconfirm;
        } else {
          this.#suppressed.set(c.kind, c.onsetMs);
        }
      } else if (slot && slot.detectorOnsetMs === c.onsetMs) {
        // The detector, with less history, thinks it ended; the stored state (full history) says
        // it was still open. Wait for a re-detection.
        delete slot.detectorOnsetMs;
      } else if (this.#suppressed.get(c.kind) === c.onsetMs) {
        this.#suppressed.delete(c.kind);
      }
    }
  }

  /** Episode changes at device time `atMs` (e.g. signal loss, which is not tied to a frame). */
  apply(changes: EpisodeChange[], atMs: number, nowIso: string): Alert[] {
    const out: Alert[] = [];
    for (const c of changes) {
      if (c.type === 'onset') {
        const a = this.#onset(c, atMs, nowIso);
        if (a) out.push(a);
      } else {
        this.#end(c);
      }
    }
    return out;
  }

  /**
   * Device time has reached `tMs`: confirm ends, time out re-detections, publish evidence (of
   * RUN_KINDS from `live`, the detectors' own count).
   */
  advance(tMs: number, nowIso: string, live?: LiveEvidence): Alert[] {
    const out: Alert[] = [];
    for (const [kind, slot] of [...this.#slots]) {
      slot.seenUntilMs = Math.max(slot.seenUntilMs, tMs);
      if (slot.pendingEnd && slot.pendingEnd.confirmAtMs <= tMs) {
        out.push(this.#close(kind, slot, slot.pendingEnd.endMs, slot.pendingEnd.evidence, nowIso));
      } else if (!slot.pendingEnd && slot.reconfirm && tMs >= slot.reconfirm.deadlineMs) {
        const note = `end estimated: the condition was not detected again within ${this.#cfg.reconfirmMs[kind] / 1000} s after the processor resumed this stream`;
        out.push(this.#close(kind, slot, slot.reconfirm.sinceMs, { ...slot.alert.evidence, note }, nowIso));
      } else if (!slot.pendingEnd) {
        const update = this.#evidenceUpdate(kind, slot, tMs, nowIso, live);
        if (update) out.push(update);
      }
    }
    return out;
  }

  /** Publishes every held end now (the stream went silent: no device time will come to confirm them). */
  confirmPendingEnds(nowIso: string): Alert[] {
    const out: Alert[] = [];
    for (const [kind, slot] of [...this.#slots]) {
      if (slot.pendingEnd) out.push(this.#close(kind, slot, slot.pendingEnd.endMs, slot.pendingEnd.evidence, nowIso));
    }
    return out;
  }

  /**
   * The open alert of `kind` gets new evidence now (its cause turned out to be another: a signal
   * loss first seen as silence whose frames come back behind the analysed data); its next
   * revision, or undefined when none is open.
   */
  reviseEvidence(kind: AlertKind, evidence: Partial<AlertEvidence>, nowIso: string): Alert | undefined {
    const slot = this.#slots.get(kind);
    if (!slot || slot.pendingEnd || slot.alert.state === 'resolved') return undefined;
    slot.alert = { ...slot.alert, evidence: { ...slot.alert.evidence, ...evidence }, revision: slot.alert.revision + 1, updatedAt: nowIso };
    return slot.alert;
  }

  /** The alarm of `kind` was switched off (criteria): its open alert ends at `atMs`. */
  endUnmonitored(kind: AlertKind, atMs: number, why: string, nowIso: string): Alert[] {
    const slot = this.#slots.get(kind);
    if (!slot) return [];
    const endMs = slot.pendingEnd ? slot.pendingEnd.endMs : Math.max(atMs, Date.parse(slot.alert.onset));
    return [this.#close(kind, slot, endMs, { ...(slot.pendingEnd?.evidence ?? slot.alert.evidence), note: why }, nowIso)];
  }

  /** The detector of `kind` was replaced (restart, criteria change): its open alert waits for a re-detection. */
  expectRedetection(kind: AlertKind, sinceMs: number): void {
    const slot = this.#slots.get(kind);
    if (!slot || slot.pendingEnd) return;
    const windowMs = this.#cfg.reconfirmMs[kind];
    if (windowMs <= 0) return;
    delete slot.detectorOnsetMs;
    slot.reconfirm = { sinceMs, deadlineMs: sinceMs + windowMs };
  }

  /** Open (not yet ended) episodes by kind, with their onsets (to resume technical monitors). */
  openEpisodes(): { kind: AlertKind; onsetMs: number; alert: Alert }[] {
    return [...this.#slots].filter(([, s]) => !s.pendingEnd).map(([kind, s]) => ({ kind, onsetMs: Date.parse(s.alert.onset), alert: s.alert }));
  }

  /** Kinds with an open alert that is not ended nor being ended. */
  isOpen(kind: AlertKind): boolean {
    const s = this.#slots.get(kind);
    return s !== undefined && !s.pendingEnd;
  }

  #onset(c: Extract<EpisodeChange, { type: 'onset' }>, atMs: number, nowIso: string): Alert | undefined {
    const slot = this.#slots.get(c.kind);
    if (slot) {
      // Re-arm (the end was not confirmed yet) or continuation (re-detection after a restart or a
      // detector replacement): the same alert goes on.
      if (slot.pendingEnd) this.#foldRun(c.kind, slot, slot.pendingEnd.evidence);
      this.#foldRun(c.kind, slot, c.evidence);
      slot.detectorOnsetMs = c.onsetMs;
      delete slot.pendingEnd;
      delete slot.reconfirm;
      return undefined;
    }
    const id = alertId(this.patientId, c.kind, c.onsetMs);
    if (this.#closed.some((x) => x.id === id)) {
      // The same episode, already closed: a re-run over frames that were analysed before.
      this.#suppressed.set(c.kind, c.onsetMs);
      return undefined;
    }
    const alert = raisedAlert({ patientId: this.patientId, deviceId: this.deviceId, kind: c.kind, onsetMs: c.onsetMs, evidence: c.evidence, nowIso });
    const detectionMs = Math.max(atMs, c.onsetMs);
    this.#slots.set(c.kind, {
      alert,
      detectorOnsetMs: c.onsetMs,
      lastUpdateMs: detectionMs,
      ...(c.evidence.hrBpm !== undefined ? { lastUpdateHr: c.evidence.hrBpm } : {}),
      beats: 0,
      rrMs: [],
      seenUntilMs: detectionMs,
      ...(RUN_KINDS.has(c.kind) ? { run: runOf(c.evidence) } : {}),
    });
    return alert;
  }

  /** RUN_KINDS: keeps the longer of the alert's runs (RUN_KINDS comment). */
  #foldRun(kind: AlertKind, slot: Slot, evidence: AlertEvidence): void {
    if (!RUN_KINDS.has(kind)) return;
    if (!slot.run || (evidence.beatCount ?? 0) >= (slot.run.beatCount ?? 0)) slot.run = runOf(evidence);
  }

  #end(c: Extract<EpisodeChange, { type: 'end' }>): void {
    if (this.#suppressed.get(c.kind) === c.onsetMs) {
      this.#suppressed.delete(c.kind);
      return;
    }
    const slot = this.#slots.get(c.kind);
    if (!slot || slot.pendingEnd) return;
    if (slot.detectorOnsetMs !== undefined && slot.detectorOnsetMs !== c.onsetMs) return;
    delete slot.detectorOnsetMs;
    delete slot.reconfirm;
    slot.pendingEnd = { endMs: c.endMs, evidence: c.evidence, confirmAtMs: c.endMs + this.#cfg.endConfirmMs[c.kind] };
  }

  #close(kind: AlertKind, slot: Slot, endMs: number, evidence: AlertEvidence, nowIso: string): Alert {
    const onsetMs = Date.parse(slot.alert.onset);
    const escalating = this.#cfg.latchingPriorities.has(slot.alert.priority);
    // Latched for review: only while nobody has acknowledged it.
    const awaitsReview = !escalating && this.#cfg.latchingKinds.has(kind) && slot.alert.state === 'active';
    const resolve = !escalating && !awaitsReview && this.#cfg.autoResolveNonLatching && slot.alert.state !== 'resolved';
    this.#foldRun(kind, slot, evidence);
    const final = RUN_KINDS.has(kind) && slot.run ? withRun(evidence, slot.run) : evidence;
    const alert: Alert = {
      ...slot.alert,
      end: iso(endMs),
      evidence: { ...final, durationMs: Math.max(0, endMs - onsetMs) },
      ...(resolve ? { state: 'resolved' as const, resolvedBy: SYSTEM_ACTOR, resolvedAt: nowIso } : {}),
      revision: slot.alert.revision + 1,
      updatedAt: nowIso,
    };
    this.#slots.delete(kind);
    if (escalating && alert.state === 'active') this.#latched.set(alert.id, alert);
    this.#remember(alert.id, onsetMs);
    return alert;
  }

  #remember(id: string, onsetMs: number): void {
    if (this.#closed.some((x) => x.id === id)) return;
    this.#closed.push({ id, onsetMs });
    if (this.#closed.length > MAX_CLOSED) this.#closed = this.#closed.slice(-MAX_CLOSED);
  }

  #observe(frame: TelemetryFrame): void {
    for (const slot of this.#slots.values()) {
      if (slot.pendingEnd) continue;
      const onsetMs = Date.parse(slot.alert.onset);
      if (!frame.leadOff) {
        for (const b of frame.beats) {
          if (frame.ts + b.off < onsetMs) continue;
          slot.beats++;
          if (b.rr > 0) {
            slot.rrMs.push(b.rr);
            if (slot.rrMs.length > MAX_EVIDENCE_RR) slot.rrMs.shift();
          }
        }
      }
      if (frame.battery <= 100) slot.batteryPct = frame.battery;
    }
  }

  #evidenceUpdate(kind: AlertKind, slot: Slot, tMs: number, nowIso: string, live?: LiveEvidence): Alert | undefined {
    const intervalMs = this.#cfg.evidenceUpdateMs[kind];
    if (intervalMs <= 0 || slot.reconfirm || slot.alert.state === 'resolved') return undefined;
    const onsetMs = Date.parse(slot.alert.onset);
    const evidence: AlertEvidence = { ...slot.alert.evidence, durationMs: Math.max(0, tMs - onsetMs) };
    delete evidence.note;
    let hrBpm: number | undefined;
    if (GAP_KINDS.has(kind)) {
      evidence.gapMs = Math.max(0, tMs - onsetMs);
    } else if (kind === 'low_battery') {
      if (slot.batteryPct !== undefined) evidence.batteryPct = slot.batteryPct;
    } else if (RUN_KINDS.has(kind)) {
      // The detector's own count of the run (file comment), of the episode this alert follows.
      const now = live?.(kind);
      if (now && now.onsetMs === slot.detectorOnsetMs) this.#foldRun(kind, slot, now.evidence);
      if (slot.run) {
        for (const k of RUN_FIELDS) delete evidence[k];
        Object.assign(evidence, slot.run);
        hrBpm = evidence.hrBpm;
      }
    } else if (!TECHNICAL_KINDS.has(kind) && slot.rrMs.length > 0) {
      hrBpm = round1(60000 / (slot.rrMs.reduce((a, b) => a + b, 0) / slot.rrMs.length));
      evidence.hrBpm = hrBpm;
      evidence.rrMs = [...slot.rrMs];
      evidence.beatCount = Math.max(slot.beats, slot.alert.evidence.beatCount ?? 0);
    }
    const sinceMs = tMs - slot.lastUpdateMs;
    const significant = hrBpm !== undefined && slot.lastUpdateHr !== undefined
      && Math.abs(hrBpm - slot.lastUpdateHr) >= this.#cfg.significantHrChangeBpm && sinceMs >= this.#cfg.minUpdateSpacingMs;
    if (sinceMs < intervalMs && !significant) return undefined;
    if (sameEvidence(evidence, slot.alert.evidence)) return undefined;
    slot.alert = { ...slot.alert, evidence, revision: slot.alert.revision + 1, updatedAt: nowIso };
    slot.lastUpdateMs = tMs;
    if (hrBpm !== undefined) slot.lastUpdateHr = hrBpm;
    return slot.alert;
  }

  // ---- clinicians and escalation (wall clock) -----------------------------------------------

  /**
   * Folds a clinician snapshot (ack, resolve) of one of this stream's alerts. Returns true when
   * the alert is tracked here.
   */
  onClinician(incoming: Alert): boolean {
    const fold = (known: Alert): Alert => {
      const state = STATE_RANK[incoming.state] > STATE_RANK[known.state] ? incoming.state : known.state;
      return {
        ...known,
        state,
        ...pick(incoming, known, 'acknowledgedBy'),
        ...pick(incoming, known, 'acknowledgedAt'),
        ...pick(incoming, known, 'resolvedBy'),
        ...pick(incoming, known, 'resolvedAt'),
        ...pick(incoming, known, 'resolveReason'),
        revision: Math.max(known.revision, incoming.revision),
        updatedAt: incoming.revision >= known.revision ? incoming.updatedAt : known.updatedAt,
      };
    };
    for (const slot of this.#slots.values()) {
      if (slot.alert.id === incoming.id) {
        slot.alert = fold(slot.alert);
        return true;
      }
    }
    const latched = this.#latched.get(incoming.id);
    if (latched) {
      const next = fold(latched);
      if (next.state === 'active') this.#latched.set(next.id, next);
      else this.#latched.delete(next.id);
      return true;
    }
    return false;
  }

  /** Wall-clock time of the next escalation due among this stream's alerts. */
  nextEscalationDueMs(): number | undefined {
    let next: number | undefined;
    for (const a of this.#escalatable()) {
      const due = this.#escalationDueMs(a);
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  /** Escalates every alert due at `nowMs`; returns the snapshots to publish. */
  escalate(nowMs: number): Alert[] {
    const out: Alert[] = [];
    for (const a of this.#escalatable()) {
      const due = this.#escalationDueMs(a);
      if (due === undefined || due > nowMs) continue;
      const next: Alert = {
        ...a,
        escalationLevel: (a.escalationLevel ?? 0) + 1,
        escalatedAt: iso(nowMs),
        revision: a.revision + 1,
        updatedAt: iso(nowMs),
      };
      this.#replace(next);
      out.push(next);
    }
    return out;
  }

  #escalatable(): Alert[] {
    const out: Alert[] = [];
    for (const s of this.#slots.values()) out.push(s.alert);
    out.push(...this.#latched.values());
    return out.filter((a) => a.state === 'active' && this.#cfg.latchingPriorities.has(a.priority));
  }

  #escalationDueMs(a: Alert): number | undefined {
    const delay = this.#cfg.escalationDelaysMs[a.escalationLevel ?? 0];
    return delay === undefined ? undefined : Date.parse(a.detectedAt) + delay;
  }

  #replace(next: Alert): void {
    for (const slot of this.#slots.values()) {
      if (slot.alert.id === next.id) {
        slot.alert = next;
        return;
      }
    }
    if (this.#latched.has(next.id)) this.#latched.set(next.id, next);
  }

  // ---- state -----------------------------------------------------------------------------

  /** Every alert this stream still tracks (open, ending, latched): re-published after a restore. */
  trackedAlerts(): Alert[] {
    return [...[...this.#slots.values()].map((s) => s.alert), ...this.#latched.values()];
  }

  /** True when nothing is tracked (the changelog record can be minimal). */
  get idle(): boolean {
    return this.#slots.size === 0 && this.#latched.size === 0;
  }

  snapshot(): StreamAlarmsState {
    return {
      slots: [...this.#slots.values()].map((s) => structuredClone(s)),
      latched: [...this.#latched.values()],
      closed: [...this.#closed],
    };
  }

  /**
   * Rebuilds from a changelog snapshot. Open alerts wait for their detector to report the
   * condition again from `resumeMs` (device time) on; technical monitors are resumed by the caller.
   */
  static restore(patientId: string, deviceId: string, state: StreamAlarmsState, config: LifecycleConfig = LIFECYCLE_DEFAULTS): StreamAlarms {
    const s = new StreamAlarms(patientId, deviceId, config);
    for (const slot of state.slots) s.#slots.set(slot.alert.kind, structuredClone(slot));
    for (const a of state.latched) s.#latched.set(a.id, a);
    s.#closed = [...state.closed];
    return s;
  }

  /** After {@link restore}: every open alert of a physiological kind waits for a re-detection. */
  awaitRedetection(resumeMs: number): void {
    for (const [kind, slot] of this.#slots) {
      if (!TECHNICAL_KINDS.has(kind)) this.expectRedetection(kind, Math.max(resumeMs, slot.seenUntilMs));
    }
  }
}

function pick<K extends 'acknowledgedBy' | 'acknowledgedAt' | 'resolvedBy' | 'resolvedAt' | 'resolveReason'>(incoming: Alert, known: Alert, key: K): Partial<Pick<Alert, K>> {
  const v = incoming[key] ?? known[key];
  return v === undefined ? {} : ({ [key]: v } as Partial<Pick<Alert, K>>);
}

function sameEvidence(a: AlertEvidence, b: AlertEvidence): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
