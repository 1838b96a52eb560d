/**
 * Merging two criteria records (dashboard-api/criteria-merge.ts): every entry of both kept once,
 * the second record's new versions numbered after the first's, relearns in time order.
 */
import { expect, it } from 'vitest';
import { DEFAULT_ALARM_CRITERIA, type CriteriaVersion } from '../../contracts/criteria.ts';
import { mergeCriteria } from '../../dashboard-api/criteria-merge.ts';

const version = (n: number, setBy: string, setAt: string): CriteriaVersion => ({ version: n, effectiveFrom: setAt, setBy, setAt, alarms: DEFAULT_ALARM_CRITERIA });
const base = version(1, 'dr-base', '2026-03-01T09:00:00.000Z');
const mine = version(2, 'dr-a', '2026-03-01T10:00:00.000Z');
const theirs = version(2, 'dr-b', '2026-03-01T10:00:00.010Z');
const relearn = (at: string, by: string) => ({ at, by });

it('keeps both records\' entries once: the other record as it is, then what only this one has, numbered on', () => {
  const merged = mergeCriteria({ versions: [base, theirs], relearns: [relearn('2026-03-01T10:00:01.000Z', 'dr-b')] }, { versions: [base, mine], relearns: [relearn('2026-03-01T10:00:00.500Z', 'dr-a')] });
  expect(merged.versions.map((v) => [v.version, v.setBy])).toEqual([[1, 'dr-base'], [2, 'dr-b'], [3, 'dr-a']]);
  expect(merged.relearns.map((r) => r.by)).toEqual(['dr-a', 'dr-b']);
});

it('an entry already there under another number is not added again (a third writer built on this one)', () => {
  const third = version(3, 'dr-c', '2026-03-01T10:00:00.020Z');
  // The other record already holds this writer's version (as 2) and a third one; this one holds it as 3 after a first merge.
  const merged = mergeCriteria({ versions: [base, mine, third], relearns: [] }, { versions: [base, theirs, { ...mine, version: 3 }], relearns: [] });
  expect(merged.versions.map((v) => [v.version, v.setBy])).toEqual([[1, 'dr-base'], [2, 'dr-a'], [3, 'dr-c'], [4, 'dr-b']]);
});
