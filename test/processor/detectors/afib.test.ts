import { describe, expect, it } from 'vitest';
import type { BeatClass } from '../../../contracts/telemetry.ts';
import { createPrng, uniform } from '../../../device-sim/prng.ts';
import { alarmCriteriaSchema, DEFAULT_ALARM_CRITERIA } from '../../../contracts/criteria.ts';
import { detectorsForCriteria } from '../../../processor/detector-set.ts';
import { AFIB_DEFAULTS, createAfibDetector, type AfibDetector } from '../../../processor/detectors/afib.ts';
import type { EpisodeChange, PendingState } from '../../../processor/detectors/detector.ts';
import { at, episodes, run, T0, type TestBeat } from './stream-helpers.ts';

/** Builds a beat sequence from rhythm segments; RR drawn from a seeded generator. */
class Rhythm {
  readonly beats: TestBeat[] = [{ t: 0 }];
  readonly #random = createPrng(20261125);
  get nowMs(): number { return this.beats.at(-1)!.t; }
  #add(rr: number, cls: BeatClass = 'N') { this.beats.push({ t: this.nowMs + Math.round(rr), cls }); }
  /** Sinus rhythm at 75 bpm with ±10 ms beat-to-beat jitter, for `ms`. */
  sinus(ms: number): this { const end = this.nowMs + ms; while (this.nowMs < end) this.#add(800 + uniform(this.#random, -10, 10)); return this; }
  /**
   * AF: independent RR intervals uniform in [minRr, maxRr] (irregularly irregular; the default
   * 300–900 ms is 100 bpm with a coefficient of variation of 29 %), for `ms`. Returns the first
   * and last AF beat.
   */
  af(ms: number, minRr = 300, maxRr = 900): { first: number; last: number } {
    const end = this.nowMs + ms;
    this.#add(uniform(this.#random, minRr, maxRr));
    const first = this.nowMs;
    while (this.nowMs + minRr < end) this.#add(uniform(this.#random, minRr, maxRr));
    return { first, last: this.nowMs };
  }
  /** `pairs` repetitions of a premature beat of class `cls` (coupling `shortMs`) and a normal beat after `longMs`. */
  bigeminy(pairs: number, cls: BeatClass, shortMs = 500, longMs = 1000): this {
    for (let i = 0; i < pairs; i++) { this.#add(shortMs + uniform(this.#random, -10, 10), cls); this.#add(longMs + uniform(this.#random, -10, 10)); }
    return this;
  }
  /** Sinus with a premature ventricular beat (short coupling, compensatory pause) every `every` beats. */
  sinusWithPvcs(beats: number, every: number): this {
    for (let i = 1; i <= beats; i++) {
      if (i % every === 0) { this.#add(480, 'V'); this.#add(1120); } else this.#add(800 + uniform(this.#random, -10, 10));
    }
    return this;
  }
  /** Paced beats (class Q, left out of the AF evidence) every `rrMs`, for `ms`. */
  paced(ms: number, rrMs = 700): this { const end = this.nowMs + ms; while (this.nowMs < end) this.#add(rrMs, 'Q'); return this; }
  /** Regular beats every `rrMs` ± 4 ms (the patient's own fast rhythm, class N), `n` of them. */
  fastRegular(n: number, rrMs = 340): this { for (let i = 0; i < n; i++) this.#add(rrMs + uniform(this.#random, -4, 4)); return this; }
  untilMs(afterLastMs = 1): number { return this.nowMs + afterLastMs; }
}

const afib = (r: Rhythm, untilMs = r.untilMs()) => run([createAfibDetector()], r.beats, untilMs);
/** Beats within ±`toleranceMs` of `ms` (AF boundaries come from 8-beat windows: a few beats of slack). */
const near = (iso: string | null, ms: number, toleranceMs: number) => iso !== null && Math.abs(Date.parse(iso) - Date.parse(at(ms))) <= toleranceMs;

describe('atrial fibrillation (irregular RR, episode ≥ 30 s, Petrėnas et al. 2015)', () => {
  it('raises nothing on 10 minutes of sinus rhythm', () => {
    expect(afib(new Rhythm().sinus(600_000))).toEqual([]);
  });

  it('raises nothing for 29 s of AF', () => {
    const r = new Rhythm().sinus(120_000);
    r.af(29_000);
    r.sinus(180_000);
    expect(afib(r)).toEqual([]);
  });

  it('raises one afib for 31 s of AF, onset back-dated to its first beat, end at its last beat', () => {
    const r = new Rhythm().sinus(120_000);
    const ep = r.af(31_000);
    r.sinus(180_000);
    const alerts = afib(r);
    expect(alerts.map((a) => ({ kind: a.kind, revision: a.revision, ended: a.end !== undefined }))).toEqual([
      { kind: 'afib', revision: 1, ended: false },
      { kind: 'afib', revision: 2, ended: true },
    ]);
    expect(alerts[0]!.onset).toBe(alerts[1]!.onset);
    expect(near(alerts[0]!.onset, ep.first, 2000)).toBe(true);
    expect(near(alerts[1]!.end!, ep.last, 3000)).toBe(true);
    expect(alerts[0]).toMatchObject({ priority: 'medium', category: 'physiological' });
  });

  it('raises one onset and one end for a 10-minute episode, alarmed within a minute, ended after 30 s of confirmation', () => {
    const r = new Rhythm().sinus(120_000);
    const ep = r.af(600_000);
    r.sinus(300_000);
    const alerts = afib(r);
    expect(alerts).toHaveLength(2);
    const [onset, end] = alerts;
    expect(near(onset!.onset, ep.first, 2000)).toBe(true);
    expect(near(end!.end!, ep.last, 3000)).toBe(true);
    expect(onset!.evidence).toMatchObject({ criterion: expect.stringContaining('Petrėnas'), thresholds: { minEpisodeMs: 30_000, windowBeats: 8 } });
  });

  it('times a short episode across a regular-looking run inside it: 25 s AF, 6 regular beats, 25 s AF raise one afib (not when one regular window drops the stretch)', () => {
    // Three fixed seeds for which the smoothed decision has not turned AF when the regular beats
    // come (the situation of a short episode): with stretchGapBeats 8 (before session 4) one
    // regular window dropped the stretch and neither 25 s half reached the 30 s criterion.
    for (const seed of [8, 11, 14]) {
      const random = createPrng(seed);
      const beats: TestBeat[] = [{ t: 0 }];
      const add = (rr: number) => beats.push({ t: beats.at(-1)!.t + Math.round(rr) });
      const until = (ms: number, rr: () => number) => { const end = beats.at(-1)!.t + ms; while (beats.at(-1)!.t < end) add(rr()); };
      until(6 * 60_000, () => 800 + uniform(random, -10, 10));
      const first = beats.at(-1)!.t;
      until(25_000, () => uniform(random, 300, 900));
      for (let i = 0; i < 6; i++) add(650);
      until(25_000, () => uniform(random, 300, 900));
      const last = beats.at(-1)!.t;
      until(3 * 60_000, () => 800 + uniform(random, -10, 10));
      const untilMs = beats.at(-1)!.t + 1;
      const got = episodes(run([createAfibDetector()], beats, untilMs));
      // One episode: its onset snapshot and its end snapshot.
      expect(got.map((e) => [e.kind, e.revision])).toEqual([['afib', 1], ['afib', 2]]);
      expect(Date.parse(got[0]!.onset)).toBeGreaterThanOrEqual(Date.parse(at(first)) - 5_000);
      expect(Date.parse(got[1]!.end!)).toBeLessThanOrEqual(Date.parse(at(last)) + 5_000);
      expect(episodes(run([createAfibDetector({ stretchGapBeats: 8 })], beats, untilMs))).toEqual([]);
    }
  });

  it('keeps one episode across a 15 s regular interruption (end hysteresis)', () => {
    const r = new Rhythm().sinus(120_000);
    const first = r.af(240_000);
    r.sinus(15_000);
    const second = r.af(240_000);
    r.sinus(300_000);
    const alerts = afib(r);
    expect(episodes(alerts).map((e) => e.revision)).toEqual([1, 2]);
    expect(near(alerts[0]!.onset, first.first, 2000)).toBe(true);
    expect(near(alerts[1]!.end!, second.last, 3000)).toBe(true);
  });

  it('raises nothing for 5 minutes of ventricular bigeminy (intervals around V beats are left out)', () => {
    expect(afib(new Rhythm().sinus(60_000).bigeminy(200, 'V').sinus(60_000))).toEqual([]);
  });

  it('raises nothing for 5 minutes of atrial bigeminy (bigeminy suppression)', () => {
    expect(afib(new Rhythm().sinus(60_000).bigeminy(200, 'S').sinus(60_000))).toEqual([]);
  });

  it('raises nothing for sinus rhythm with a PVC every 4th beat for 10 minutes', () => {
    expect(afib(new Rhythm().sinus(60_000).sinusWithPvcs(750, 4))).toEqual([]);
  });

  it('alarms slow AF (borderline score) once its averaged irregularity is clear; a 50 s borderline stretch raises nothing (RR-only operating point)', () => {
    // RR uniform in 600–1300 ms (≈ 63 bpm, rate-controlled AF): AF by the paper's η, but at
    // first below the alarm margins, and its COSEn over the first 30 s stays below the
    // threshold chosen by leave-one-record-out on afdb (−0.7). Since issue 12 there is no
    // time-based fallback (a rule that needs 60 s or 2 min of evidence can never report the
    // 30–60 s episodes the criterion asks for, and it overfitted): the long episode is alarmed
    // when the smoothed score reaches the margin (≈ 90 s here, at this slow rate), the short one
    // never. With ECG, P-wave absence decides at 30 s instead (atrial-activity tests).
    const short = new Rhythm().sinus(120_000);
    short.af(50_000, 600, 1300);
    short.sinus(180_000);
    expect(afib(short)).toEqual([]);
    const long = new Rhythm().sinus(120_000);
    const ep = long.af(240_000, 600, 1300);
    long.sinus(180_000);
    const alerts = afib(long);
    expect(alerts.map((a) => a.revision)).toEqual([1, 2]);
    expect(near(alerts[0]!.onset, ep.first, 3000)).toBe(true);
    const raisedAfterMs = Date.parse(alerts[0]!.detectedAt) - Date.parse(alerts[0]!.onset);
    expect(raisedAfterMs).toBeGreaterThanOrEqual(30_000);
    expect(raisedAfterMs).toBeLessThan(120_000);
  });

  /**
   * 60 s of sinus at 800 ms, then 300 beats where a share of the intervals is split by a
   * spurious detection `fromMs`–`toMs` after the R peak (a large T wave, an artefact).
   */
  function sinusWithFalseDetections(seed: number, share: number, fromMs: number, toMs: number): { beats: TestBeat[]; untilMs: number } {
    const r = new Rhythm().sinus(60_000);
    const beats: TestBeat[] = [...r.beats];
    let t = r.nowMs;
    const random = createPrng(seed);
    for (let i = 0; i < 300; i++) {
      if (random() < share) beats.push({ t: t + Math.round(uniform(random, fromMs, toMs)) });
      t += 800;
      beats.push({ t });
    }
    return { beats, untilMs: t + 1000 };
  }

  it('leaves out RR intervals under 250 ms (extra beat detections): a noisy sinus stretch raises nothing', () => {
    // A third of the intervals split 120–240 ms after the R peak: wildly irregular RR without
    // the plausibility bound (the merger, below, is switched off to test the bound alone).
    const { beats, untilMs } = sinusWithFalseDetections(7, 0.35, 120, 240);
    expect(run([createAfibDetector({ extraDetectionTolerance: 0 })], beats, untilMs)).toEqual([]);
    expect(run([createAfibDetector({ minPlausibleRrMs: 0, extraDetectionTolerance: 0 })], beats, untilMs).map((a) => a.kind)).toContain('afib');
  });

  it('merges extra detections (two intervals summing to the usual one): sinus with false beats 250–550 ms after the R peak raises nothing', () => {
    // Above the 250 ms plausibility bound, so only the merger can undo them.
    const { beats, untilMs } = sinusWithFalseDetections(9, 0.5, 250, 550);
    expect(run([createAfibDetector()], beats, untilMs)).toEqual([]);
    expect(run([createAfibDetector({ extraDetectionTolerance: 0 })], beats, untilMs).map((a) => a.kind)).toContain('afib');
  });

  it('does not measure across minutes of paced beats: AF after a paced stretch is dated from its own first beats', () => {
    // A run of left-out beats as long as the 8-beat window restarts the measure. Before, the
    // window joined the intervals before the paced stretch to the AF after it, and the onset
    // was back-dated 3 minutes, into the paced rhythm (own AF burst or own fast rhythm before it).
    for (const before of ['af burst', 'fast own rhythm'] as const) {
      const r = new Rhythm().sinus(60_000);
      if (before === 'af burst') r.af(20_000); else r.fastRegular(40);
      r.paced(180_000);
      const ep = r.af(150_000);
      r.sinus(240_000); // the end is reported after the 2 min off-delay
      const alerts = afib(r);
      expect(episodes(alerts).map((e) => e.revision), before).toEqual([1, 2]);
      expect(near(alerts[0]!.onset, ep.first, 5000), `${before}: onset ${alerts[0]!.onset}, AF from ${at(ep.first)}`).toBe(true);
      expect(near(alerts[1]!.end!, ep.last, 3000), before).toBe(true);
    }
  });

  it('keeps an open episode open across lead-off and ends it once, after the rhythm is regular again', () => {
    const r = new Rhythm().sinus(120_000);
    const ep = r.af(300_000);
    r.sinus(300_000);
    const leadOffSecond = Math.floor((ep.first + 200_000) / 1000);
    const alerts = run([createAfibDetector()], r.beats, r.untilMs(), { leadOffFrames: [leadOffSecond, leadOffSecond + 1, leadOffSecond + 2] });
    expect(episodes(alerts).map((e) => e.revision)).toEqual([1, 2]);
    expect(near(alerts[1]!.end!, ep.last, 3000)).toBe(true);
  });

  describe('alarm off-delay (offDelayMs, 2 min): one alarm for paroxysms separated by short breaks of sinus rhythm', () => {
    /** AF 3 min, `breakMs` of sinus rhythm, AF 2 min, then 5 min of sinus rhythm. */
    const twoParoxysms = (breakMs: number) => {
      const r = new Rhythm().sinus(120_000);
      const first = r.af(180_000);
      r.sinus(breakMs);
      const second = r.af(120_000);
      r.sinus(300_000);
      return { r, first, second };
    };
    const withDelay = (r: Rhythm) => afib(r);
    const withoutDelay = (r: Rhythm) => run([createAfibDetector({ offDelayMs: 0 })], r.beats, r.untilMs());

    it('AF, 45 s of sinus rhythm, AF: one alarm (two without the off-delay); its onset is the first one without the delay, raised at the same frame; its end is the second paroxysm\'s last AF beat, reported 2 min after it', () => {
      const { r, second } = twoParoxysms(45_000);
      const without = withoutDelay(r);
      expect(episodes(without).map((e) => e.revision)).toEqual([1, 2, 1, 2]);
      const alerts = withDelay(r);
      expect(episodes(alerts).map((e) => e.revision)).toEqual([1, 2]);
      // Onset decisions unchanged: the same onset, raised by the same frame.
      expect(alerts[0]!.onset).toBe(without[0]!.onset);
      expect(alerts[0]!.detectedAt).toBe(without[0]!.detectedAt);
      expect(alerts[0]!.id).toBe(without[0]!.id);
      // The end where the AF stopped: the second episode's end without the delay, near its last AF beat.
      expect(alerts[1]!.end).toBe(without[3]!.end);
      expect(near(alerts[1]!.end!, second.last, 3000)).toBe(true);
      // Reported only once the rhythm has been non-AF for the off-delay after it.
      const reportedMs = Date.parse(alerts[1]!.updatedAt ?? alerts[1]!.detectedAt);
      expect(reportedMs - Date.parse(alerts[1]!.end!)).toBeGreaterThanOrEqual(120_000);
    });

    it('AF, 5 min of sinus rhythm, AF: two alarms, exactly those without the off-delay but for the later report of each end', () => {
      const { r, first, second } = twoParoxysms(300_000);
      const without = withoutDelay(r);
      const alerts = withDelay(r);
      expect(episodes(alerts)).toEqual(episodes(without));
      expect(alerts.filter((a) => a.revision === 1).map((a) => a.detectedAt)).toEqual(without.filter((a) => a.revision === 1).map((a) => a.detectedAt));
      expect(near(alerts[1]!.end!, first.last, 3000)).toBe(true);
      expect(near(alerts[3]!.end!, second.last, 3000)).toBe(true);
    });

    it('is a per-patient criterion: 2 min by default, also for criteria stored before it; afib.offDelayMs 0 gives each paroxysm its own alarm (the earlier behaviour)', () => {
      expect(AFIB_DEFAULTS.offDelayMs).toBe(120_000);
      // A criteria record written before the field existed.
      const stored = alarmCriteriaSchema.parse(JSON.parse('{"afib":{"enabled":true,"minEpisodeMs":30000}}'));
      expect(stored.afib.offDelayMs).toBe(AFIB_DEFAULTS.offDelayMs);
      expect(DEFAULT_ALARM_CRITERIA.afib.offDelayMs).toBe(AFIB_DEFAULTS.offDelayMs);
      const { r } = twoParoxysms(45_000);
      const zero = alarmCriteriaSchema.parse({ afib: { offDelayMs: 0 } });
      const viaCriteria = run(detectorsForCriteria(zero, ['afib']), r.beats, r.untilMs());
      expect(episodes(viaCriteria)).toEqual(episodes(withoutDelay(r)));
      expect(episodes(viaCriteria).map((e) => e.revision)).toEqual([1, 2, 1, 2]);
      expect(episodes(run(detectorsForCriteria(stored, ['afib']), r.beats, r.untilMs())).map((e) => e.revision)).toEqual([1, 2]);
    });

    it('a restart in the middle of the off-delay (the detector\'s state through JSON, as the changelog carries it) keeps one episode, ended at the same end by the same frame', () => {
      const { r } = twoParoxysms(45_000);
      const untilMs = Math.ceil(r.untilMs() / 1000) * 1000;
      const reference = new AfibReplayer(createAfibDetector());
      reference.feed(r.beats, 0, untilMs);
      expect(reference.changes.map((c) => c.type)).toEqual(['onset', 'end']);
      const [onset, end] = reference.changes as [EpisodeChange & { atMs: number }, Extract<EpisodeChange, { type: 'end' }> & { atMs: number }];
      // Restarts between the first paroxysm's end (without the delay) and the second one's onset, and during the final off-delay
      // (in full AF the state is not kept: the successor re-detects the open alert, test/processor/afib-restart.test.ts).
      const inner = new AfibReplayer(createAfibDetector({ offDelayMs: 0 }));
      inner.feed(r.beats, 0, untilMs);
      expect(inner.changes.map((c) => c.type)).toEqual(['onset', 'end', 'onset', 'end']);
      const firstEnd = inner.changes[1]! as Extract<EpisodeChange, { type: 'end' }> & { atMs: number };
      const restarts = [firstEnd.atMs + 5_000, (firstEnd.atMs + inner.changes[2]!.atMs) / 2, inner.changes[2]!.atMs - 5_000, end.endMs + 60_000].map((ms) => Math.round((ms - T0) / 1000) * 1000);
      for (const restartMs of restarts) {
        const a = new AfibReplayer(createAfibDetector());
        a.feed(r.beats, 0, restartMs);
        // The regular record, and a graceful hand-over's.
        for (const handover of [false, true]) {
          const state = a.detector.pendingState(handover ? { handover } : undefined);
          expect(state, `restart at ${restartMs}`).toBeDefined();
          const b = new AfibReplayer(createAfibDetector());
          b.detector.resumePending(JSON.parse(JSON.stringify(state)) as PendingState);
          b.feed(r.beats, restartMs, untilMs);
          // The successor reports the open episode again (the same onset: its alert continues), then ends it as one detector would.
          const all = [...a.changes, ...b.changes];
          expect(new Set(all.filter((c) => c.type === 'onset').map((c) => c.onsetMs)), `restart at ${restartMs}`).toEqual(new Set([onset.onsetMs]));
          expect(all.filter((c) => c.type === 'end').map((c) => [c.onsetMs, (c as { endMs: number }).endMs, c.atMs]), `restart at ${restartMs}`).toEqual([[onset.onsetMs, end.endMs, end.atMs]]);
        }
      }
    });
  });
});

/** Feeds a detector directly: the beats in [fromMs, untilMs) (intervals from the whole sequence) and a time event at each second's end; each change with the device time it came at. */
class AfibReplayer {
  readonly changes: (EpisodeChange & { atMs: number })[] = [];
  readonly detector: AfibDetector;
  constructor(detector: AfibDetector) { this.detector = detector; }
  feed(all: readonly TestBeat[], fromMs: number, untilMs: number): void {
    let i = all.findIndex((b) => b.t >= fromMs);
    if (i < 0) i = all.length;
    for (let frameEnd = fromMs + 1000; frameEnd <= untilMs; frameEnd += 1000) {
      for (; i < all.length && all[i]!.t < frameEnd; i++) {
        const b = all[i]!;
        for (const c of this.detector.onBeat({ timeMs: T0 + b.t, rrMs: i === 0 ? 0 : b.t - all[i - 1]!.t, cls: b.cls ?? 'N' })) this.changes.push({ ...c, atMs: T0 + b.t });
      }
      for (const c of this.detector.onTime({ nowMs: T0 + frameEnd })) this.changes.push({ ...c, atMs: T0 + frameEnd });
    }
  }
}
