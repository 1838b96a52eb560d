/**
 * The processor's read of the criteria stream (STREAMS.criteria). Criteria are written by the API,
 * which validates strictly what it knows; a newer API writes fields this processor does not know
 * (a rolling deploy). They are dropped here, so the detectors get the known numbers of the
 * patient's criteria instead of the previous ones or the defaults, and one warning per field says
 * which (contracts/criteria.ts `storedAlarmCriteriaSchema`). A record that does not validate at all
 * is skipped, as before, but now with a warning: the patient stays on the criteria read before.
 */
import { criteriaRecordSchema, knownAlarmCriteria, type CriteriaRecord } from '../contracts/criteria.ts';
import type { Logger } from '../platform/log.ts';

/** A `parse` for the criteria ChangelogTable; warns once per unknown field path, per process. */
export function criteriaRecordReader(logger: Logger): (key: string, value: unknown) => CriteriaRecord | undefined {
  const warned = new Set<string>();
  return (key, value) => {
    const parsed = criteriaRecordSchema.safeParse(value);
    if (!parsed.success) {
      logger.warn('criteria record refused; the patient stays on the criteria read before (or the defaults)', {
        patientId: key, issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
      });
      return undefined;
    }
    const fresh = new Set<string>();
    const versions = parsed.data.versions.map((v) => {
      const { criteria, unknownFields } = knownAlarmCriteria(v.alarms);
      for (const f of unknownFields) if (!warned.has(f)) fresh.add(f);
      return unknownFields.length > 0 ? { ...v, alarms: criteria } : v;
    });
    if (fresh.size > 0) {
      for (const f of fresh) warned.add(f);
      logger.warn('criteria fields this processor does not know are ignored (written by a newer version)', { patientId: parsed.data.patientId, fields: [...fresh] });
    }
    return { ...parsed.data, versions };
  };
}
