/**
 * What the vt detector's run-rate rule (processor/detectors/vt.ts `isVtRate`: the window's mean
 * V-to-V interval and all of its intervals but one faster than the limit) costs on slow, irregular
 * ventricular runs, against the mean alone. Runs of 20 ventricular beats at a fixed mean rate, each
 * interval drawn with Gaussian jitter (SD a share of the mean), 2000 runs per cell (seeded):
 * how often the first qualifying 5-beat window comes later than by the mean alone, by how many
 * beats, and how often the run has none within its 20 beats. Not part of `npm run eval`:
 *
 *   node eval/vt-rate-jitter.ts
 */
import { createPrng, gaussian } from '../device-sim/prng.ts';
import { isVtRate, VT_DEFAULTS } from '../processor/detectors/vt.ts';

const RUNS = 2000;
const RUN_BEATS = 20;
const intervalsPerWindow = VT_DEFAULTS.minBeats - 1;
const limitMs = 60000 / VT_DEFAULTS.hrAboveBpm;
const random = createPrng(11);

/** Index of the first window (of the run's intervals) that `fast` accepts, or −1. */
function firstWindow(rr: readonly number[], fast: (w: readonly number[]) => boolean): number {
  for (let i = 0; i + intervalsPerWindow <= rr.length; i++) if (fast(rr.slice(i, i + intervalsPerWindow))) return i;
  return -1;
}

console.log(`runs of ${RUN_BEATS} V beats, ${RUNS} per cell, windows of ${VT_DEFAULTS.minBeats} beats, limit ${VT_DEFAULTS.hrAboveBpm} bpm`);
console.log('rate bpm  jitter SD  later than the mean alone  by (mean beats)  no window in the run');
for (const bpm of [102, 105, 110, 120]) {
  for (const jitter of [0.02, 0.05, 0.1]) {
    let later = 0, laterBeats = 0, never = 0;
    for (let n = 0; n < RUNS; n++) {
      const rr = Array.from({ length: RUN_BEATS - 1 }, () => (60000 / bpm) * (1 + jitter * gaussian(random)));
      const byMean = firstWindow(rr, (w) => w.reduce((a, b) => a + b, 0) / w.length < limitMs);
      if (byMean < 0) continue;
      const byRule = firstWindow(rr, (w) => isVtRate(w, VT_DEFAULTS.hrAboveBpm));
      if (byRule < 0) never++;
      else if (byRule > byMean) { later++; laterBeats += byRule - byMean; }
    }
    const pct = (x: number) => `${((100 * x) / RUNS).toFixed(1)} %`;
    console.log(`${String(bpm).padStart(8)}  ${`${jitter * 100} %`.padStart(9)}  ${pct(later).padStart(25)}  ${(later ? laterBeats / later : 0).toFixed(1).padStart(15)}  ${pct(never).padStart(20)}`);
  }
}
