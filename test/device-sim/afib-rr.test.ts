import { describe, expect, it } from 'vitest';
import { AfRrModel, randomAfParams } from '../../device-sim/afib-rr.ts';
import { createPrng } from '../../device-sim/prng.ts';
import { SinusRhythm } from '../../device-sim/rhythm.ts';
import { RR_IRREGULARITY_DEFAULTS, RrIrregularity } from '../../processor/detectors/rr-irregularity.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function stats(rr: number[]) {
  const m = mean(rr);
  const sd = Math.sqrt(mean(rr.map((x) => (x - m) ** 2)));
  let ss = 0;
  let c1 = 0;
  for (let i = 1; i < rr.length; i++) {
    ss += (rr[i]! - rr[i - 1]!) ** 2;
    c1 += (rr[i]! - m) * (rr[i - 1]! - m);
  }
  return { hrBpm: 60_000 / m, cv: sd / m, rmssdMs: Math.sqrt(ss / (rr.length - 1)), lag1: c1 / (rr.length - 1) / (sd * sd) };
}

/** 100-beat AF episodes for seeds 0…n−1, default parameters. */
const episodes = (n: number, beats = 100) =>
  Array.from({ length: n }, (_, s) => {
    const random = createPrng(s);
    const model = new AfRrModel(random, randomAfParams(random));
    return Array.from({ length: beats }, () => model.next());
  });

describe('AF RR model', () => {
  it('is as variable and as uncorrelated beat to beat as the AF of the MIT-BIH AF database, unlike sinus rhythm', () => {
    const s = episodes(200).map(stats);
    // afdb (12 records, one-minute AF windows): HR IQR 97–107, CV 0.13–0.25, RMSSD 115–208 ms, lag-1 −0.08–0.11
    expect({
      hrInRange: s.every((x) => x.hrBpm > 85 && x.hrBpm < 115),
      medianCv: median(s.map((x) => x.cv)) > 0.15 && median(s.map((x) => x.cv)) < 0.25,
      medianRmssd: median(s.map((x) => x.rmssdMs)) > 115 && median(s.map((x) => x.rmssdMs)) < 210,
      medianLag1: Math.abs(median(s.map((x) => x.lag1))) < 0.1,
    }).toEqual({ hrInRange: true, medianCv: true, medianRmssd: true, medianLag1: true });
    // sinus rhythm: successive intervals strongly correlated, small beat-to-beat differences
    const sinus = new SinusRhythm({ seed: 5 });
    let t = 0;
    const sinusRr = Array.from({ length: 300 }, () => {
      const rr = sinus.nextRrMs(t);
      t += rr;
      return rr;
    });
    expect(stats(sinusRr).lag1).toBeGreaterThan(0.5);
    expect(stats(sinusRr).rmssdMs).toBeLessThan(60);
  });

  it('is irregular by the Petrėnas 2015 8-beat measure in most windows (fused score above η)', () => {
    const scores = episodes(50, 150).flatMap((rr) => {
      const m = new RrIrregularity();
      let t = 0;
      return rr.flatMap((x) => {
        t += x;
        const sample = m.push(t, x);
        return sample ? [sample.windowScore] : [];
      }).slice(20);
    });
    expect(scores.filter((w) => w > RR_IRREGULARITY_DEFAULTS.irregularityThreshold).length / scores.length).toBeGreaterThan(0.8);
  });

  it('never has 5 consecutive intervals under 500 ms or over 1200 ms, nor one of 3 s, and keeps the requested mean rate', () => {
    const all = episodes(300, 200);
    const runOf = (rr: number[], test: (x: number) => boolean) => {
      let run = 0;
      let longest = 0;
      for (const x of rr) {
        run = test(x) ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      return longest;
    };
    expect({
      shortRun: Math.max(...all.map((rr) => runOf(rr, (x) => x < 500))),
      longRun: Math.max(...all.map((rr) => runOf(rr, (x) => x > 1200))),
      maxRr: Math.max(...all.flat()) < 3000,
      minRr: Math.min(...all.flat()) >= 250,
      integers: all.flat().every(Number.isInteger),
    }).toEqual({ shortRun: 4, longRun: expect.any(Number), maxRr: true, minRr: true, integers: true });
    expect(Math.max(...all.map((rr) => runOf(rr, (x) => x > 1200)))).toBeLessThanOrEqual(4);
    const random = createPrng(9);
    const slow = new AfRrModel(random, { meanHrBpm: 70, tailMeanMs: 120 });
    expect(Math.abs(stats(Array.from({ length: 2000 }, () => slow.next())).hrBpm - 70)).toBeLessThan(2);
  });
});
