/**
 * The firmware-beats + ECG path of the evaluation (eval/firmware-ecg-path.ts; cardiologist walk
 * finding 8a): the reference beats as firmware beats with the record's lead in the same frames.
 */
import { describe, expect, it } from 'vitest';
import { loadQrsRecord } from '../../eval/ecg-eval.ts';
import { detectorsWithoutFirmwareVeto, firmwareEcgFrames, firmwareEcgPathAlarms, formatFirmwareEcgPath } from '../../eval/firmware-ecg-path.ts';
import { loadRecord } from '../../eval/records.ts';
import { EVAL_EPOCH_MS } from '../../eval/replay.ts';

const ECG = '/work/shared/data/ecg';

describe('mitdb replayed as a device sending firmware beats and ECG', () => {
  it('each frame carries the reference beats in it and the lead\'s ECG (250 Hz contract rate of the 360 Hz record)', async () => {
    const reference = await loadRecord('mitdb', `${ECG}/mitdb`, '105');
    const loaded = await loadQrsRecord(`${ECG}/mitdb`, '105');
    const frames = [...firmwareEcgFrames(reference, loaded!.record)];
    const beats = frames.flatMap((f) => f.beats.map((b) => ({ timeMs: f.ts + b.off - EVAL_EPOCH_MS, cls: b.cls })));
    expect(beats.length).toBe(reference.beats.length);
    expect(beats.slice(0, 3)).toEqual(reference.beats.slice(0, 3));
    const ecgFrame = frames.find((f) => !f.leadOff)!;
    expect(ecgFrame.ecg!.uV.length).toBe(ecgFrame.ecg!.fs);
  });

  it('mitdb 105 (MLII): the waveform rule\'s false VT at 1324.5 s in motion artefact (the walk\'s 22:04.5, firmware beats all N at ≈ 92/min) without the firmware-rhythm veto, none with it', async () => {
    const before = await firmwareEcgPathAlarms(ECG, 'mitdb', ['105'], 'scored', detectorsWithoutFirmwareVeto);
    expect(before[0]!.vt).toEqual([{ startS: expect.closeTo(1324.5, 0), endS: 1326, supported: false, byWaveform: true }]);
    const after = await firmwareEcgPathAlarms(ECG, 'mitdb', ['105']);
    expect(after[0]!.vt).toEqual([]);
    // Every other kind the same.
    expect({ ...after[0]!.alarms, vt: undefined }).toEqual({ ...before[0]!.alarms, vt: undefined });
    expect(formatFirmwareEcgPath('mitdb', before, after)).toContain('0 true, 1 false');
  });
});
