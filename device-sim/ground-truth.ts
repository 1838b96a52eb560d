/**
 * Ground truth of one simulated device: the episodes it actually produced, with the onset and
 * end each alarm should report, when the alarm's default criterion was met, which other alarms
 * the episode's beats also raise, and the wall-clock times at which the frames holding the
 * onset and the criterion were handed to MQTT (for detection latency).
 *
 * Definitions (device time, ms since the Unix epoch), aligned with the alarm definitions of
 * processor/detectors and processor/technical.ts (fhir-and-alarms.md §5):
 *  - asystole, pause: onset = the beat before the silence; end = the beat ending it. A pause is a
 *    silence of 3 s up to the asystole's 4 s, met at its end beat; a longer silence is an asystole
 *    only (one alarm per silence, issue 12).
 *  - extreme_brady, extreme_tachy, brady, tachy: onset = the first beat of the first run of N
 *    consecutive intervals beyond the limit (N = 5, 5, 17, 5), which is the episode's first beat;
 *    end, extreme kinds = the first beat after the run (the first that no longer qualifies); end,
 *    limit kinds = the first beat of the first 5 consecutive recovered beats (HR ≥ 55 bpm resp.
 *    ≤ 115 bpm), the limit alarms' hysteresis; brady's is final only after its 2 min off-delay
 *    passes without 5 consecutive beats < 50 bpm (a relapse continues the episode). The limit
 *    kinds' criterion is met only once the run has also lasted the alarm delay (2 min brady, 5 min
 *    tachy; 30 s when the run starts suddenly compared with the 8 intervals before it — intervals
 *    the device sent, so none across a lead-off: alarm-criteria.ts, issue 12), so a short limit
 *    episode — and the brady/tachy implied by a short extreme brady/tachy or VT run — raises no
 *    limit alarm.
 *  - vt: onset = the first ventricular beat; end = the first beat after the run. nsvt (3–4 V
 *    beats, a distractor): the same, but no alarm is due.
 *  - afib: onset = the first beat of the irregular rhythm; end = its last beat. The criterion is
 *    met 30 s after onset (ESC 2016); the detector may need longer.
 *  - lead_off: onset = the start of the first frame flagged leadOff; end = the start of the
 *    first frame with contact again; criterion met 10 s after onset.
 *  - low_battery: onset = the start of the first frame reporting < 15 %; end = the start of the
 *    first frame reporting ≥ 20 % again.
 *  - signal_loss: onset = the start of the first frame the device withheld (= the end of the last
 *    frame it sent); end = the start of the first frame it sent live again. The criterion is
 *    wall-clock time: met 10 s (wall) after the silence began, so only when the silence lasted
 *    that long in wall time; at high simulation speeds a short device-time silence is too short.
 * `criterionMs` null means the default criterion was not met, so no alarm is due.
 */
import type { AlertKind } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { AFIB_MIN_EPISODE_MS, BRADY, LEAD_OFF_MIN_MS, LOW_BATTERY, nextPrevailingRrMs, SIGNAL_LOSS_SILENCE_MS, SUDDEN_ONSET, TACHY } from './alarm-criteria.ts';
import { scanCriteria, type CriterionHit } from './criteria-scan.ts';
import { ALARM_OF_EPISODE, type EpisodeKind } from './episode-kinds.ts';
import type { TimedBeat } from './frames.ts';

/** Another alarm an episode's beats also raise (e.g. the pause of an asystole). */
export interface ImpliedAlarm {
  kind: AlertKind;
  onsetMs: number;
  criterionMs: number;
  onsetSentAtMs: number | null;
  criterionSentAtMs: number | null;
}

/** What was generated, for reading the ground truth. */
export interface EpisodeDetail {
  /** When the scenario scheduled the episode, device time ms. */
  scheduledStartMs: number;
  /** Mean heart rate of the episode's intervals, bpm (rate kinds, vt, nsvt, afib). */
  hrBpm?: number;
  /** Beats of the episode's own rhythm. */
  beats?: number;
  /** Shortest and longest interval of the episode, ms. */
  minRrMs?: number;
  maxRrMs?: number;
  /** afib: mean of the exponential RR component (1/γ), ms. */
  tailMeanMs?: number;
  /** low_battery: lowest charge reported, %. */
  minBatteryPct?: number;
  /** signal_loss: whether the withheld frames were sent after the silence (a buffering device). */
  backlog?: boolean;
  /** signal_loss: frames withheld, and how long the device was silent in wall-clock time, ms. */
  withheldFrames?: number;
  silenceWallMs?: number;
}

/** One episode as written to the ground-truth file. */
export interface GroundTruthEpisode {
  deviceId: string;
  kind: EpisodeKind;
  onsetMs: number;
  /** Null while the episode had not ended within the simulated time. */
  endMs: number | null;
  /** The alarm the episode must raise; null for a distractor (nsvt), which must raise none. */
  alarm: AlertKind | null;
  /** Device time at which the alarm's default criterion was met; null when it was not (then no alarm is due). */
  criterionMs: number | null;
  implied: ImpliedAlarm[];
  /** Wall-clock time the frame holding the onset was handed to MQTT (signal_loss: when the last frame before the silence was). */
  onsetSentAtMs: number | null;
  /** Wall-clock time the frame completing the criterion was handed to MQTT (signal_loss: silence start + 10 s). */
  criterionSentAtMs: number | null;
  detail: EpisodeDetail;
}

/** A device-time instant to be turned into the wall time of the frame that carried it. */
interface SentTarget {
  timeMs: number;
  /** An instant (the frame whose end reaches it) rather than a beat (the frame containing it). */
  instant: boolean;
  set(wallMs: number): void;
}

/** Handle of a scheduled episode. */
export interface EpisodeRecord {
  readonly kind: EpisodeKind;
  readonly scheduledStartMs: number;
  /** Scheduled end (frame kinds), device time ms. */
  readonly scheduledEndMs: number;
  readonly detail: EpisodeDetail;
  phase: 'scheduled' | 'running' | 'recovering' | 'closed';
  onsetMs?: number;
  endMs?: number;
  beats: TimedBeat[];
  hits?: CriterionHit[];
  /** The intervals just before the episode's first interval (oldest first): the sudden-onset reference of the limit alarms. */
  beforeRrMs?: number[];
  /** The prevailing interval before the episode's first interval (the sudden-onset test's second reference). */
  prevailingRrMs?: number;
  criterionMs?: number | null;
  onsetSentAtMs?: number;
  criterionSentAtMs?: number;
  implied: ImpliedAlarm[];
  recovery?: { firstMs: number; count: number };
  /** Limit kinds after recovering: the end, final once the off-delay passes without a relapse (consecutive beats beyond the limit). */
  ending?: { endMs: number; relapse: number };
  /** signal_loss: wall time the silence began. */
  silenceStartWallMs?: number;
}

const SEND_LOG_FRAMES = 3600;

/** Records what one device produced; fed by the scenario timeline and the frame pipeline. */
export class GroundTruthRecorder {
  readonly deviceId: string;
  readonly #records: EpisodeRecord[] = [];
  /** Beat records whose rhythm is running or recovering. */
  readonly #active: EpisodeRecord[] = [];
  readonly #openFrameRecords: EpisodeRecord[] = [];
  #prevBeat: TimedBeat | undefined;
  /** The last intervals up to the previous beat (sudden-onset reference, alarm-criteria.ts SUDDEN_ONSET). */
  readonly #recentRrMs: number[] = [];
  /** The prevailing interval up to the previous beat (alarm-criteria.ts SUDDEN_ONSET); NaN before any. */
  #prevailingRrMs = Number.NaN;
  readonly #sendLog: Array<{ ts: number; endMs: number; wallMs: number }> = [];
  #pending: SentTarget[] = [];
  /** Wall time of the last frame sent and the device time it ended at. */
  #lastSent: { endMs: number; wallMs: number } | undefined;

  constructor(deviceId: string) {
    this.deviceId = deviceId;
  }

  /** Registers a scheduled episode; it appears in the ground truth once it has begun. */
  schedule(kind: EpisodeKind, scheduledStartMs: number, scheduledEndMs: number, detail: Partial<EpisodeDetail> = {}): EpisodeRecord {
    const rec: EpisodeRecord = { kind, scheduledStartMs, scheduledEndMs, detail: { scheduledStartMs, ...detail }, phase: 'scheduled', beats: [], implied: [] };
    this.#records.push(rec);
    if (kind === 'lead_off' || kind === 'low_battery' || kind === 'signal_loss') this.#openFrameRecords.push(rec);
    return rec;
  }

  /**
   * One beat, in time order, with the episode whose rhythm produced it (undefined: normal
   * rhythm). For a silence (asystole, pause) the beat ending it belongs to the episode.
   * @param intervalSent false when the electrodes were off at some time since the previous beat:
   *   the device sends no interval for it (frames.ts), so the detectors' sudden-onset reference
   *   starts again after it, as the processor's does after a lead-off (limit-rate.ts)
   */
  beat(beat: TimedBeat, rec: EpisodeRecord | undefined, intervalSent = true): void {
    const prev = this.#prevBeat;
    this.#prevBeat = beat;
    const beforeRrMs = this.#recentRrMs.slice();
    const prevailingRrMs = this.#prevailingRrMs;
    if (!intervalSent) this.#recentRrMs.length = 0;
    else if (prev) {
      this.#prevailingRrMs = nextPrevailingRrMs(this.#prevailingRrMs, beat.tMs - prev.tMs);
      this.#recentRrMs.push(beat.tMs - prev.tMs);
      if (this.#recentRrMs.length > SUDDEN_ONSET.beforeIntervals) this.#recentRrMs.shift();
    }
    for (const r of [...this.#active]) {
      if (r === rec) continue;
      if (r.phase === 'running') this.#endRun(r, beat, prev);
      else if (r.phase === 'recovering' && prev) this.#recover(r, beat.tMs - prev.tMs, beat.tMs);
    }
    if (!rec) return;
    if (rec.phase === 'scheduled') {
      rec.phase = 'running';
      rec.beats = prev ? [prev] : [];
      rec.beforeRrMs = beforeRrMs;
      rec.prevailingRrMs = prevailingRrMs;
      this.#active.push(rec);
    }
    rec.beats.push(beat);
    if (rec.kind === 'asystole' || rec.kind === 'pause') {
      rec.onsetMs = prev?.tMs ?? beat.tMs;
      rec.endMs = beat.tMs;
      this.#close(rec);
      return;
    }
    rec.onsetMs ??= beat.tMs;
  }

  /** The device's rhythm after `rec` ended with `beat` (the first beat not of its rhythm). */
  #endRun(rec: EpisodeRecord, beat: TimedBeat, prev: TimedBeat | undefined): void {
    if (rec.kind === 'afib') rec.endMs = prev?.tMs ?? beat.tMs;
    else if (rec.kind !== 'brady' && rec.kind !== 'tachy') rec.endMs = beat.tMs;
    this.#settleCriteria(rec);
    rec.beats = [];
    if (rec.kind === 'brady' || rec.kind === 'tachy') {
      rec.phase = 'recovering';
      if (prev) this.#recover(rec, beat.tMs - prev.tMs, beat.tMs);
      return;
    }
    this.#close(rec);
  }

  /**
   * Limit-alarm hysteresis: the episode ends at the first of 5 consecutive recovered beats, once
   * the off-delay (brady 2 min) has passed without a relapse — 5 consecutive beats beyond the
   * limit, after which it waits for a new recovery (processor/detectors/limit-rate.ts).
   */
  #recover(rec: EpisodeRecord, rrMs: number, tMs: number): void {
    const p = rec.kind === 'brady' ? BRADY : TACHY;
    if (rec.ending) {
      if (tMs - rec.ending.endMs >= p.recoveryMs) {
        rec.endMs = rec.ending.endMs;
        this.#close(rec);
        return;
      }
      const beyond = rec.kind === 'brady' ? rrMs > 60_000 / p.limitBpm : rrMs < 60_000 / p.limitBpm;
      rec.ending.relapse = beyond ? rec.ending.relapse + 1 : 0;
      if (rec.ending.relapse >= p.consecutiveBeats) rec.ending = undefined;
      return;
    }
    const recovered = rec.kind === 'brady' ? rrMs <= 60_000 / p.recoveredBpm : rrMs >= 60_000 / p.recoveredBpm;
    if (!recovered) {
      rec.recovery = undefined;
      return;
    }
    rec.recovery ??= { firstMs: tMs, count: 0 };
    rec.recovery.count++;
    if (rec.recovery.count < p.recoveryBeats) return;
    rec.ending = { endMs: rec.recovery.firstMs, relapse: 0 };
    rec.recovery = undefined;
    if (p.recoveryMs === 0) {
      rec.endMs = rec.ending.endMs;
      this.#close(rec);
    }
  }

  #close(rec: EpisodeRecord): void {
    if (rec.hits === undefined) this.#settleCriteria(rec);
    rec.phase = 'closed';
    rec.beats = [];
    const i = this.#active.indexOf(rec);
    if (i >= 0) this.#active.splice(i, 1);
  }

  /** Criterion time and implied alarms of a beat episode, from its beats so far. */
  #settleCriteria(rec: EpisodeRecord): void {
    const { criterionMs, hits, onsetMs } = this.#criteria(rec);
    rec.hits = hits;
    rec.criterionMs = criterionMs;
    if (onsetMs !== undefined) rec.onsetMs = onsetMs;
    this.#detailFromBeats(rec);
    const alarm = ALARM_OF_EPISODE[rec.kind];
    rec.implied = hits.filter((h) => h.kind !== alarm).map((h) => {
      const implied: ImpliedAlarm = { ...h, onsetSentAtMs: null, criterionSentAtMs: null };
      this.#whenSent({ timeMs: h.onsetMs, instant: false, set: (w) => (implied.onsetSentAtMs = w) });
      this.#whenSent({ timeMs: h.criterionMs, instant: isSilence(h.kind), set: (w) => (implied.criterionSentAtMs = w) });
      return implied;
    });
    if (rec.onsetMs !== undefined) this.#whenSent({ timeMs: rec.onsetMs, instant: false, set: (w) => (rec.onsetSentAtMs = w) });
    if (rec.criterionMs != null) this.#whenSent({ timeMs: rec.criterionMs, instant: isSilence(rec.kind) || rec.kind === 'afib', set: (w) => (rec.criterionSentAtMs = w) });
  }

  #criteria(rec: EpisodeRecord): { criterionMs: number | null; hits: CriterionHit[]; onsetMs?: number } {
    const hits = scanCriteria(rec.beats, rec.beforeRrMs, rec.prevailingRrMs);
    if (rec.kind === 'afib') {
      const endMs = rec.endMs ?? rec.beats.at(-1)?.tMs;
      const met = rec.onsetMs !== undefined && endMs !== undefined && endMs - rec.onsetMs >= AFIB_MIN_EPISODE_MS;
      return { criterionMs: met ? rec.onsetMs! + AFIB_MIN_EPISODE_MS : null, hits };
    }
    const own = hits.find((h) => h.kind === ALARM_OF_EPISODE[rec.kind]);
    return own ? { criterionMs: own.criterionMs, hits, onsetMs: own.onsetMs } : { criterionMs: null, hits };
  }

  #detailFromBeats(rec: EpisodeRecord): void {
    // rec.beats: the beat before the episode, then the episode's own beats (every interval is the episode's).
    const own = rec.beats;
    const rr: number[] = [];
    for (let i = 1; i < own.length; i++) rr.push(own[i]!.tMs - own[i - 1]!.tMs);
    if (rr.length === 0) return;
    if (rec.kind === 'asystole' || rec.kind === 'pause') {
      rec.detail.minRrMs = rec.detail.maxRrMs = rr[0]!;
      return;
    }
    rec.detail.beats = own.length - 1;
    rec.detail.hrBpm = Math.round((60_000 / (rr.reduce((a, b) => a + b, 0) / rr.length)) * 10) / 10;
    rec.detail.minRrMs = Math.min(...rr);
    rec.detail.maxRrMs = Math.max(...rr);
  }

  /**
   * A frame as built, in order, whether it was sent now (`sentAtMs`) or withheld by a signal
   * loss (`withheldDueAtMs`: when it would have been sent). Settles the frame kinds' ground truth.
   */
  frame(frame: TelemetryFrame, outcome: { sentAtMs: number } | { withheldDueAtMs: number }): void {
    for (const rec of [...this.#openFrameRecords]) {
      if (rec.kind === 'lead_off') this.#leadOffFrame(rec, frame);
      else if (rec.kind === 'low_battery') this.#batteryFrame(rec, frame);
      else this.#signalLossFrame(rec, frame, outcome);
    }
    if ('sentAtMs' in outcome) this.sent(frame, outcome.sentAtMs);
  }

  #leadOffFrame(rec: EpisodeRecord, frame: TelemetryFrame): void {
    if (rec.onsetMs === undefined) {
      if (frame.leadOff && frame.ts + frame.durMs > rec.scheduledStartMs) this.#begin(rec, frame.ts);
      return;
    }
    if (frame.leadOff) return;
    rec.endMs = frame.ts;
    this.#closeFrameRecord(rec, rec.endMs - rec.onsetMs >= LEAD_OFF_MIN_MS ? rec.onsetMs + LEAD_OFF_MIN_MS : null, true);
  }

  #batteryFrame(rec: EpisodeRecord, frame: TelemetryFrame): void {
    if (frame.ts < rec.scheduledStartMs || frame.battery > 100) return;
    rec.detail.minBatteryPct = Math.min(rec.detail.minBatteryPct ?? 100, frame.battery);
    if (rec.onsetMs === undefined) {
      if (frame.battery < LOW_BATTERY.belowPct) {
        this.#begin(rec, frame.ts);
        rec.criterionMs = frame.ts;
        this.#whenSent({ timeMs: frame.ts, instant: false, set: (w) => (rec.criterionSentAtMs = w) });
      } else if (frame.ts >= rec.scheduledEndMs) {
        this.#closeFrameRecord(rec, null, false); // never went low (a very short episode)
      }
      return;
    }
    if (frame.battery < LOW_BATTERY.clearAtPct) return;
    rec.endMs = frame.ts;
    this.#closeFrameRecord(rec, rec.criterionMs ?? null, false);
  }

  #signalLossFrame(rec: EpisodeRecord, frame: TelemetryFrame, outcome: { sentAtMs: number } | { withheldDueAtMs: number }): void {
    const withheld = 'withheldDueAtMs' in outcome;
    if (rec.onsetMs === undefined) {
      if (!withheld) return;
      this.#begin(rec, frame.ts);
      rec.silenceStartWallMs = this.#lastSent?.wallMs ?? outcome.withheldDueAtMs;
      rec.detail.withheldFrames = 0;
    }
    if (withheld) {
      rec.detail.withheldFrames = (rec.detail.withheldFrames ?? 0) + 1;
      return;
    }
    rec.endMs = frame.ts;
    const silenceWallMs = outcome.sentAtMs - rec.silenceStartWallMs!;
    rec.detail.silenceWallMs = silenceWallMs;
    const met = silenceWallMs >= SIGNAL_LOSS_SILENCE_MS;
    if (met) rec.criterionSentAtMs = rec.silenceStartWallMs! + SIGNAL_LOSS_SILENCE_MS;
    this.#closeFrameRecord(rec, met ? rec.onsetMs! : null, false);
  }

  #begin(rec: EpisodeRecord, onsetMs: number): void {
    rec.phase = 'running';
    rec.onsetMs = onsetMs;
    if (rec.kind === 'signal_loss') {
      // The onset instant is the end of the last frame sent: its wall time is that frame's.
      rec.onsetSentAtMs = this.#lastSent?.endMs === onsetMs ? this.#lastSent.wallMs : undefined;
      if (rec.onsetSentAtMs === undefined) this.#whenSent({ timeMs: onsetMs, instant: true, set: (w) => (rec.onsetSentAtMs = w) });
    } else {
      this.#whenSent({ timeMs: onsetMs, instant: false, set: (w) => (rec.onsetSentAtMs = w) });
    }
  }

  #closeFrameRecord(rec: EpisodeRecord, criterionMs: number | null, lookupCriterion: boolean): void {
    rec.criterionMs = criterionMs;
    rec.phase = 'closed';
    if (lookupCriterion && criterionMs !== null) this.#whenSent({ timeMs: criterionMs, instant: true, set: (w) => (rec.criterionSentAtMs = w) });
    const i = this.#openFrameRecords.indexOf(rec);
    if (i >= 0) this.#openFrameRecords.splice(i, 1);
  }

  /** A frame handed to MQTT at `wallMs` (live, or later as backlog). */
  sent(frame: TelemetryFrame, wallMs: number): void {
    const entry = { ts: frame.ts, endMs: frame.ts + frame.durMs, wallMs };
    this.#sendLog.push(entry);
    if (this.#sendLog.length > SEND_LOG_FRAMES) this.#sendLog.shift();
    if (!this.#lastSent || entry.endMs >= this.#lastSent.endMs) this.#lastSent = { endMs: entry.endMs, wallMs };
    if (this.#pending.length === 0) return;
    this.#pending = this.#pending.filter((t) => {
      if (!carries(entry, t)) return true;
      t.set(wallMs);
      return false;
    });
  }

  #whenSent(target: SentTarget): void {
    for (let i = this.#sendLog.length - 1; i >= 0; i--) {
      const e = this.#sendLog[i]!;
      if (carries(e, target)) {
        target.set(e.wallMs);
        return;
      }
    }
    this.#pending.push(target);
  }

  /**
   * Episodes that began before `untilMs`, in onset order. An episode still running then has
   * `endMs: null`, and a criterion met only later counts as not met.
   */
  episodes(untilMs: number): GroundTruthEpisode[] {
    const out: GroundTruthEpisode[] = [];
    for (const rec of this.#records) {
      if (rec.onsetMs === undefined || rec.onsetMs >= untilMs) continue;
      let criterionMs = rec.criterionMs ?? null;
      let implied = rec.implied;
      if (rec.phase === 'running' && rec.hits === undefined && rec.beats.length > 0) {
        // Cut off by the end of the simulation: what its beats had met so far.
        const c = this.#criteria(rec);
        criterionMs = c.criterionMs;
        implied = c.hits.filter((h) => h.kind !== ALARM_OF_EPISODE[rec.kind]).map((h) => ({ ...h, onsetSentAtMs: null, criterionSentAtMs: null }));
      }
      if (criterionMs !== null && criterionMs > untilMs) criterionMs = null;
      out.push({
        deviceId: this.deviceId,
        kind: rec.kind,
        onsetMs: rec.onsetMs,
        endMs: rec.endMs !== undefined && rec.endMs <= untilMs ? rec.endMs : null,
        alarm: ALARM_OF_EPISODE[rec.kind],
        criterionMs,
        implied: implied.filter((h) => h.criterionMs <= untilMs).map((h) => ({ ...h })),
        onsetSentAtMs: rec.onsetSentAtMs ?? null,
        criterionSentAtMs: criterionMs === null ? null : (rec.criterionSentAtMs ?? null),
        detail: { ...rec.detail },
      });
    }
    return out.sort((a, b) => a.onsetMs - b.onsetMs);
  }
}

/** Kinds met at an instant (a silence reaching its length) rather than at a beat; a pause is met at its end beat. */
const isSilence = (kind: string) => kind === 'asystole';

function carries(frame: { ts: number; endMs: number }, t: SentTarget): boolean {
  return t.instant ? frame.ts < t.timeMs && t.timeMs <= frame.endMs : frame.ts <= t.timeMs && t.timeMs < frame.endMs;
}
