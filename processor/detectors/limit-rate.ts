/**
 * Heart-rate limit alarms with hysteresis (bradycardia, tachycardia): the episode starts when
 * `consecutiveBeats` consecutive beats are beyond the limit, and ends only when the rate has
 * recovered past the limit by `hysteresisBpm` for `recoveryBeats` consecutive beats, so a rate
 * hovering at the limit raises one alert instead of a flapping series. Beat-to-beat rate =
 * 60000 / RR. Beats between the limit and the recovery level neither extend nor end the episode.
 * Off-delay (`recoveryMs`, brady since session 8): the episode's end — the first recovered beat —
 * is final only once `recoveryMs` of device time has passed after it without a relapse, i.e.
 * without `consecutiveBeats` consecutive beats beyond the limit (which would start a new episode);
 * after a relapse the episode goes on and waits for a new recovery. A sleeping heart that rises
 * above the recovery level for a minute and sinks again stays one episode instead of a new alarm
 * per arousal. Single long intervals (a compensatory pause, AF) do not prolong it.
 *
 * consecutive-rate.ts (extreme brady/tachy) has an end hysteresis too since the afdb 04908
 * finding, on the monitor's averaged rate (AF at the limit makes single recovered beats common).
 */
import { z } from 'zod';
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, PendingState, TimeEvent } from './detector.ts';
import { finiteEntry, HeldHandover } from './pending-run.ts';

export interface LimitRateParams {
  /** The limit, bpm (patient-adjustable). */
  limitBpm: number;
  /** Consecutive beats beyond the limit that start an episode. */
  consecutiveBeats: number;
  /** How far back inside the limit the rate must come to count as recovered, bpm. */
  hysteresisBpm: number;
  /** Consecutive recovered beats that end an episode. */
  recoveryBeats: number;
  /**
   * Alarm off-delay: device time after the end (the first recovered beat) within which a relapse
   * (`consecutiveBeats` beats beyond the limit) continues the episode, ms. 0 = none.
   */
  recoveryMs: number;
  /**
   * Alarm delay: the consecutive beats beyond the limit must also span this long before the
   * episode opens (onset stays at the run's first beat), ms. 0 = no delay.
   */
  sustainMs: number;
  /**
   * Sudden onset (optional): when the run's first `consecutiveBeats` intervals are on average at
   * least this fraction shorter (tachy) / longer (brady) than the 8 intervals before the run
   * (consecutive, all inside the limit: a beat beyond it restarts the reference) **and** than the
   * prevailing interval before the run ({@link PREVAILING_TAU_MS}), the shorter
   * {@link suddenSustainMs} applies. Sinus tachycardia of exercise ramps up; a re-entrant
   * tachycardia starts from one beat to the next (the "sudden onset" discriminator of implantable
   * defibrillators). 0 = off.
   */
  suddenChange: number;
  suddenSustainMs: number;
}

export interface LimitRateCriterion {
  kind: AlertKind;
  /** `below`: alarm when HR < limit (bradycardia); `above`: when HR > limit (tachycardia). */
  direction: 'below' | 'above';
  params: LimitRateParams;
  /** Human-readable criterion with its source, for the alert evidence. */
  criterion: string;
}

/**
 * A run whose alarm delay is running, as the processor's changelog keeps it ({@link
 * LimitRateDetector.pendingState}, format 1): the run's first beat (the onset the alarm will carry
 * and the start of the delay) and the sudden-onset decision are what the alarm's timing needs; the
 * rest is for the evidence (beats, mean rate) and for deciding the sudden-onset test when the run
 * is still shorter than `consecutiveBeats`. `limitBpm` and `direction` tell a detector with other
 * criteria whether every beat of the run is beyond its own limit too.
 */
export interface PendingRun extends PendingState {
  v: 1;
  direction: 'below' | 'above';
  limitBpm: number;
  /** Device time of the run's first beat, ms. */
  firstMs: number;
  /** Device time of the last beat counted here, ms: re-delivered beats up to it are not counted again. */
  lastMs: number;
  count: number;
  rrSumMs: number;
  recentRrMs: number[];
  /** The sudden-onset decision; absent until the run has `consecutiveBeats` intervals. */
  sudden?: boolean;
  /** While undecided: the intervals before the run the test compares with (up to 8). */
  beforeRrMs?: number[];
  /** While undecided: the prevailing interval before the run (absent in older records: not compared). */
  prevailingRrMs?: number;
}

/**
 * An episode whose off-delay is running (format 2 of the changelog state; format 1 is
 * {@link PendingRun}, which an older processor reads, so this one has its own version): the
 * episode's onset and evidence, its end if no relapse comes, and the relapse so far. A successor
 * continues the off-delay from it instead of letting the open alert time out with an estimated end.
 */
export interface EndingEpisode extends PendingState {
  v: 2;
  direction: 'below' | 'above';
  limitBpm: number;
  onsetMs: number;
  beatCount: number;
  rrSumMs: number;
  recentRrMs: number[];
  /** Device time of the first recovered beat: the episode's end unless a relapse comes, ms. */
  endMs: number;
  /** Consecutive beats beyond the limit since (a relapse at `consecutiveBeats`). */
  relapse: number;
  /** Device time of the last beat counted here, ms: re-delivered beats up to it are not counted again. */
  lastMs: number;
}

const MAX_EVIDENCE_RR = 32;
/** Intervals before a run that the sudden-onset test compares with. */
const BEFORE_INTERVALS = 8;
/**
 * Time constant of the prevailing interval, the sudden-onset test's second reference, ms.
 * Why a second reference: the 8 intervals right before a run say what the heart did a few
 * seconds ago, and after an arousal from sleep (a transient acceleration of a minute or two)
 * the return to the sleeping rate looks like a sudden drop against them, although the heart only
 * goes back to where it has been for minutes. A block or a re-entrant tachycardia departs from
 * the prevailing rhythm too, so it stays sudden. The prevailing interval is the intervals'
 * average weighted by time with an exponential memory of 5 min — the short-term recording length
 * of heart-rate-variability practice (Task Force of the ESC and NASPE, Circulation 1996) — set
 * a priori: 2, 5 and 10 min (and a 5 or 10 min median) give the same nuisance figures in
 * `node eval/rate-stress.ts` (EVALUATION.md §3).
 */
export const PREVAILING_TAU_MS = 300_000;

/**
 * The prevailing interval after one more interval `rrMs`: each interval pulls it by its own
 * duration's share of the time constant (an exponential average over time, not over beats, so a
 * fast stretch weighs by how long it lasted). NaN before the first interval.
 */
export function nextPrevailingRrMs(prevailingRrMs: number, rrMs: number): number {
  if (Number.isNaN(prevailingRrMs)) return rrMs;
  return prevailingRrMs + (1 - Math.exp(-rrMs / PREVAILING_TAU_MS)) * (rrMs - prevailingRrMs);
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export class LimitRateDetector implements Detector {
  readonly kind: AlertKind;
  readonly #c: LimitRateCriterion;
  readonly #beyond: (rrMs: number) => boolean;
  readonly #recovered: (rrMs: number) => boolean;
  /** The current run of qualifying beats before an episode opens (bounded summary). */
  #run: { firstMs: number; lastMs: number; count: number; rrSumMs: number; recentRrMs: number[]; sudden: boolean | undefined; prevailingRrMs: number } | undefined;
  /** The last intervals before the run, all inside the limit and consecutive (sudden-onset reference). */
  #before: number[] = [];
  /** The prevailing interval up to the previous beat (the sudden-onset test's second reference); NaN before any. */
  #prevailingRrMs = Number.NaN;
  #open: { onsetMs: number; beatCount: number; rrSumMs: number; recentRrMs: number[] } | undefined;
  /** First beat and length of the current run of recovered beats while open. */
  #recovery: { firstMs: number; count: number } | undefined;
  /** While open: the end (first recovered beat) waiting for its off-delay, and the relapse so far. */
  #ending: { endMs: number; relapse: number } | undefined;
  /** Device time of the last beat seen while open (the off-delay's changelog state). */
  #lastBeatMs = -Infinity;
  /** {@link resumePending}: a predecessor's open episode in its off-delay, taken over at the next beat. */
  #resumedOpen: EndingEpisode | undefined;
  /** {@link continueOpen}: runs starting before this device time open without the alarm delay. */
  #continueUntilMs = -Infinity;
  /** {@link resumePending}: a predecessor's run, taken over at the first beat that continues it. */
  #resumed: PendingRun | undefined;
  /** Beats up to this device time are already counted in the run taken over (re-delivered after a restart). */
  #countedUntilMs = -Infinity;
  /** A hand-over's open episode was taken up: it is announced at the next beat or time step. */
  #reannounce = false;
  /** A hand-over's state, held until the first input (pending-run.ts). */
  readonly #whole = new HeldHandover<z.infer<typeof limitRateHandoverSchema>>((h) => this.#takeUp(h));
  /** Device time up to which the stream was seen (the last beat or time step), for a hand-over. */
  #seenUntilMs = -Infinity;

  constructor(criterion: LimitRateCriterion) {
    const p = criterion.params;
    if (!(p.limitBpm > 0) || !(p.hysteresisBpm >= 0) || (criterion.direction === 'above' && p.hysteresisBpm >= p.limitBpm)) {
      throw new RangeError(`${criterion.kind}: limit ${p.limitBpm} bpm with hysteresis ${p.hysteresisBpm} bpm is not a valid rate limit`);
    }
    if (!(p.consecutiveBeats >= 1) || !(p.recoveryBeats >= 1)) throw new RangeError(`${criterion.kind}: beat counts must be ≥ 1`);
    if (!(p.sustainMs >= 0) || !(p.recoveryMs >= 0) || !(p.suddenSustainMs >= 0) || !(p.suddenChange >= 0 && p.suddenChange < 1)) throw new RangeError(`${criterion.kind}: sustain times must be ≥ 0 and the sudden-onset fraction in [0, 1)`);
    this.#c = criterion;
    this.kind = criterion.kind;
    const limitRrMs = 60000 / p.limitBpm;
    if (criterion.direction === 'below') {
      const recoveredRrMs = 60000 / (p.limitBpm + p.hysteresisBpm);
      this.#beyond = (rr) => rr > limitRrMs;
      this.#recovered = (rr) => rr <= recoveredRrMs;
    } else {
      const recoveredRrMs = 60000 / (p.limitBpm - p.hysteresisBpm);
      this.#beyond = (rr) => rr < limitRrMs;
      this.#recovered = (rr) => rr >= recoveredRrMs;
    }
  }

  #evidence(beatCount: number, rrSumMs: number, recentRrMs: number[]): AlertEvidence {
    const p = this.#c.params;
    return {
      hrBpm: round1(60000 / (rrSumMs / beatCount)),
      rrMs: recentRrMs.slice(-MAX_EVIDENCE_RR),
      beatCount,
      criterion: this.#c.criterion,
      thresholds: { limitBpm: p.limitBpm, consecutiveBeats: p.consecutiveBeats, hysteresisBpm: p.hysteresisBpm, recoveryBeats: p.recoveryBeats, ...(p.recoveryMs > 0 ? { recoveryMs: p.recoveryMs } : {}), sustainMs: p.sustainMs, ...(p.suddenChange > 0 ? { suddenChange: p.suddenChange, suddenSustainMs: p.suddenSustainMs } : {}) },
    };
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    this.#whole.inputAt(beat.timeMs);
    this.#seenUntilMs = Math.max(this.#seenUntilMs, beat.timeMs);
    if (this.#reannounce) return [...this.#announce(), ...this.onBeat(beat)];
    if (this.#resumedOpen) return this.#takeOverOpen(this.#resumedOpen, beat);
    if (this.#resumed && beat.timeMs >= this.#resumed.firstMs) this.#takeOver(this.#resumed, beat);
    if (beat.timeMs <= this.#countedUntilMs) {
      // A re-delivered beat of the run taken over: already counted, unless the data differ.
      if (this.#run && beat.rrMs > 0 && this.#beyond(beat.rrMs)) return [];
      this.#countedUntilMs = -Infinity;
    }
    if (beat.rrMs <= 0) {
      // Unknown interval: says nothing about the rate, and breaks any run of consecutive beats.
      this.#run = undefined;
      this.#before = [];
      this.#recovery = undefined;
      if (this.#ending) this.#ending.relapse = 0;
      return [];
    }
    // Every known interval moves the prevailing interval; a run compares with its value before the run.
    const prevailingRrMs = this.#prevailingRrMs;
    this.#prevailingRrMs = nextPrevailingRrMs(prevailingRrMs, beat.rrMs);
    if (!this.#open) {
      const p = this.#c.params;
      if (!this.#beyond(beat.rrMs)) {
        // The sudden-onset reference is the intervals *immediately* before a run: a run that
        // broke off here (a few beats beyond the limit) means the rhythm already hovered at the
        // limit, so the intervals before it no longer describe where the next run comes from.
        // Kept, they let a rhythm drifting around the limit (sleep) pass for a sudden change
        // against a rate it left minutes ago.
        if (this.#run) this.#before = [];
        this.#run = undefined;
        this.#before.push(beat.rrMs);
        if (this.#before.length > BEFORE_INTERVALS) this.#before.shift();
        return [];
      }
      const run = (this.#run ??= { firstMs: beat.timeMs, lastMs: beat.timeMs, count: 0, rrSumMs: 0, recentRrMs: [], sudden: undefined, prevailingRrMs });
      run.lastMs = beat.timeMs;
      run.count++;
      run.rrSumMs += beat.rrMs;
      run.recentRrMs.push(beat.rrMs);
      if (run.recentRrMs.length > MAX_EVIDENCE_RR) run.recentRrMs.shift();
      if (run.count < p.consecutiveBeats) return [];
      if (run.sudden === undefined) run.sudden = this.#isSudden(run.rrSumMs / run.count, run.prevailingRrMs);
      const sustainMs = run.firstMs < this.#continueUntilMs ? 0 : run.sudden ? Math.min(p.sustainMs, p.suddenSustainMs) : p.sustainMs;
      if (beat.timeMs - run.firstMs < sustainMs) return [];
      this.#open = { onsetMs: run.firstMs, beatCount: run.count, rrSumMs: run.rrSumMs, recentRrMs: run.recentRrMs };
      this.#run = undefined;
      this.#continueUntilMs = -Infinity;
      this.#before = [];
      this.#recovery = undefined;
      return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open.beatCount, this.#open.rrSumMs, this.#open.recentRrMs) }];
    }
    const open = this.#open;
    const p = this.#c.params;
    this.#lastBeatMs = beat.timeMs;
    if (this.#beyond(beat.rrMs)) {
      open.beatCount++;
      open.rrSumMs += beat.rrMs;
      open.recentRrMs.push(beat.rrMs);
      if (open.recentRrMs.length > MAX_EVIDENCE_RR) open.recentRrMs.shift();
      this.#recovery = undefined;
      // A relapse within the off-delay: the episode goes on and waits for a new recovery.
      if (this.#ending && ++this.#ending.relapse >= p.consecutiveBeats) this.#ending = undefined;
      return [];
    }
    if (this.#ending) {
      this.#ending.relapse = 0;
      return this.#endIfOver(beat.timeMs);
    }
    if (!this.#recovered(beat.rrMs)) {
      // In the hysteresis band: not beyond the limit, not recovered either.
      this.#recovery = undefined;
      return [];
    }
    this.#recovery ??= { firstMs: beat.timeMs, count: 0 };
    this.#recovery.count++;
    if (this.#recovery.count < p.recoveryBeats) return [];
    // The criterion stopped holding at the first recovered beat; final after the off-delay.
    this.#ending = { endMs: this.#recovery.firstMs, relapse: 0 };
    this.#recovery = undefined;
    return this.#endIfOver(beat.timeMs);
  }

  /** Ends the open episode at its pending end once the off-delay has passed by device time `nowMs`. */
  #endIfOver(nowMs: number): EpisodeChange[] {
    const open = this.#open;
    const ending = this.#ending;
    if (!open || !ending || nowMs - ending.endMs < this.#c.params.recoveryMs) return [];
    this.#open = undefined;
    this.#ending = undefined;
    return [{ type: 'end', kind: this.kind, onsetMs: open.onsetMs, endMs: ending.endMs, evidence: this.#evidence(open.beatCount, open.rrSumMs, open.recentRrMs) }];
  }

  onTime(time: TimeEvent): EpisodeChange[] {
    this.#whole.inputAt(time.nowMs);
    this.#seenUntilMs = Math.max(this.#seenUntilMs, time.nowMs);
    if (this.#reannounce) return [...this.#announce(), ...this.onTime(time)];
    if (this.#resumedOpen && time.nowMs > this.#resumedOpen.lastMs) return [this.#reopen(this.#resumedOpen), ...this.#endIfOver(time.nowMs)];
    return this.#endIfOver(time.nowMs);
  }

  /** An alert of this kind is open (restart, criteria change): re-detect it without the alarm delay. */
  continueOpen(untilMs: number): void {
    this.#continueUntilMs = untilMs;
  }

  /**
   * The run whose alarm delay is running, or the open episode whose off-delay is running, for a
   * successor (changelog); undefined when none.
   */
  pendingState(): PendingRun | EndingEpisode | undefined {
    const run = this.#run;
    if (this.#resumedOpen) return this.#resumedOpen;
    if (this.#open) {
      const o = this.#open;
      const e = this.#ending;
      if (!e) return undefined;
      return {
        v: 2, direction: this.#c.direction, limitBpm: this.#c.params.limitBpm,
        onsetMs: o.onsetMs, beatCount: o.beatCount, rrSumMs: o.rrSumMs, recentRrMs: [...o.recentRrMs],
        endMs: e.endMs, relapse: e.relapse, lastMs: Math.max(this.#lastBeatMs, e.endMs),
      };
    }
    // A run taken over but not yet continued by a beat is still pending.
    if (!run) return this.#resumed;
    const c = this.#c;
    return {
      v: 1, direction: c.direction, limitBpm: c.params.limitBpm,
      firstMs: run.firstMs, lastMs: run.lastMs, count: run.count, rrSumMs: run.rrSumMs, recentRrMs: [...run.recentRrMs],
      ...(run.sudden !== undefined ? { sudden: run.sudden } : { beforeRrMs: [...this.#before], ...(Number.isNaN(run.prevailingRrMs) ? {} : { prevailingRrMs: run.prevailingRrMs }) }),
    };
  }

  /**
   * Takes over a predecessor's pending run (restart, partition move, criteria change): its delay
   * goes on from the run's first beat instead of starting again. Only when every beat of that run
   * is beyond this detector's limit as well (same limit, or a wider one: a higher brady / lower
   * tachy limit); otherwise the run is judged afresh by the new limit from the next beat. This
   * detector's own delays apply to it; the sudden-onset decision is kept when it applies the test.
   */
  resumePending(state: PendingState): void {
    if (state.v === 3) {
      const h = limitRateHandoverSchema.safeParse(state).data;
      // (Under other criteria, changed meanwhile, the regular state given first stands.)
      if (h && !this.#open && !this.#run && h.direction === this.#c.direction && h.params === JSON.stringify(this.#c.params)) this.#whole.hold(h);
      return;
    }
    const c = this.#c;
    const open = parseEndingEpisode(state);
    if (open) {
      // The recovery has been seen: its end stands under any limit, which only judges a relapse.
      if (open.direction === c.direction) this.#resumedOpen = open;
      return;
    }
    const r = parsePendingRun(state);
    if (!r || r.direction !== c.direction) return;
    const covered = c.direction === 'below' ? c.params.limitBpm >= r.limitBpm : c.params.limitBpm <= r.limitBpm;
    if (!covered) return;
    this.#resumed = r;
  }

  /**
   * At a graceful hand-over (processor.ts `stop`): the detector's whole state, so the successor
   * goes on exactly — also the sudden-onset references (the 8 intervals before a run and the
   * prevailing interval, minutes of memory) that the regular state keeps only while a run is
   * pending. Without them a run starting soon after a hand-over was judged against the few
   * intervals the successor had seen (issue 12 session 27). A successor takes it up only under the
   * same criterion (`params`); otherwise the regular state stands.
   */
  handoverState(): LimitRateHandover | undefined {
    // (Not yet taken up: on as it came. A regular state taken over and not yet continued: that one suffices.)
    if (this.#whole.held) return this.#whole.held;
    if (this.#resumed || this.#resumedOpen) return undefined;
    const run = this.#run;
    return {
      v: 3,
      params: JSON.stringify(this.#c.params),
      direction: this.#c.direction,
      ...(run ? { run: { firstMs: run.firstMs, lastMs: run.lastMs, count: run.count, rrSumMs: run.rrSumMs, recentRrMs: [...run.recentRrMs], ...(run.sudden !== undefined ? { sudden: run.sudden } : {}), ...finiteEntry('prevailingRrMs', run.prevailingRrMs) } } : {}),
      before: [...this.#before],
      ...finiteEntry('prevailingRrMs', this.#prevailingRrMs),
      ...(this.#open ? { open: { ...this.#open, recentRrMs: [...this.#open.recentRrMs] } } : {}),
      ...(this.#recovery ? { recovery: { ...this.#recovery } } : {}),
      ...(this.#ending ? { ending: { ...this.#ending } } : {}),
      ...finiteEntry('lastBeatMs', this.#lastBeatMs),
      ...finiteEntry('continueUntilMs', this.#continueUntilMs),
      ...finiteEntry('countedUntilMs', this.#countedUntilMs),
      ...finiteEntry('seenUntilMs', this.#seenUntilMs),
    };
  }

  /** A hand-over's state, taken up at the first input that follows what the predecessor saw (pending-run.ts). */
  #takeUp(h: z.infer<typeof limitRateHandoverSchema>): void {
    // (Instead of the regular state the record gave first.)
    this.#resumed = undefined;
    this.#resumedOpen = undefined;
    this.#seenUntilMs = h.seenUntilMs ?? -Infinity;
    this.#run = h.run && { ...h.run, recentRrMs: [...h.run.recentRrMs], sudden: h.run.sudden, prevailingRrMs: h.run.prevailingRrMs ?? Number.NaN };
    this.#before = [...h.before];
    this.#prevailingRrMs = h.prevailingRrMs ?? Number.NaN;
    this.#open = h.open && { ...h.open, recentRrMs: [...h.open.recentRrMs] };
    this.#recovery = h.recovery && { ...h.recovery };
    this.#ending = h.ending && { ...h.ending };
    this.#lastBeatMs = h.lastBeatMs ?? -Infinity;
    this.#continueUntilMs = h.continueUntilMs ?? -Infinity;
    this.#countedUntilMs = h.countedUntilMs ?? -Infinity;
    this.#reannounce = this.#open !== undefined;
  }

  /** After a hand-over's open episode was taken up: the onset change that tells the alarm lifecycle it goes on. */
  #announce(): EpisodeChange[] {
    if (!this.#reannounce || !this.#open) return [];
    this.#reannounce = false;
    const o = this.#open;
    return [{ type: 'onset', kind: this.kind, onsetMs: o.onsetMs, evidence: this.#evidence(o.beatCount, o.rrSumMs, o.recentRrMs) }];
  }

  /**
   * The first beat at or after the taken-over run's first beat: the run goes on when this beat is
   * beyond the limit (it is one of the run's re-delivered beats, or the next one); otherwise the
   * run ended while no detector watched and is dropped.
   */
  #takeOver(r: PendingRun, beat: BeatEvent): void {
    this.#resumed = undefined;
    if (this.#open || !(beat.rrMs > 0 && this.#beyond(beat.rrMs))) return;
    const suddenOff = !(this.#c.params.suddenChange > 0);
    this.#run = { firstMs: r.firstMs, lastMs: r.lastMs, count: r.count, rrSumMs: r.rrSumMs, recentRrMs: [...r.recentRrMs], sudden: suddenOff ? false : r.sudden, prevailingRrMs: r.prevailingRrMs ?? Number.NaN };
    this.#before = r.beforeRrMs ? [...r.beforeRrMs] : [];
    this.#countedUntilMs = r.lastMs;
  }

  /**
   * The first beat after a taken-over episode's last counted beat: the episode is open again
   * here, reported to the alarm lifecycle as the re-detection of its open alert (an onset with the
   * same onset time continues it), and its off-delay goes on with this beat. Re-delivered beats up
   * to the last counted one return [] (already counted).
   */
  #takeOverOpen(r: EndingEpisode, beat: BeatEvent): EpisodeChange[] {
    if (beat.timeMs <= r.lastMs) return [];
    return [this.#reopen(r), ...this.onBeat(beat)];
  }

  /** Opens the taken-over episode in its off-delay; the onset change that reports it to the alarm lifecycle. */
  #reopen(r: EndingEpisode): EpisodeChange {
    this.#resumedOpen = undefined;
    this.#run = undefined;
    this.#open = { onsetMs: r.onsetMs, beatCount: r.beatCount, rrSumMs: r.rrSumMs, recentRrMs: [...r.recentRrMs] };
    this.#ending = { endMs: r.endMs, relapse: r.relapse };
    return { type: 'onset', kind: this.kind, onsetMs: r.onsetMs, evidence: this.#evidence(r.beatCount, r.rrSumMs, r.recentRrMs) };
  }

  /**
   * The run's first intervals (mean `runRrMs`) differ by the sudden-onset fraction from the 8
   * intervals before it and from the prevailing interval before it (not compared when unknown: a
   * predecessor's record without it).
   */
  #isSudden(runRrMs: number, prevailingRrMs: number): boolean {
    const p = this.#c.params;
    if (!(p.suddenChange > 0) || this.#before.length < BEFORE_INTERVALS) return false;
    const differs = (referenceRrMs: number) => (this.#c.direction === 'above' ? runRrMs <= (1 - p.suddenChange) * referenceRrMs : runRrMs >= referenceRrMs / (1 - p.suddenChange));
    const beforeRrMs = this.#before.reduce((a, b) => a + b, 0) / this.#before.length;
    return differs(beforeRrMs) && (Number.isNaN(prevailingRrMs) || differs(prevailingRrMs));
  }

  onDiscontinuity(atMs: number): EpisodeChange[] {
    this.#whole.inputAt(atMs);
    // Nothing is concluded across the hole; an open episode stays open (Detector contract). A run
    // taken over from a predecessor survives only a hole before it (one the predecessor saw too).
    if (this.#resumed && atMs > this.#resumed.firstMs) this.#resumed = undefined;
    // An episode in its off-delay keeps its end (the recovery was seen); a relapse needs
    // consecutive beats, which the hole breaks.
    const reopened = this.#resumedOpen && atMs > this.#resumedOpen.lastMs ? [this.#reopen(this.#resumedOpen)] : [];
    if (this.#ending) this.#ending.relapse = 0;
    this.#countedUntilMs = -Infinity;
    this.#run = undefined;
    this.#before = [];
    this.#recovery = undefined;
    return reopened;
  }
}

/** Format 1 of {@link PendingRun} as it comes back from the changelog (z.number() is finite). */
const pendingRunSchema = z
  .object({
    v: z.literal(1),
    direction: z.enum(['below', 'above']),
    limitBpm: z.number(),
    firstMs: z.number(),
    lastMs: z.number(),
    count: z.number().min(1),
    rrSumMs: z.number(),
    recentRrMs: z.array(z.number()),
    sudden: z.boolean().optional(),
    beforeRrMs: z.array(z.number()).optional(),
    prevailingRrMs: z.number().positive().optional(),
  })
  .refine((r) => r.lastMs >= r.firstMs);

/** Format 2 ({@link EndingEpisode}) as it comes back from the changelog. */
const endingEpisodeSchema = z
  .object({
    v: z.literal(2),
    direction: z.enum(['below', 'above']),
    limitBpm: z.number(),
    onsetMs: z.number(),
    beatCount: z.number().min(1),
    rrSumMs: z.number(),
    recentRrMs: z.array(z.number()),
    endMs: z.number(),
    relapse: z.number().min(0),
    lastMs: z.number(),
  })
  .refine((r) => r.lastMs >= r.endMs && r.endMs >= r.onsetMs);

/** {@link LimitRateDetector.pendingState} at a hand-over (format 3): the whole detector; `params` is its criterion's parameters as JSON, unknown times left out. */
const limitRateHandoverSchema = z.object({
  v: z.literal(3),
  params: z.string(),
  direction: z.enum(['below', 'above']),
  run: z.object({ firstMs: z.number(), lastMs: z.number(), count: z.number().int().min(1), rrSumMs: z.number(), recentRrMs: z.array(z.number()), sudden: z.boolean().optional(), prevailingRrMs: z.number().optional() }).optional(),
  before: z.array(z.number()),
  prevailingRrMs: z.number().optional(),
  open: z.object({ onsetMs: z.number(), beatCount: z.number().int().min(1), rrSumMs: z.number(), recentRrMs: z.array(z.number()) }).optional(),
  recovery: z.object({ firstMs: z.number(), count: z.number().int() }).optional(),
  ending: z.object({ endMs: z.number(), relapse: z.number().int().min(0) }).optional(),
  lastBeatMs: z.number().optional(),
  continueUntilMs: z.number().optional(),
  countedUntilMs: z.number().optional(),
  seenUntilMs: z.number().optional(),
});

export type LimitRateHandover = z.infer<typeof limitRateHandoverSchema> & PendingState;

function parseEndingEpisode(s: PendingState): EndingEpisode | undefined {
  const r = endingEpisodeSchema.safeParse(s);
  return r.success ? r.data : undefined;
}

/** A changelog state this detector can continue (format 1), or undefined. */
function parsePendingRun(s: PendingState): PendingRun | undefined {
  const r = pendingRunSchema.safeParse(s);
  return r.success ? r.data : undefined;
}
