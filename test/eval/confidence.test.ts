import { describe, expect, it } from 'vitest';
import { formatInterval, recordBootstrap, wilsonInterval } from '../../eval/confidence.ts';

describe('Wilson score interval', () => {
  it('gives the published values (Brown, Cai & DasGupta 2001; 0 of 10 and 5 of 10 as tabulated for the Wilson interval)', () => {
    const half = wilsonInterval(5, 10)!;
    expect(half.low).toBeCloseTo(23.66, 2);
    expect(half.high).toBeCloseTo(76.34, 2);
    const none = wilsonInterval(0, 10)!;
    expect(none.low).toBe(0);
    expect(none.high).toBeCloseTo(27.75, 2);
  });

  it('stays inside 0–100 % and is not zero-width at the ends, unlike the normal approximation', () => {
    const all = wilsonInterval(10, 10)!;
    expect(all.high).toBe(100);
    expect(all.low).toBeCloseTo(72.25, 2);
    for (let s = 0; s <= 26; s++) {
      const ci = wilsonInterval(s, 26)!;
      expect(ci.low).toBeGreaterThanOrEqual(0);
      expect(ci.high).toBeLessThanOrEqual(100);
      expect(ci.low).toBeLessThanOrEqual((100 * s) / 26);
      expect(ci.high).toBeGreaterThanOrEqual((100 * s) / 26);
      expect(ci.high - ci.low).toBeGreaterThan(5);
    }
  });

  it('narrows with more units at the same proportion, and has nothing to say about zero units', () => {
    const small = wilsonInterval(9, 10)!;
    const large = wilsonInterval(900, 1000)!;
    expect(large.high - large.low).toBeLessThan((small.high - small.low) / 5);
    expect(wilsonInterval(0, 0)).toBeUndefined();
    expect(() => wilsonInterval(11, 10)).toThrow(RangeError);
  });
});

describe('record bootstrap', () => {
  // Records as (found, total) counts; the statistic is the pooled proportion, as episode Se is.
  const pooled = (sample: readonly { found: number; total: number }[]) => {
    const total = sample.reduce((s, r) => s + r.total, 0);
    return total > 0 ? (100 * sample.reduce((s, r) => s + r.found, 0)) / total : undefined;
  };

  it('is reproducible (fixed seed) and contains the estimate of the whole set', () => {
    const records = [{ found: 9, total: 10 }, { found: 4, total: 8 }, { found: 7, total: 7 }, { found: 10, total: 12 }, { found: 3, total: 3 }];
    const a = recordBootstrap(records, pooled)!;
    expect(recordBootstrap(records, pooled)).toEqual(a);
    const point = pooled(records)!;
    expect(a.low).toBeLessThan(point);
    expect(a.high).toBeGreaterThan(point);
    expect(recordBootstrap(records, pooled, { seed: 2 })).not.toEqual(a);
  });

  it('is wider than the Wilson interval of the same counts when the misses are all in one record (clustering)', () => {
    // 60 episodes in 12 records, the 6 misses all in one record: the bootstrap sees that a set
    // without that record misses nothing and a set with it twice misses 12.
    const records = [{ found: 0, total: 6 }, ...Array.from({ length: 11 }, () => ({ found: 5, total: 5 }))];
    const boot = recordBootstrap(records, pooled)!;
    const wilson = wilsonInterval(55, 61)!;
    expect(boot.high).toBe(100);
    expect(boot.high - boot.low).toBeGreaterThan(wilson.high - wilson.low);
  });

  it('collapses when every record has the same proportion, and skips resamples where the statistic is undefined', () => {
    const same = [{ found: 4, total: 5 }, { found: 8, total: 10 }, { found: 12, total: 15 }];
    expect(recordBootstrap(same, pooled)).toEqual({ low: 80, high: 80 });
    // +P of a resample of records without alarms is undefined: such resamples do not count.
    const sparse = [{ found: 0, total: 0 }, { found: 0, total: 0 }, { found: 2, total: 2 }];
    expect(recordBootstrap(sparse, pooled)).toEqual({ low: 100, high: 100 });
    expect(recordBootstrap([{ found: 0, total: 0 }], pooled)).toBeUndefined();
    expect(recordBootstrap([], pooled)).toBeUndefined();
  });

  it('formats an interval with one decimal, or a dash', () => {
    expect(formatInterval({ low: 81.826, high: 96.968 })).toBe('81.8–97.0');
    expect(formatInterval(undefined)).toBe('-');
  });
});
