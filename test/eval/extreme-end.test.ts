/**
 * The extreme alarms' end hysteresis on real records (eval/extreme-end.ts): afdb records with
 * extreme tachycardia, replayed with the rule before (end at the first beat ≤ 140/min) and the
 * production defaults. Every production onset is an onset of the rule before, raised at the same
 * device time; the rest were re-onsets inside an open episode.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extremeEndEvaluation } from '../../eval/extreme-end.ts';
import { alarmRatesInAf } from '../../eval/evaluate.ts';
import { runEvaluation } from '../../eval/harness.ts';

const data = resolve(import.meta.dirname, '../../../shared/data/ecg');

describe('extreme alarms end with hysteresis, onsets unchanged (afdb)', () => {
  it('04908: 16 extreme-tachy episodes in AF/flutter at 135–152/min become 2, with the same onsets; 08405 2 → 1; 04048 and 08219 unchanged', async () => {
    const records = ['04048', '04908', '08219', '08405'];
    const after = await runEvaluation({ dataDir: data, databases: ['afdb'], records });
    const c = await extremeEndEvaluation(data, ['afdb'], after.results, records);
    expect(c.onsets.violations).toEqual([]);
    expect(c.records.map((r) => `${r.name} ${r.before} → ${r.after}`)).toEqual(['afdb/04048 1 → 1', 'afdb/04908 16 → 2', 'afdb/08219 1 → 1', 'afdb/08405 2 → 1']);
    expect(c.onsets).toMatchObject({ before: 20, after: 5, sameOnset: 5, absorbed: 15 });
    const inAf = c.databases[0]!;
    expect([inAf.beforeInAf!.byKind.extreme_tachy!.alarms, inAf.afterInAf!.byKind.extreme_tachy!.alarms]).toEqual([19, 4]);
    // The alarms outside AF/flutter (the §3 scope) are the same.
    expect(inAf.after.byKind.extreme_tachy!.alarms).toBe(inAf.before.byKind.extreme_tachy!.alarms);
    expect(alarmRatesInAf(after.results).byKind.extreme_tachy!.alarms).toBe(4);
  }, 60_000);
});
