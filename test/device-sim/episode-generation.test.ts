import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import type { TimedBeat } from '../../device-sim/frames.ts';
import { allAlarmsScenario, builtinScenario, scenarioFromPhases, type ScenarioPhase } from '../../device-sim/scenario.ts';
import { ScenarioTimeline } from '../../device-sim/scenario-timeline.ts';
import { evaluationDetectors } from '../../eval/detector-set.ts';
import type { SinusRhythmParams } from '../../device-sim/rhythm.ts';
import { runOffline } from './helpers/offline-run.ts';

const T0 = 1_764_064_800_000;
const SEEDS = Array.from({ length: 30 }, (_, i) => i + 1);

interface Interval { tMs: number; rrMs: number; cls: string }

/** Beats of one device over `spanMs`, as intervals ending at each beat. */
function generate(phases: ScenarioPhase[], spanMs: number, seed: number, rhythmParams?: Partial<SinusRhythmParams>) {
  const timeline = new ScenarioTimeline({ deviceId: 'dev', seed, t0Ms: T0, scenario: scenarioFromPhases('t', phases), ...(rhythmParams ? { rhythmParams } : {}) });
  const beats: TimedBeat[] = [];
  for (const b of timeline.beats()) {
    if (b.tMs >= T0 + spanMs) break;
    beats.push(b);
  }
  const intervals: Interval[] = beats.slice(1).map((b, i) => ({ tMs: b.tMs, rrMs: b.tMs - beats[i]!.tMs, cls: b.cls }));
  return { beats, intervals, truth: timeline.groundTruth(T0 + spanMs) };
}

/**
 * Device time the limit alarm's delay is over (alarm-criteria.ts, issue 12): the first beat of
 * the run `from`…`from + n` at least 30 s after its first beat when its first 5 intervals average
 * ≥ 25 % longer (brady) / 20 % shorter (tachy) than the 8 intervals before it and than the
 * prevailing interval (every interval before the run, averaged over time with an exponential
 * memory of 5 min), else 2 / 5 min; null when the run is shorter. Written here from the rule, not
 * from criteria-scan.ts.
 */
function delayOver(intervals: Interval[], from: number, n: number, kind: 'brady' | 'tachy'): { sudden: boolean; criterionMs: number | null } {
  const mean = (xs: Interval[]) => xs.reduce((a, x) => a + x.rrMs, 0) / xs.length;
  const before = mean(intervals.slice(from - 8, from));
  const prevailing = intervals.slice(0, from).reduce((avg, x) => (Number.isNaN(avg) ? x.rrMs : avg + (1 - Math.exp(-x.rrMs / 300_000)) * (x.rrMs - avg)), Number.NaN);
  const first5 = mean(intervals.slice(from, from + 5));
  const sudden = kind === 'brady' ? first5 >= before / 0.8 && first5 >= prevailing / 0.8 : first5 <= 0.8 * before && first5 <= 0.8 * prevailing;
  const delayMs = sudden ? 30_000 : kind === 'brady' ? 120_000 : 300_000;
  const t0 = intervals[from]!.tMs;
  const hit = intervals.slice(from + 4, from + n).find((x) => x.tMs - t0 >= delayMs);
  return { sudden, criterionMs: hit?.tMs ?? null };
}

/** Index of the interval ending at `tMs`. */
const at = (intervals: Interval[], tMs: number) => intervals.findIndex((x) => x.tMs === tMs);

/** First beat of the first run of `n` consecutive intervals passing `test`, from index `from`. */
function firstRun(intervals: Interval[], from: number, n: number, test: (rr: number) => boolean): number | undefined {
  let run = 0;
  for (let i = from; i < intervals.length; i++) {
    run = test(intervals[i]!.rrMs) ? run + 1 : 0;
    if (run === n) return intervals[i - n + 1]!.tMs;
  }
  return undefined;
}

describe('generated episodes', () => {
  it('brady: every interval between 42 and 48 bpm (1250–1428 ms), never under 40 bpm; onset = first slow beat, criterion = 30 s into a sudden drop (2 min otherwise: not met in 45 s), end = first of 5 beats back at ≥ 55 bpm, final after the 2 min off-delay', () => {
    let sudden = 0;
    for (const seed of SEEDS) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 20_000 }, { kind: 'brady', durationMs: 45_000 }, { kind: 'normal', durationMs: 150_000 }], 215_000, seed);
      const slow = intervals.filter((x) => x.rrMs > 1200);
      const [e] = truth;
      const first = at(intervals, e!.onsetMs);
      const delay = delayOver(intervals, first, slow.length, 'brady');
      if (delay.sudden) sudden++;
      expect({
        kinds: truth.map((x) => x.kind),
        slowInRange: slow.every((x) => x.rrMs >= 1250 && x.rrMs <= 1428),
        contiguous: slow.every((x, i) => at(intervals, x.tMs) === first + i),
        enough: slow.length >= 5,
        onset: e!.onsetMs,
        criterion: e!.criterionMs,
        end: e!.endMs,
        implied: e!.implied,
        alarm: e!.alarm,
      }).toEqual({
        kinds: ['brady'], slowInRange: true, contiguous: true, enough: true,
        onset: slow[0]!.tMs,
        criterion: delay.criterionMs,
        end: firstRun(intervals, first + slow.length, 5, (rr) => rr <= 60_000 / 55),
        implied: [],
        alarm: 'brady',
      });
      expect(e!.endMs).toBeGreaterThan(slow.at(-1)!.tMs);
      expect(e!.detail.hrBpm).toBeGreaterThanOrEqual(42);
      expect(e!.detail.hrBpm).toBeLessThanOrEqual(48);
    }
    // a scripted brady drops abruptly from 60–85 bpm: sudden for these seeds (the gradual branch: next test)
    expect(sudden).toBe(SEEDS.length);
  });

  it('brady followed within its 2 min off-delay by an extreme brady (a relapse): one brady episode, ended after the extreme brady; without the relapse it ends after the brady', () => {
    for (const seed of SEEDS.slice(0, 10)) {
      const phases = (gapMs: number): ScenarioPhase[] => [{ kind: 'normal', durationMs: 20_000 }, { kind: 'brady', durationMs: 45_000 }, { kind: 'normal', durationMs: gapMs }, { kind: 'extreme_brady', durationMs: 15_000 }, { kind: 'normal', durationMs: 150_000 }];
      const near = generate(phases(60_000), 290_000, seed);
      const far = generate(phases(150_000), 380_000, seed);
      const recovered = (rr: number) => rr <= 60_000 / 55;
      for (const [{ intervals, truth }, lastSlowKind] of [[near, 'extreme_brady'], [far, 'brady']] as const) {
        const brady = truth.find((e) => e.kind === 'brady')!;
        const extreme = truth.find((e) => e.kind === 'extreme_brady')!;
        const [from, to] = lastSlowKind === 'brady' ? [brady.onsetMs, extreme.onsetMs] : [extreme.onsetMs, Infinity];
        const lastSlowBeat = intervals.filter((x) => x.tMs >= from && x.tMs < to && x.rrMs > 1200).at(-1)!;
        expect([truth.filter((e) => e.kind === 'brady').length, brady.endMs]).toEqual([1, firstRun(intervals, at(intervals, lastSlowBeat.tMs) + 1, 5, recovered)]);
      }
    }
  });

  it('brady at 49 bpm from a 58 bpm rhythm is no sudden drop: no alarm due within 45 s, due 2 min after its first slow beat when it lasts', () => {
    for (const seed of SEEDS.slice(0, 10)) {
      const phases = (ms: number): ScenarioPhase[] => [{ kind: 'normal', durationMs: 20_000 }, { kind: 'brady', durationMs: ms, hrBpm: 49 }, { kind: 'normal', durationMs: 30_000 }];
      const short = generate(phases(45_000), 95_000, seed, { meanHrBpm: 58 });
      const long = generate(phases(130_000), 180_000, seed, { meanHrBpm: 58 });
      const slow = long.intervals.filter((x) => x.rrMs > 1200);
      const delay = delayOver(long.intervals, at(long.intervals, slow[0]!.tMs), slow.length, 'brady');
      expect([short.truth[0]!.kind, short.truth[0]!.criterionMs, delay.sudden, long.truth[0]!.criterionMs, long.truth[0]!.criterionMs! - slow[0]!.tMs >= 120_000]).toEqual(['brady', null, false, delay.criterionMs, true]);
    }
  });

  it('brady at an explicit 42 bpm (the all-alarms setting) always starts suddenly: its alarm is due 30 s after the first slow beat', () => {
    for (const seed of SEEDS) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 20_000 }, { kind: 'brady', durationMs: 45_000, hrBpm: 42 }, { kind: 'normal', durationMs: 30_000 }], 95_000, seed);
      const slow = intervals.filter((x) => x.rrMs > 1200);
      const delay = delayOver(intervals, at(intervals, slow[0]!.tMs), slow.length, 'brady');
      expect([delay.sudden, truth[0]!.criterionMs, truth[0]!.criterionMs! - slow[0]!.tMs < 32_000]).toEqual([true, delay.criterionMs, true]);
    }
  });

  it('tachy: every interval between 125 and 135 bpm (445–480 ms), never over 140 bpm; always a sudden onset, criterion 30 s in; end = first of 5 beats back at ≤ 115 bpm (no off-delay)', () => {
    for (const seed of SEEDS) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 20_000 }, { kind: 'tachy', durationMs: 40_000 }, { kind: 'normal', durationMs: 20_000 }], 80_000, seed);
      const fast = intervals.filter((x) => x.rrMs < 500);
      const [e] = truth;
      expect({
        fastInRange: fast.every((x) => x.rrMs >= 445 && x.rrMs <= 480),
        sudden: delayOver(intervals, at(intervals, fast[0]!.tMs), fast.length, 'tachy').sudden,
        onset: e!.onsetMs,
        criterion: e!.criterionMs,
        end: e!.endMs,
        implied: e!.implied,
      }).toEqual({
        fastInRange: true,
        sudden: true,
        onset: fast[0]!.tMs,
        criterion: delayOver(intervals, at(intervals, fast[0]!.tMs), fast.length, 'tachy').criterionMs,
        end: firstRun(intervals, at(intervals, fast.at(-1)!.tMs) + 1, 5, (rr) => rr >= 60_000 / 115),
        implied: [],
      });
      expect(e!.endMs).toBeGreaterThan(fast.at(-1)!.tMs);
    }
  });

  it.each([
    ['brady', 49.9, (rr: number) => rr >= 1201 && rr <= 1263],
    ['brady', 40.1, (rr: number) => rr >= 1420 && rr <= 1499],
    ['tachy', 120.1, (rr: number) => rr >= 475 && rr <= 499],
    ['tachy', 139.9, (rr: number) => rr >= 429 && rr <= 451],
  ] as const)('%s at an explicit %s bpm stays strictly inside its limits (RR test %s)', (kind, hrBpm, inRange) => {
    for (const seed of SEEDS.slice(0, 10)) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 10_000 }, { kind, durationMs: 20_000, hrBpm }, { kind: 'normal', durationMs: 20_000 }], 50_000, seed);
      const own = intervals.filter((x) => x.tMs >= truth[0]!.onsetMs && (kind === 'brady' ? x.rrMs > 1200 : x.rrMs < 500));
      expect([own.length >= 5, own.every((x) => inRange(x.rrMs)), truth.map((e) => [e.kind, e.implied.length])]).toEqual([true, true, [[kind, 0]]]);
    }
  });

  it.each([3000, 3400, 3999])('pause of %i ms: exactly one interval of that length, a pause and no asystole', (durationMs) => {
    for (const seed of SEEDS.slice(0, 10)) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 10_000 }, { kind: 'pause', durationMs }, { kind: 'normal', durationMs: 10_000 }], 24_000, seed);
      const long = intervals.filter((x) => x.rrMs > 1200);
      expect(long.map((x) => x.rrMs)).toEqual([durationMs]);
      expect(truth.map(({ kind, onsetMs, endMs, criterionMs, implied, alarm }) => ({ kind, onsetMs, endMs, criterionMs, implied, alarm }))).toEqual([
        { kind: 'pause', onsetMs: long[0]!.tMs - durationMs, endMs: long[0]!.tMs, criterionMs: long[0]!.tMs, implied: [], alarm: 'pause' },
      ]);
    }
  });

  it('vt: a run of ventricular beats at 150–200 bpm, V-to-V intervals all under 500 ms; onset = first V beat, criterion = 5th, end = first beat after; too short for the tachycardia alarm delay', () => {
    for (const seed of SEEDS) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 10_000 }, { kind: 'vt', durationMs: 3000 }, { kind: 'normal', durationMs: 10_000 }], 23_000, seed);
      const v = intervals.filter((x) => x.cls === 'V');
      const afterRun = intervals[at(intervals, v.at(-1)!.tMs) + 1]!;
      const [e] = truth;
      expect({
        contiguous: v.every((x, i) => at(intervals, x.tMs) === at(intervals, v[0]!.tMs) + i),
        length: v.length >= 7 && v.length <= 10,
        rate: v.every((x) => x.rrMs >= 60_000 / 200 * 0.98 - 1 && x.rrMs <= 60_000 / 150 * 1.02 + 1),
        returnRr: afterRun.rrMs >= 500 && afterRun.rrMs <= 1200,
        truth: { kind: e!.kind, onsetMs: e!.onsetMs, criterionMs: e!.criterionMs, endMs: e!.endMs, implied: e!.implied.map(({ kind, onsetMs, criterionMs }) => ({ kind, onsetMs, criterionMs })) },
      }).toEqual({
        contiguous: true, length: true, rate: true, returnRr: true,
        truth: { kind: 'vt', onsetMs: v[0]!.tMs, criterionMs: v[4]!.tMs, endMs: afterRun.tMs, implied: [] },
      });
    }
  });

  it.each([[5, []], [16, []], [17, ['extreme_tachy']], [100, ['extreme_tachy', 'tachy']]] as const)('vt of exactly %i beats also raises %j (tachy only once the run outlasts its 30 s sudden-onset delay)', (beats, implied) => {
    const { intervals, truth } = generate([{ kind: 'normal', durationMs: 10_000 }, { kind: 'vt', durationMs: 42_000, beats, hrBpm: 150 }, { kind: 'normal', durationMs: 10_000 }], 64_000, 4);
    const v = intervals.filter((x) => x.cls === 'V');
    expect([v.length, truth[0]!.detail.beats, truth[0]!.implied.map((i) => i.kind)]).toEqual([beats, beats, implied]);
    const tachy = truth[0]!.implied.find((i) => i.kind === 'tachy');
    if (tachy) expect([tachy.onsetMs, tachy.criterionMs]).toEqual([v[0]!.tMs, delayOver(intervals, at(intervals, v[0]!.tMs), v.length, 'tachy').criterionMs]);
  });

  it('nsvt: runs of 3 or 4 ventricular beats that meet no alarm criterion (no VT, no tachycardia)', () => {
    const lengths = new Set<number>();
    for (const seed of SEEDS) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 10_000 }, { kind: 'nsvt', durationMs: 3000 }, { kind: 'normal', durationMs: 10_000 }], 23_000, seed);
      const v = intervals.filter((x) => x.cls === 'V');
      lengths.add(v.length);
      expect(truth.map(({ kind, alarm, criterionMs, implied }) => ({ kind, alarm, criterionMs, implied }))).toEqual([{ kind: 'nsvt', alarm: null, criterionMs: null, implied: [] }]);
      expect(truth[0]!.onsetMs).toBe(v[0]!.tMs);
    }
    expect([...lengths].sort()).toEqual([3, 4]);
  });

  it('afib: the irregular intervals run from the onset beat to the end beat, meet nothing but the AF criterion (30 s after onset), at 90–110 bpm', () => {
    for (const seed of SEEDS.slice(0, 15)) {
      const { intervals, truth } = generate([{ kind: 'normal', durationMs: 20_000 }, { kind: 'afib', durationMs: 60_000 }, { kind: 'normal', durationMs: 20_000 }], 100_000, seed);
      const [e] = truth;
      const own = intervals.slice(at(intervals, e!.onsetMs), at(intervals, e!.endMs!) + 1);
      const rr = own.map((x) => x.rrMs);
      const sd = Math.sqrt(rr.reduce((s, x) => s + (x - rr.reduce((a, b) => a + b) / rr.length) ** 2, 0) / rr.length);
      expect({
        kind: e!.kind, criterionMs: e!.criterionMs, implied: e!.implied, beats: e!.detail.beats,
        window: own[0]!.tMs - own[0]!.rrMs >= T0 + 20_000 - 1200 && own.at(-1)!.tMs - own.at(-1)!.rrMs < T0 + 80_000,
        irregular: sd > 50,
      }).toEqual({ kind: 'afib', criterionMs: e!.onsetMs + 30_000, implied: [], beats: own.length, window: true, irregular: true });
      expect(e!.detail.hrBpm! > 85 && e!.detail.hrBpm! < 115).toBe(true);
    }
  });

  it('lead_off: frames overlapping the window carry leadOff, hr 0 and no beats inside it; onset = first such frame, end = first frame with contact, criterion 10 s in', () => {
    const scenario = scenarioFromPhases('lo', [{ kind: 'normal', durationMs: 15_500 }, { kind: 'lead_off', durationMs: 15_000 }, { kind: 'normal', durationMs: 10_000 }]);
    const { episodes, frames } = runOffline({ scenario, devices: ['d'], t0Ms: T0, durationMs: 40_000 });
    const off = frames.get('d')!.filter((f) => f.leadOff);
    const inside = (f: TelemetryFrame) => f.beats.every((b) => f.ts + b.off < T0 + 15_500 || f.ts + b.off >= T0 + 30_500);
    expect([off.map((f) => f.ts - T0), off.every((f) => f.hr === 0 && inside(f)), off.slice(1, -1).every((f) => f.beats.length === 0)]).toEqual([
      Array.from({ length: 16 }, (_, i) => 15_000 + i * 1000), true, true,
    ]);
    expect(episodes.map(({ kind, onsetMs, endMs, criterionMs, onsetSentAtMs, criterionSentAtMs }) => ({ kind, onsetMs, endMs, criterionMs, onsetSentAtMs, criterionSentAtMs }))).toEqual([
      // offline, a frame is "sent" at its end; the criterion is met at the end of the 10th lead-off frame
      { kind: 'lead_off', onsetMs: T0 + 15_000, endMs: T0 + 31_000, criterionMs: T0 + 25_000, onsetSentAtMs: T0 + 16_000, criterionSentAtMs: T0 + 25_000 },
    ]);
  });

  it('lead_off shorter than the 10 s alarm delay: its frames carry leadOff, and no alarm is due (a distractor)', () => {
    const scenario = scenarioFromPhases('lo', [{ kind: 'normal', durationMs: 15_500 }, { kind: 'lead_off', durationMs: 3000 }, { kind: 'normal', durationMs: 10_000 }]);
    const { episodes, frames } = runOffline({ scenario, devices: ['d'], t0Ms: T0, durationMs: 30_000 });
    expect(frames.get('d')!.filter((f) => f.leadOff).map((f) => f.ts - T0)).toEqual([15_000, 16_000, 17_000, 18_000]);
    expect(episodes.map(({ kind, criterionMs, alarm }) => ({ kind, criterionMs, alarm }))).toEqual([{ kind: 'lead_off', criterionMs: null, alarm: 'lead_off' }]);
  });

  it('a tachycardia a few seconds after a short lead-off is not a sudden onset (the device sent no intervals across the lead-off), as the processor sees it; without the lead-off it is', () => {
    const truthAndAlarms = (leadOff: boolean) => {
      const scenario = scenarioFromPhases('t', [
        { kind: 'normal', durationMs: 60_000 }, leadOff ? { kind: 'lead_off', durationMs: 3000 } : { kind: 'normal', durationMs: 3000 },
        { kind: 'normal', durationMs: 5000 }, { kind: 'tachy', durationMs: 120_000, hrBpm: 130 }, { kind: 'normal', durationMs: 20_000 },
      ]);
      const run = runOffline({ scenario, devices: ['d'], t0Ms: T0, durationMs: 210_000, detectors: () => evaluationDetectors() });
      const tachy = run.episodes.find((e) => e.kind === 'tachy')!;
      // Due: 30 s after a sudden onset (at the first beat from then on), else after 5 min (never in 2 min).
      const due = tachy.criterionMs === null ? null : Math.floor((tachy.criterionMs - tachy.onsetMs) / 1000);
      return { due, raised: run.alerts.filter((a) => a.kind === 'tachy').length };
    };
    expect(truthAndAlarms(true)).toEqual({ due: null, raised: 0 });
    expect(truthAndAlarms(false)).toEqual({ due: 30, raised: 1 });
  });

  it('lead_off with reversed: the ECG after it is the negative of the same patient’s ECG without it, and a second one turns it back (also in a repeating scenario)', () => {
    const ecgOf = (reversed: boolean, cycle: boolean) => {
      // Lead-offs at 20–23 s and 63–66 s: two phases, or one cycle of 43 s repeated.
      const phases: ScenarioPhase[] = [{ kind: 'normal', durationMs: 20_000 }, { kind: 'lead_off', durationMs: 3000, reversed }, { kind: 'normal', durationMs: 20_000 }];
      const scenario = cycle ? scenarioFromPhases('rev', phases, true) : scenarioFromPhases('rev', [...phases, { kind: 'normal', durationMs: 20_000 }, { kind: 'lead_off', durationMs: 3000, reversed }, { kind: 'normal', durationMs: 10_000 }]);
      const { frames } = runOffline({ scenario, devices: ['d'], t0Ms: T0, durationMs: 70_000, ecgFsHz: 250 });
      return new Map(frames.get('d')!.filter((f) => f.ecg && !f.leadOff).map((f) => [f.ts - T0, f.ecg!.uV]));
    };
    for (const cycle of [false, true]) {
      const upright = ecgOf(false, cycle);
      const turned = ecgOf(true, cycle);
      const sign = (ts: number) => {
        const a = upright.get(ts)!, b = turned.get(ts)!;
        return a.every((v, i) => v === b[i]) ? 1 : a.every((v, i) => v === -b[i]!) ? -1 : 0;
      };
      // Before the first lead-off, between the two, after the second.
      expect([sign(10_000), sign(19_000), sign(23_000), sign(42_000), sign(62_000), sign(66_000), sign(69_000)]).toEqual([1, 1, -1, -1, -1, 1, 1]);
    }
  });

  it('low_battery: the battery drains to 10 % and is charged back; onset = first frame under 15 %, end = first frame at 20 % again', () => {
    const scenario = scenarioFromPhases('bat', [{ kind: 'normal', durationMs: 20_000 }, { kind: 'low_battery', durationMs: 30_000 }, { kind: 'normal', durationMs: 10_000 }]);
    const { episodes, frames } = runOffline({ scenario, devices: ['d'], t0Ms: T0, durationMs: 60_000, battery: 80 });
    const battery = frames.get('d')!.map((f: TelemetryFrame) => f.battery);
    const onset = battery.findIndex((b) => b < 15);
    const end = battery.findIndex((b, i) => i > onset && b >= 20);
    expect([Math.min(...battery), battery.slice(0, 20).every((b) => b === 80), battery.slice(50).every((b) => b === 80)]).toEqual([10, true, true]);
    expect(episodes.map(({ kind, onsetMs, endMs, criterionMs, detail }) => ({ kind, onsetMs, endMs, criterionMs, minBatteryPct: detail.minBatteryPct }))).toEqual([
      { kind: 'low_battery', onsetMs: T0 + onset * 1000, endMs: T0 + end * 1000, criterionMs: T0 + onset * 1000, minBatteryPct: 10 },
    ]);
  });

  it('all-alarms holds every kind once per cycle with normal rhythm between, and lengthens its signal loss to 15 s of wall time at the run speed', () => {
    const s = allAlarmsScenario();
    expect(s.episodes.map((e) => e.kind)).toEqual(['afib', 'pause', 'brady', 'tachy', 'vt', 'nsvt', 'extreme_brady', 'extreme_tachy', 'asystole', 'lead_off', 'low_battery', 'signal_loss']);
    expect(s.episodes.slice(1).every((e, i) => e.startMs - (s.episodes[i]!.startMs + s.episodes[i]!.durationMs) >= 12_000)).toBe(true);
    const loss = (speed?: number | 'max') => builtinScenario('all-alarms', speed === undefined ? {} : { speed })!.episodes.find((e) => e.kind === 'signal_loss')!.durationMs;
    expect([loss(), loss(1), loss(5), loss('max'), builtinScenario('all-alarms', { speed: 5 })!.cycleMs! - s.cycleMs!]).toEqual([20_000, 20_000, 75_000, 20_000, 55_000]);
  });
});
