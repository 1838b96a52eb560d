import { describe, expect, it } from 'vitest';
import { parseWfdbHeader, readWfdbHeader } from '../../device-sim/wfdb-header.ts';

const ECG = '/work/shared/data/ecg';

describe('WFDB header reader', () => {
  it('reads the record and both signal lines of mitdb/100', async () => {
    const h = await readWfdbHeader(`${ECG}/mitdb/100.hea`);
    const signal = { fileName: '100.dat', format: 212, samplesPerFrame: 1, skew: 0, byteOffset: 0, gainAdcPerUnit: 200, baselineAdc: 1024, units: 'mV', adcResolutionBits: 11, adcZero: 1024, blockSize: 0 };
    expect(h).toEqual({
      recordName: '100', signalCount: 2, fsHz: 360, sampleCount: 650000, baseTime: undefined, baseDate: undefined,
      signals: [
        { ...signal, initialValue: 995, checksum: -22131, description: 'MLII' },
        { ...signal, initialValue: 1011, checksum: 20052, description: 'V5' },
      ],
      comments: ['69 M 1085 1629 x1', 'Aldomet, Inderal'],
    });
  });

  it('reads an annotation-only header with no signals and an unknown length (nsr2db/nsr001)', async () => {
    const h = await readWfdbHeader(`${ECG}/nsr2db/nsr001.hea`);
    expect(h).toEqual({ recordName: 'nsr001', signalCount: 0, fsHz: 128, sampleCount: 0, baseTime: undefined, baseDate: undefined, signals: [], comments: ['Age: 64 Sex: F'] });
  });

  it('reads base time and date, a gain with baseline and units, format 16 with offset, and a zero gain as 200', () => {
    const h = parseWfdbHeader('rec 2 250/1000 5000 10:20:30 01/02/2003\nrec.dat 16+24 100(-5)/uV 16 0 7 0 0 ECG lead II\nrec.dat 16+24 0 16 3\n');
    expect(h.baseTime).toBe('10:20:30');
    expect(h.baseDate).toBe('01/02/2003');
    expect(h.fsHz).toBe(250);
    expect(h.signals[0]).toMatchObject({ format: 16, byteOffset: 24, gainAdcPerUnit: 100, baselineAdc: -5, units: 'uV', description: 'ECG lead II' });
    expect(h.signals[1]).toMatchObject({ gainAdcPerUnit: 200, baselineAdc: 3, adcZero: 3, units: 'mV', description: '' });
  });

  it.each([
    ['', 'has no record line'],
    ['rec/3 2 360', 'multi-segment'],
    ['rec x 360', 'signal count "x"'],
    ['rec 1 0', 'sampling frequency "0"'],
    ['rec 2 360 100\nrec.dat 212', 'announces 2 signals but only 1'],
    ['rec 1 360 100\nrec.dat 8', 'format 8 is not supported'],
    ['rec 1 360 100\nrec.dat 212 abc', 'gain "abc"'],
  ])('rejects %j with a sentence naming the problem', (text, fragment) => {
    expect(() => parseWfdbHeader(text, 'x.hea')).toThrowError(expect.objectContaining({ code: 'PB_WFDB_INVALID', message: expect.stringContaining(fragment) }));
  });

  it('reports a missing header file as PB_WFDB_INVALID', async () => {
    await expect(readWfdbHeader(`${ECG}/mitdb/999.hea`)).rejects.toMatchObject({ code: 'PB_WFDB_INVALID', message: expect.stringContaining('999.hea could not be read') });
  });
});
