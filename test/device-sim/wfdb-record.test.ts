import { describe, expect, it } from 'vitest';
import { missingEcgIntervals, readWfdbRecord } from '../../device-sim/wfdb-record.ts';
import { ecgOnlyFrames } from '../../eval/qrs.ts';

const ECG = '/work/shared/data/ecg';

describe('WFDB record loader', () => {
  it('takes beats from .atr and the MLII lead from .dat for mitdb/100', async () => {
    const r = await readWfdbRecord(`${ECG}/mitdb/100`);
    expect({
      beatAnnotationPath: r.beatAnnotationPath, beats: r.beats.length, rhythm: r.rhythm.map((a) => [a.sample, a.aux]),
      ecg: r.ecg && { signalIndex: r.ecg.signalIndex, description: r.ecg.description, fsHz: r.ecg.fsHz, samples: r.ecg.uV.length }, lengthSamples: r.lengthSamples,
    }).toEqual({
      beatAnnotationPath: `${ECG}/mitdb/100.atr`, beats: 2273, rhythm: [[18, '(N']],
      ecg: { signalIndex: 0, description: 'MLII', fsHz: 360, samples: 650000 }, lengthSamples: 650000,
    });
  });

  it('takes beats from .qrs when .atr holds only rhythm annotations (afdb/07859) and keeps the rhythm', async () => {
    const r = await readWfdbRecord(`${ECG}/afdb/07859.hea`);
    expect([r.beatAnnotationPath, r.beats.length > 50_000, r.rhythm.map((a) => [a.sample, a.aux]), r.ecg, r.lengthSamples]).toEqual([
      `${ECG}/afdb/07859.qrs`, true, [[43, '(AFIB']], undefined, 8997275,
    ]);
  });

  it('takes beats from .ecg and the length from the last annotation when the header gives none (nsr2db/nsr001)', async () => {
    const r = await readWfdbRecord(`${ECG}/nsr2db/nsr001`);
    // 106 835 annotations of which 375 are noise markers (~), not beats
    expect([r.beatAnnotationPath, r.beats.length, r.lengthSamples]).toEqual([`${ECG}/nsr2db/nsr001.ecg`, 106460, 10392492]);
  });

  it('reads an ECG-only CinC 2015 record (.hea + .mat, format 16 after a 24-byte MATLAB header): lead II, no beats', async () => {
    const r = await readWfdbRecord(`${ECG}/challenge2015/v131l`);
    expect([r.beatAnnotationPath, r.beats, r.rhythm, r.ecg?.description, r.ecg?.fsHz, r.ecg?.uV.length, r.lengthSamples]).toEqual(['', [], [], 'II', 250, 82500, 82500]);
    // A QRS is hundreds of µV, not ADC units or volts.
    const peak = r.ecg!.uV.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(peak).toBeGreaterThan(300);
    expect(peak).toBeLessThan(10_000);
  });

  it('keeps the runs of invalid samples of a CinC 2015 lead (stored as -32768) and replays them as lead-off frames', async () => {
    // v623l lead II: no data from 49.3 s to the end of the record (the bedside record's NaN).
    const r = await readWfdbRecord(`${ECG}/challenge2015/v623l`);
    const long = r.ecg!.missing.filter((m) => m.endSample - m.startSample > 250);
    expect(long.map((m) => [m.startSample, m.endSample])).toEqual([[12_328, 82_500]]);
    expect(r.ecg!.uV.slice(20_000, 20_010).every((v) => v === 0)).toBe(true);
    const t0Ms = 1_000_000;
    const intervals = missingEcgIntervals(r.ecg!, t0Ms);
    expect(intervals).toHaveLength(r.ecg!.missing.length);
    expect(intervals.find((i) => i.endMs - i.startMs > 1000)).toEqual({ startMs: t0Ms + 12_328 * 4, endMs: t0Ms + 82_500 * 4 });
    const frames = [...ecgOnlyFrames(r)];
    // Every frame touching the missing stretch is lead-off; the frames before 49 s are not.
    expect(frames.slice(50, 300).every((f) => f.leadOff)).toBe(true);
    expect(frames.slice(0, 46).some((f) => f.leadOff)).toBe(false);
    // mitdb has no invalid samples: nothing changes there.
    expect((await readWfdbRecord(`${ECG}/mitdb/100`)).ecg!.missing).toEqual([]);
  });

  it('reports a record without a header as PB_WFDB_INVALID', async () => {
    await expect(readWfdbRecord(`${ECG}/mitdb/101`)).rejects.toMatchObject({ code: 'PB_WFDB_INVALID', message: `WFDB record ${ECG}/mitdb/101 has no header file ${ECG}/mitdb/101.hea.` });
  });
});
