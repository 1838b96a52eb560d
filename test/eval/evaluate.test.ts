import { describe, expect, it } from 'vitest';
import { beatConfusion } from '../../eval/evaluate.ts';

describe('beat-by-beat AF statistics', () => {
  it('labels each beat after the learning period by reference and detected episodes, skipping flutter', () => {
    const beats = [100, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200];
    const reference = [{ startMs: 450, endMs: 750 }]; // beats 500, 600, 700
    const detected = [{ startMs: 550, endMs: 950 }]; // beats 600, 700, 800, 900
    const flutter = [{ startMs: 1050, endMs: 1150 }]; // beat 1100
    // 100 is in the learning period (before 300).
    expect(beatConfusion(beats, reference, detected, flutter, 300)).toEqual({ tp: 2, fn: 1, fp: 2, tn: 3 });
  });
});
