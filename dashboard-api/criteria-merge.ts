/**
 * Merging two criteria records of one patient (routes-criteria.ts): what a writer does when its
 * record replaced another that was published at the same moment by another API instance and that
 * it had not read. A record only ever grows by entries — a criteria version or a relearn — so the
 * merge keeps every entry of both: the replaced record's as they are, and the entries of the
 * writer's record that it lacks, versions numbered on after its own (they were published later).
 * An entry is the same entry when everything but its number is the same (who, when, what).
 */
import { MAX_CRITERIA_VERSIONS, MAX_RELEARNS, type CriteriaVersion, type Relearn } from '../contracts/criteria.ts';

/** The entries of a criteria record. */
export interface CriteriaEntries {
  versions: CriteriaVersion[];
  relearns: Relearn[];
}

export function sameVersion(a: CriteriaVersion, b: CriteriaVersion): boolean {
  return a.setBy === b.setBy && a.setAt === b.setAt && a.effectiveFrom === b.effectiveFrom && a.reason === b.reason && JSON.stringify(a.alarms) === JSON.stringify(b.alarms);
}

export function sameRelearn(a: Relearn, b: Relearn): boolean {
  return a.at === b.at && a.by === b.by && a.reason === b.reason;
}

/** `into` with the entries of `from` it lacks (versions numbered on from its latest; relearns in time order), each list capped as a record is. */
export function mergeCriteria(into: CriteriaEntries, from: CriteriaEntries): CriteriaEntries {
  const versions = [...into.versions];
  for (const v of from.versions) {
    if (versions.some((w) => sameVersion(v, w))) continue;
    versions.push({ ...v, version: (versions.at(-1)?.version ?? 0) + 1 });
  }
  const relearns = [...into.relearns, ...from.relearns.filter((r) => !into.relearns.some((s) => sameRelearn(r, s)))]
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return { versions: versions.slice(-MAX_CRITERIA_VERSIONS), relearns: relearns.slice(-MAX_RELEARNS) };
}
