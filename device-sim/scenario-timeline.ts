/**
 * One simulated device's timeline: its sinus rhythm with the scenario's beat episodes injected
 * (beats()), the frame-level state the frame pipeline asks for (lead-off, battery, whether a
 * frame is withheld by a signal loss), and the ground truth of what it produced
 * (ground-truth.ts). Deterministic for a seed: the same seed gives the same beats, and episode
 * kinds a scenario does not use draw no random numbers.
 */
import type { BeatClass, TelemetryFrame } from '../contracts/telemetry.ts';
import { AfRrModel, randomAfParams } from './afib-rr.ts';
import { isFrameEpisodeKind, type BeatEpisodeKind, type FrameEpisodeKind } from './episode-kinds.ts';
import { isRateEpisodeKind, postEctopicRrMs, RATE_EPISODES, rateEpisodeRrMs, ventricularRrMs, VENTRICULAR_HR_RANGE_BPM, type RateEpisodeKind } from './episode-rhythms.ts';
import type { TimedBeat } from './frames.ts';
import { GroundTruthRecorder, type EpisodeRecord, type GroundTruthEpisode } from './ground-truth.ts';
import { uniform } from './prng.ts';
import { SinusRhythm, type SinusRhythmParams } from './rhythm.ts';
import { RUN_IN_MS, type Scenario, type ScenarioEpisode } from './scenario.ts';


/** Battery level a low_battery episode drains to, %. */
const LOW_BATTERY_FLOOR_PCT = 10;

/** One scheduled occurrence of a beat episode, in absolute device time. */
interface BeatOccurrence {
  kind: BeatEpisodeKind;
  startMs: number;
  endMs: number;
  durationMs: number;
  explicitRate: boolean;
  /** Rate and ventricular kinds: mean RR of this occurrence, drawn once. */
  meanRrMs: number;
  /** vt, nsvt: ventricular beats still to come. */
  beatsLeft: number;
  af: AfRrModel | undefined;
  done: boolean;
  rec: EpisodeRecord;
}

/** One occurrence of a frame episode. */
interface FrameOccurrence {
  kind: FrameEpisodeKind;
  startMs: number;
  endMs: number;
  backlog: boolean;
  rec: EpisodeRecord;
}

/** Options for {@link ScenarioTimeline}. */
export interface ScenarioTimelineOptions {
  deviceId: string;
  /** Seed of the device's rhythm and episode randomness. */
  seed: number;
  /** Device time at which the device starts, ms since the Unix epoch. */
  t0Ms: number;
  scenario?: Readonly<Scenario>;
  /**
   * Shifts this device's episodes later by this many ms (to spread alarms over devices). For a
   * repeating scenario the shift is taken modulo the cycle, and the cycle before it fills the
   * start, so every device sees episodes from the first cycle on.
   */
  scenarioOffsetMs?: number;
  rhythmParams?: Partial<SinusRhythmParams>;
}

const isWindowKind = (k: BeatEpisodeKind): boolean => isRateEpisodeKind(k) || k === 'afib';
const isVentricularKind = (k: BeatEpisodeKind): boolean => k === 'vt' || k === 'nsvt';
const isSilenceKind = (k: BeatEpisodeKind): boolean => k === 'asystole' || k === 'pause';

export class ScenarioTimeline {
  readonly deviceId: string;
  readonly rhythm: SinusRhythm;
  readonly #opts: ScenarioTimelineOptions;
  readonly #queue: BeatOccurrence[] = [];
  #nextCycle: number;
  readonly #firstCycle: number;
  readonly #offsetMs: number;
  readonly #recorder: GroundTruthRecorder;
  readonly #beatEpisodes: readonly ScenarioEpisode[];
  readonly #frameEpisodes: ReadonlyArray<{ index: number; e: ScenarioEpisode }>;
  /** Frame occurrences already enumerated, by cycle and episode index. */
  readonly #frameOccurrences = new Map<string, FrameOccurrence>();

  constructor(options: ScenarioTimelineOptions) {
    this.deviceId = options.deviceId;
    this.#opts = options;
    const cycleMs = options.scenario?.cycleMs;
    this.#offsetMs = cycleMs === undefined ? (options.scenarioOffsetMs ?? 0) : (options.scenarioOffsetMs ?? 0) % cycleMs;
    this.#firstCycle = cycleMs === undefined || this.#offsetMs === 0 ? 0 : -1;
    this.#nextCycle = this.#firstCycle;
    this.rhythm = new SinusRhythm({ seed: options.seed, ...(options.rhythmParams ? { params: options.rhythmParams } : {}) });
    this.#recorder = new GroundTruthRecorder(options.deviceId);
    const episodes = options.scenario?.episodes ?? [];
    this.#beatEpisodes = episodes.filter((e) => !isFrameEpisodeKind(e.kind));
    this.#frameEpisodes = episodes.map((e, index) => ({ index, e })).filter(({ e }) => isFrameEpisodeKind(e.kind));
  }

  #cycleBase(cycle: number): number {
    return this.#opts.t0Ms + this.#offsetMs + cycle * (this.#opts.scenario?.cycleMs ?? 0);
  }

  /** Episodes of the shifted-in previous cycle that would start before the device's run-in ({@link RUN_IN_MS}) ends are left out. */
  #tooEarly(startMs: number): boolean {
    return startMs < this.#opts.t0Ms + RUN_IN_MS;
  }

  /** Makes sure at least two future beat occurrences are queued (expanding repeating cycles lazily). */
  #fill(): void {
    const sc = this.#opts.scenario;
    if (!sc || this.#beatEpisodes.length === 0) return;
    const random = () => this.rhythm.random();
    while (this.#queue.filter((o) => !o.done).length < 2) {
      if (sc.cycleMs === undefined && this.#nextCycle > 0) return;
      const base = this.#cycleBase(this.#nextCycle);
      this.#nextCycle++;
      for (const e of this.#beatEpisodes) {
        const startMs = base + e.startMs;
        if (this.#tooEarly(startMs)) continue;
        const kind = e.kind as BeatEpisodeKind;
        let meanRrMs = 0;
        let beatsLeft = 0;
        let af: AfRrModel | undefined;
        if (isRateEpisodeKind(kind)) {
          const [lo, hi] = RATE_EPISODES[kind].hrRangeBpm;
          meanRrMs = 60_000 / (e.hrBpm ?? uniform(random, lo, hi));
        } else if (isVentricularKind(kind)) {
          meanRrMs = 60_000 / (e.hrBpm ?? uniform(random, VENTRICULAR_HR_RANGE_BPM[0], VENTRICULAR_HR_RANGE_BPM[1]));
          beatsLeft = e.beats ?? (kind === 'vt' ? Math.max(5, Math.floor(e.durationMs / meanRrMs)) : 3 + Math.floor(random() * 2));
        } else if (kind === 'afib') {
          af = new AfRrModel(random, randomAfParams(random, e.hrBpm));
        }
        const rec = this.#recorder.schedule(kind, startMs, startMs + e.durationMs, af ? { tailMeanMs: Math.round(af.params.tailMeanMs) } : {});
        this.#queue.push({ kind, startMs, endMs: startMs + e.durationMs, durationMs: e.durationMs, explicitRate: e.hrBpm !== undefined, meanRrMs, beatsLeft, af, done: false, rec });
      }
    }
  }

  /** The device's beats, endless; every beat is also recorded for the ground truth. */
  *beats(): Generator<TimedBeat> {
    const t0 = this.#opts.t0Ms;
    const random = () => this.rhythm.random();
    let t = t0 + Math.floor(this.rhythm.random() * this.rhythm.meanRrMs);
    let cls: BeatClass = 'N';
    let owner: BeatOccurrence | undefined;
    let prevT: number | undefined;
    for (;;) {
      const beat: TimedBeat = owner?.af ? { tMs: t, cls, af: true } : { tMs: t, cls };
      this.#recorder.beat(beat, owner?.rec, prevT === undefined || !this.#leadOffBetween(prevT, t));
      prevT = t;
      yield beat;
      this.#fill();
      // Occurrences that are over (window kinds past their window, silences placed, runs complete) retire.
      while (this.#queue[0] && (this.#queue[0].done || (isWindowKind(this.#queue[0].kind) && this.#queue[0].endMs <= t))) this.#queue.shift();
      const occ = this.#queue[0];
      let rr: number;
      let nextCls: BeatClass = 'N';
      let nextOwner: BeatOccurrence | undefined;
      if (occ && isWindowKind(occ.kind) && occ.startMs <= t && t < occ.endMs) {
        rr = occ.af ? occ.af.next() : rateEpisodeRrMs(occ.kind as RateEpisodeKind, occ.meanRrMs, occ.explicitRate, random);
        nextOwner = occ;
      } else if (occ && isVentricularKind(occ.kind) && occ.startMs <= t) {
        rr = ventricularRrMs(occ.meanRrMs, random);
        nextCls = 'V';
        nextOwner = occ;
        if (--occ.beatsLeft <= 0) occ.done = true;
      } else {
        rr = this.rhythm.nextRrMs(t - t0);
        if (cls === 'V') rr = postEctopicRrMs(rr, this.rhythm.meanRrMs);
      }
      if (occ && isSilenceKind(occ.kind) && t + rr >= occ.startMs) {
        // The silence replaces the next beat: exactly `durationMs` from the last beat.
        rr = occ.durationMs;
        occ.done = true;
        nextOwner = occ;
      }
      t += rr;
      cls = nextCls;
      owner = nextOwner;
    }
  }

  /**
   * The scheduled frame episodes whose window [start, end) overlaps [fromMs, toMs] (start ≤ toMs),
   * with their cycle: the schedule alone, no ground-truth record is made.
   */
  *#scheduledFrameEpisodes(fromMs: number, toMs: number): Generator<{ cycle: number; index: number; e: ScenarioEpisode; startMs: number; endMs: number }> {
    const sc = this.#opts.scenario;
    if (!sc || this.#frameEpisodes.length === 0) return;
    let first = 0, last = 0;
    if (sc.cycleMs !== undefined) {
      const reach = Math.max(...this.#frameEpisodes.map(({ e }) => e.startMs + e.durationMs));
      first = Math.max(this.#firstCycle, Math.floor((fromMs - this.#cycleBase(0) - reach) / sc.cycleMs));
      last = Math.floor((toMs - this.#cycleBase(0)) / sc.cycleMs);
    }
    for (let cycle = first; cycle <= last; cycle++) {
      for (const { index, e } of this.#frameEpisodes) {
        const startMs = this.#cycleBase(cycle) + e.startMs;
        const endMs = startMs + e.durationMs;
        if (!this.#tooEarly(startMs) && endMs > fromMs && startMs <= toMs) yield { cycle, index, e, startMs, endMs };
      }
    }
  }

  /** Frame occurrences overlapping [fromMs, toMs), enumerated from the schedule (no randomness). */
  #framesOverlapping(fromMs: number, toMs: number): FrameOccurrence[] {
    const out: FrameOccurrence[] = [];
    for (const { cycle, index, e, startMs, endMs } of this.#scheduledFrameEpisodes(fromMs, toMs)) {
      if (startMs >= toMs) continue;
      const key = `${cycle}:${index}`;
      let occ = this.#frameOccurrences.get(key);
      if (!occ) {
        const kind = e.kind as FrameEpisodeKind;
        occ = { kind, startMs, endMs, backlog: e.backlog ?? true, rec: this.#recorder.schedule(kind, startMs, endMs, kind === 'signal_loss' ? { backlog: e.backlog ?? true } : {}) };
        this.#frameOccurrences.set(key, occ);
      }
      out.push(occ);
    }
    // Forget occurrences long past (the ground truth keeps their records).
    for (const [key, occ] of this.#frameOccurrences) if (occ.endMs < fromMs - 600_000) this.#frameOccurrences.delete(key);
    return out;
  }

  /**
   * Whether a lead_off episode overlaps [fromMs, toMs], from the schedule alone (no ground-truth
   * record is made: beats are generated ahead of the frames, {@link leadOffAt}).
   */
  #leadOffBetween(fromMs: number, toMs: number): boolean {
    for (const o of this.#scheduledFrameEpisodes(fromMs, toMs)) if (o.e.kind === 'lead_off') return true;
    return false;
  }

  /** Whether a lead_off episode puts the patch back turned (`reversed`): the ECG's sign then changes ({@link ecgSign}). */
  get patchReversals(): boolean {
    return this.#frameEpisodes.some(({ e }) => e.kind === 'lead_off' && e.reversed === true);
  }

  /**
   * The sign of the ECG at device time `tMs`: −1 after an odd number of `reversed` lead_off
   * episodes have ended (each put the patch back turned through 180°), else 1. Counted from the
   * schedule, so it holds for any time, in any order of asking.
   */
  ecgSign(tMs: number): 1 | -1 {
    const cycleMs = this.#opts.scenario?.cycleMs;
    let ended = 0;
    for (const { e } of this.#frameEpisodes) {
      if (e.kind !== 'lead_off' || e.reversed !== true) continue;
      // The first cycle whose occurrence is not left out as too early, and the last that has ended by tMs.
      let first = this.#firstCycle;
      if (this.#tooEarly(this.#cycleBase(first) + e.startMs)) first++;
      const endOf = (c: number) => this.#cycleBase(c) + e.startMs + e.durationMs;
      const last = cycleMs === undefined ? (endOf(0) <= tMs ? 0 : -1) : Math.floor((tMs - endOf(0)) / cycleMs);
      ended += Math.max(0, last - first + 1);
    }
    return ended % 2 === 0 ? 1 : -1;
  }

  /** Whether the electrodes are off at any time in [fromMs, toMs) (a lead_off episode). */
  leadOffAt(fromMs: number, toMs: number): boolean {
    return this.#framesOverlapping(fromMs, Math.max(toMs, fromMs + 1)).some((o) => o.kind === 'lead_off');
  }

  /**
   * Battery percent at `tMs`: `baseAt(tMs)` outside low_battery episodes. Within one it drains
   * linearly to 10 % over the first 40 % of the window (a failing cell), stays there until 60 %,
   * and charges back to the base level by the window's end (the patient plugs the charger in).
   */
  batteryPct(tMs: number, baseAt: (tMs: number) => number): number {
    const occ = this.#framesOverlapping(tMs, tMs + 1).find((o) => o.kind === 'low_battery');
    if (!occ) return baseAt(tMs);
    const span = occ.endMs - occ.startMs;
    const x = (tMs - occ.startMs) / span;
    if (x < 0.4) return baseAt(occ.startMs) + ((LOW_BATTERY_FLOOR_PCT - baseAt(occ.startMs)) * x) / 0.4;
    if (x < 0.6) return LOW_BATTERY_FLOOR_PCT;
    return LOW_BATTERY_FLOOR_PCT + ((baseAt(occ.endMs) - LOW_BATTERY_FLOOR_PCT) * (x - 0.6)) / 0.4;
  }

  /** The signal loss a frame starting at `frameTsMs` falls in, if any. */
  signalLossAt(frameTsMs: number): { backlog: boolean } | undefined {
    const occ = this.#framesOverlapping(frameTsMs, frameTsMs + 1).find((o) => o.kind === 'signal_loss');
    return occ && { backlog: occ.backlog };
  }

  /** Reports a frame as built, in order: sent now, or withheld by a signal loss (when it was due). */
  observeFrame(frame: TelemetryFrame, outcome: { sentAtMs: number } | { withheldDueAtMs: number }): void {
    this.#recorder.frame(frame, outcome);
  }

  /** Reports a withheld frame sent later (the backlog after a signal loss). */
  frameSent(frame: TelemetryFrame, sentAtMs: number): void {
    this.#recorder.sent(frame, sentAtMs);
  }

  /**
   * Episodes whose onset lies before `untilMs` (usually the end of the simulated time), in
   * onset order. An episode still running at `untilMs` has `endMs: null`.
   */
  groundTruth(untilMs: number): GroundTruthEpisode[] {
    return this.#recorder.episodes(untilMs);
  }
}
