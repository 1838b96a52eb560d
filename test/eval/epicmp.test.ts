import { describe, expect, it } from 'vitest';
import { compareEpisodes, episodeStats, mergeIntervals, overlapMs, sumComparisons } from '../../eval/epicmp.ts';

const s = (sec: number) => sec * 1000;
const iv = (fromSec: number, toSec: number) => ({ startMs: s(fromSec), endMs: s(toSec) });

describe('epicmp-style episode comparison', () => {
  // Reference AF: A 400–500 s, B 600–620 s (20 s), C 900–1000 s. Flutter 1100–1200 s.
  // Test: a 450–520 s (overlaps A), b 700–760 s (false), c 1120–1180 s (inside flutter: ignored
  // for +P), d 950–1300 s (overlaps C; 100 s of it inside flutter are cut out).
  const reference = [iv(400, 500), iv(600, 620), iv(900, 1000)];
  const test = [iv(450, 520), iv(700, 760), iv(1120, 1180), iv(950, 1300)];
  const options = { startMs: s(300), endMs: s(2000), exclusions: [iv(1100, 1200)] };

  it('counts episodes and overlap as epicmp does (any overlap detects; flutter cut from +P)', () => {
    expect(compareEpisodes(reference, test, options)).toEqual({
      tpSe: 2, fn: 1, // A and C detected, B missed
      tpPp: 2, fp: 1, // a and d confirmed, b false, c ignored
      overlapSeMs: s(50 + 50), // A∩a 450–500, C∩d 950–1000 (c never overlaps reference)
      overlapPpMs: s(50 + 50),
      refDurationMs: s(100 + 20 + 100),
      testDurationMs: s(70 + 60 + (350 - 100)),
    });
  });

  it('gives episode and duration Se/+P in percent', () => {
    const stats = episodeStats(compareEpisodes(reference, test, options));
    expect(stats.episodeSe).toBeCloseTo((100 * 2) / 3, 6);
    expect(stats.episodePp).toBeCloseTo((100 * 2) / 3, 6);
    expect(stats.durationSe).toBeCloseTo((100 * 100) / 220, 6);
    expect(stats.durationPp).toBeCloseTo((100 * 100) / 380, 6);
  });

  it('ignores the learning period: episodes are clipped to start at 5 minutes', () => {
    const c = compareEpisodes([iv(100, 400)], [iv(0, 200), iv(250, 350)], { startMs: s(300), endMs: s(1000) });
    // Reference clipped to 300–400; the first test episode lies before the test period.
    expect(c).toMatchObject({ tpSe: 1, fn: 0, tpPp: 1, fp: 0, refDurationMs: s(100), testDurationMs: s(50), overlapSeMs: s(50) });
  });

  it('with a minimum length (epicmp -i) scores only long episodes but still matches them against all', () => {
    const c = compareEpisodes(reference, test, { ...options, minEpisodeMs: s(30) });
    expect(c).toMatchObject({ tpSe: 2, fn: 0, refDurationMs: s(200) }); // B (20 s) no longer scored
    expect(compareEpisodes([iv(400, 500)], [iv(490, 510)], { ...options, minEpisodeMs: s(30) })).toMatchObject({ tpSe: 1, tpPp: 0, fp: 0 });
  });

  it('reports undefined rates when there is nothing to divide by, like epicmp prints "-"', () => {
    expect(episodeStats(compareEpisodes([], [], options))).toEqual({});
  });

  it('sums records into gross statistics', () => {
    const one = compareEpisodes(reference, test, options);
    expect(sumComparisons([one, one])).toEqual({ ...Object.fromEntries(Object.entries(one).map(([k, v]) => [k, 2 * v])) });
  });

  it('merges touching intervals and measures overlap', () => {
    expect(mergeIntervals([iv(10, 20), iv(0, 10), iv(30, 40)])).toEqual([iv(0, 20), iv(30, 40)]);
    expect(overlapMs(iv(5, 35), [iv(0, 20), iv(30, 40)])).toBe(s(15 + 5));
  });
});
