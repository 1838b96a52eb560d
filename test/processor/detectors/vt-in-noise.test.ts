/**
 * VT in muscle noise on an ECG-only device, end to end (beat source → morphology labels → vt
 * detector, as the processor runs it): the labeller keeps a beat that is unlike the dominant one
 * and premature as `V` however noisy (qrs-morphology.ts, OSEA's rule 2 before its noise rules).
 * That exception costs false VT alarms in motion artefact (EVALUATION.md §3, "On the ECG-only
 * path", and §5, where it was introduced with the CinC 2015 figures of the day) and is kept
 * because without it a VT run in muscle noise is not alarmed at all — this test is that
 * evidence. Rules that distrust the exception only in some noise were measured in session 11
 * (EVALUATION §5 (5)–(10)): each loses VT in noise, e.g. after a minute of it (the last case).
 * The vt detector's complex-similarity check (complex-similarity.ts, `vt.similarityMin`) must keep
 * these too, though noise lowers the similarity of a true VT's complexes as well: with 10 seeds
 * these cases still pass at 0.7, so the trade is measured with 40 seeds and harder cases by
 * `node eval/vt-similarity.ts` (EVALUATION §6), not here.
 */
import { describe, expect, it } from 'vitest';
import { alarmed, vtInNoise } from '../../../eval/vt-in-noise.ts';

describe('VT in muscle noise, ECG-only device (production path)', () => {
  for (const noiseUv of [300, 400]) {
    it(`8 wide complexes at 150/min in ${noiseUv} µV of noise raise vt for at least 9 of 10 noise seeds (without the premature-beat exception: none)`, () => {
      let hits = 0;
      for (let seed = 1; seed <= 10; seed++) if (alarmed(vtInNoise(8, 400, noiseUv, seed))) hits++;
      expect(hits).toBeGreaterThanOrEqual(9);
    });
  }

  it('8 wide complexes at 150/min after a minute of 400 µV noise raise vt for at least 9 of 10 noise seeds', () => {
    // The guard for any rule that distrusts prematurity in lasting noise: OSEA applies its
    // premature-beat rules only while the dominant rhythm is regular (≤ 60 of the last 180
    // intervals unknown to its rhythm check); with that condition here, 4 of 10 (EVALUATION §5).
    let hits = 0;
    for (let seed = 1; seed <= 10; seed++) if (alarmed(vtInNoise(8, 400, 400, seed, { runAtMs: 90_000, beforeMs: 60_000, totalMs: 110_000 }))) hits++;
    expect(hits).toBeGreaterThanOrEqual(9);
  });
});
