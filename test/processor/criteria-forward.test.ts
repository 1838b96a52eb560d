/**
 * Per-patient criteria across a rolling deploy (contracts/criteria.ts `storedAlarmCriteriaSchema`,
 * processor/criteria-read.ts): a record written by a newer API carries fields this version does
 * not know. Read strictly, the processor refused the whole record and went on with the patient's
 * previous criteria or the defaults (hysteresisBpm, recoveryMs, offDelayMs, sustainMs were each
 * such a field once). Now the reader keeps them in the record, the processor drops them with one
 * warning naming them and applies the rest; what the API accepts from a client stays strict.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { alarmCriteriaSchema, criteriaRecordSchema, knownAlarmCriteria } from '../../contracts/criteria.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';
import { criteriaRecordReader } from '../../processor/criteria-read.ts';
import { beats, frames, iso, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** A record as a newer version writes it: known fields plus a field and a kind this version does not know. */
const newerRecord = (alarms: Record<string, unknown> = { brady: { limitBpm: 60, sustainMs: 0, wakeUpDelayMs: 5000 }, svt: { enabled: true, hrAboveBpm: 160 } }) => ({
  schema: 'pb.criteria.v1',
  patientId: 'p1',
  versions: [{ version: 1, effectiveFrom: iso(T0), setBy: 'dr-care', setAt: iso(T0), alarms }],
});

/** A logger whose warnings are collected (msg and fields). */
function warnings() {
  const lines: { msg: string; fields?: string[]; issues?: string[] }[] = [];
  return { lines, logger: createLogger('warn', {}, (l) => lines.push(JSON.parse(l))) };
}

describe('criteria written by a newer version', () => {
  it('the API still refuses what it does not know: a misspelt field or kind is a 400 naming it', () => {
    const typo = alarmCriteriaSchema.safeParse({ brady: { limitBmp: 60 } });
    expect(typo.success).toBe(false);
    expect(JSON.stringify(typo.error?.issues)).toMatch(/limitBmp/);
    const kind = alarmCriteriaSchema.safeParse({ brdy: { limitBpm: 60 } });
    expect(JSON.stringify(kind.error?.issues)).toMatch(/brdy/);
  });

  it('the stored record is read with the unknown field and kind kept (an older API republishing it does not lose them); known fields are validated as on writing', () => {
    const read = criteriaRecordSchema.parse(newerRecord());
    const alarms = read.versions[0]!.alarms as unknown as Record<string, Record<string, unknown>>;
    expect(alarms['brady']).toMatchObject({ limitBpm: 60, sustainMs: 0, wakeUpDelayMs: 5000 });
    expect(alarms['svt']).toEqual({ enabled: true, hrAboveBpm: 160 });
    // Defaults still fill in, and a republished record reads the same.
    expect(read.versions[0]!.alarms.tachy.limitBpm).toBe(120);
    expect(criteriaRecordSchema.parse(JSON.parse(JSON.stringify(read)))).toEqual(read);
    // Out of range, or an always-on alarm switched off: refused, as on writing.
    expect(criteriaRecordSchema.safeParse(newerRecord({ brady: { limitBpm: 5, futureMs: 1 } })).success).toBe(false);
    expect(criteriaRecordSchema.safeParse(newerRecord({ vt: { enabled: false, futureMs: 1 } })).success).toBe(false);
  });

  it('knownAlarmCriteria drops exactly the unknown ones (also names like toString) and leaves criteria as the strict schema gives them', () => {
    const read = criteriaRecordSchema.parse(newerRecord({ brady: { limitBpm: 60, toString: 1 }, constructor: {} })).versions[0]!.alarms;
    const { criteria, unknownFields } = knownAlarmCriteria(read);
    expect(unknownFields).toEqual(['brady.toString', 'constructor']);
    expect(criteria).toEqual(alarmCriteriaSchema.parse({ brady: { limitBpm: 60 } }));
  });

  it('the processor\u2019s read drops them with one warning naming them, once per field; a record it cannot read is a warning too', () => {
    const w = warnings();
    const read = criteriaRecordReader(w.logger);
    const rec = read('p1', newerRecord())!;
    expect(rec.versions[0]!.alarms).toEqual(alarmCriteriaSchema.parse({ brady: { limitBpm: 60, sustainMs: 0 } }));
    expect(read('p2', { ...newerRecord(), patientId: 'p2' })).toBeDefined();
    expect(w.lines.map((l) => [l.msg.slice(0, 38), l.fields])).toEqual([['criteria fields this processor does no', ['brady.wakeUpDelayMs', 'svt']]]);
    expect(read('p3', newerRecord({ brady: { limitBpm: 5 } }))).toBeUndefined();
    expect(w.lines[1]).toMatchObject({ msg: expect.stringMatching(/criteria record refused/), issues: expect.arrayContaining([expect.stringMatching(/alarms\.brady\.limitBpm: Too small/)]) });
  });

  it('a processor applies a newer version\u2019s criteria: brady at 55/min alarms under the patient\u2019s limit of 60 (refused whole before: the default 50)', async () => {
    const bus = new InProcessBus();
    await bus.publish(STREAMS.criteria, [{ key: 'p1', value: Buffer.from(JSON.stringify(newerRecord())) }]);
    const w = warnings();
    h = await startHarness({ bus, logger: w.logger });
    await until('the processor to read the criteria', () => h!.metrics.counter('pb_processor_criteria_records_total', '').get() > 0);
    await h.send(frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1090, count: 30 }]), 50_000), 'p1');
    const brady = processorSnapshots(bus).filter((a) => a.kind === 'brady');
    expect(brady[0]?.evidence.thresholds).toMatchObject({ limitBpm: 60, sustainMs: 0 });
    expect(w.lines.filter((l) => /does not know/.test(l.msg)).map((l) => l.fields)).toEqual([['brady.wakeUpDelayMs', 'svt']]);
  });
});
