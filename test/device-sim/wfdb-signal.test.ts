/**
 * Expected samples were cross-checked once with PhysioNet's Python package (wfdb 4.3.1,
 * `wfdb.rdrecord(..., physical=False)`); the header checksums are a second, independent check.
 */
import { describe, expect, it } from 'vitest';
import { readWfdbHeader } from '../../device-sim/wfdb-header.ts';
import { adcToMicrovolts, decodeFormat16, decodeFormat212, readWfdbSignals, wfdbChecksum } from '../../device-sim/wfdb-signal.ts';

const ECG = '/work/shared/data/ecg';

describe('WFDB signal reader', () => {
  it('decodes both leads of mitdb/100 (format 212) and matches the header checksums', async () => {
    const h = await readWfdbHeader(`${ECG}/mitdb/100.hea`);
    const [mlii, v5] = await readWfdbSignals(h, `${ECG}/mitdb`);
    expect(mlii?.adc.length).toBe(650000);
    expect(Array.from(mlii?.adc.slice(0, 10) ?? [])).toEqual([995, 995, 995, 995, 995, 995, 995, 995, 1000, 997]);
    expect(Array.from(v5?.adc.slice(0, 10) ?? [])).toEqual([1011, 1011, 1011, 1011, 1011, 1011, 1011, 1011, 1008, 1008]);
    expect(Array.from(mlii?.adc.slice(123456, 123460) ?? [])).toEqual([929, 925, 922, 925]);
    expect(Array.from(v5?.adc.slice(-3) ?? [])).toEqual([951, 957, 1024]);
    expect([wfdbChecksum(mlii!.adc), wfdbChecksum(v5!.adc)]).toEqual([-22131, 20052]);
  });

  it('returns only the requested signal', async () => {
    const h = await readWfdbHeader(`${ECG}/mitdb/103.hea`);
    const signals = await readWfdbSignals(h, `${ECG}/mitdb`, { signalIndexes: [1] });
    expect(signals.map((s) => s.spec.description)).toEqual(['V2']);
  });

  it('converts ADC units to microvolts with gain 200/mV and baseline 1024', async () => {
    const h = await readWfdbHeader(`${ECG}/mitdb/100.hea`);
    const [mlii] = await readWfdbSignals(h, `${ECG}/mitdb`, { signalIndexes: [0] });
    // (995 − 1024) / 200 mV = −0.145 mV; (1000 − 1024) / 200 = −0.12 mV
    expect(Array.from(adcToMicrovolts(mlii!).slice(0, 10))).toEqual([-145, -145, -145, -145, -145, -145, -145, -145, -120, -135]);
  });

  it('decodes 12-bit two’s complement pairs of format 212 and little-endian format 16', () => {
    // samples 0x7ff (2047) and −2048 (0x800): byte0 = 0xff, byte1 = 0x8 << 4 | 0x7, byte2 = 0x00
    expect(Array.from(decodeFormat212(Uint8Array.from([0xff, 0x87, 0x00, 0x01, 0xf0, 0xff]), 4))).toEqual([2047, -2048, 1, -1]);
    expect(Array.from(decodeFormat16(Uint8Array.from([0x01, 0x00, 0xff, 0xff, 0x00, 0x80]), 3))).toEqual([1, -1, -32768]);
  });

  it('rejects a signal file that fails its checksum', async () => {
    const h = await readWfdbHeader(`${ECG}/mitdb/100.hea`);
    const tampered = { ...h, signals: h.signals.map((s, i) => (i === 1 ? { ...s, checksum: 1 } : s)) };
    await expect(readWfdbSignals(tampered, `${ECG}/mitdb`)).rejects.toMatchObject({
      code: 'PB_WFDB_INVALID',
      message: `WFDB signal file ${ECG}/mitdb/100.dat fails the checksum of signal 1 (V5): header says 1, samples sum to 20052.`,
    });
  });

  it('reads a header whose checksum field is 0 as unverified (the CinC 2017 strips: 0 in every header, some with a wrong initial value)', async () => {
    const h = await readWfdbHeader(`${ECG}/cinc2017/A00004.hea`);
    expect(h.signals[0]!.checksum).toBe(0);
    const [signal] = await readWfdbSignals(h, `${ECG}/cinc2017`);
    expect(wfdbChecksum(signal!.adc)).not.toBe(0);
    expect(signal!.adc).toHaveLength(9000);
    // A00013's header says the first sample is 3; the file (a MATLAB v4 matrix "val") starts −20, −27, −33.
    const h13 = await readWfdbHeader(`${ECG}/cinc2017/A00013.hea`);
    expect(h13.signals[0]!.initialValue).toBe(3);
    const [s13] = await readWfdbSignals(h13, `${ECG}/cinc2017`);
    expect(Array.from(s13!.adc.subarray(0, 3))).toEqual([-20, -27, -33]);
    // A header with a checksum still has its initial value checked.
    const h100 = await readWfdbHeader(`${ECG}/mitdb/100.hea`);
    const wrongStart = { ...h100, signals: h100.signals.map((s, i) => (i === 0 ? { ...s, initialValue: 3 } : s)) };
    await expect(readWfdbSignals(wrongStart, `${ECG}/mitdb`)).rejects.toMatchObject({ message: expect.stringContaining("starts signal 0 with 995 but the header's initial value is 3") });
    // Any other checksum is still checked.
    const tampered = { ...h, signals: [{ ...h.signals[0]!, checksum: 1 }] };
    await expect(readWfdbSignals(tampered, `${ECG}/cinc2017`)).rejects.toMatchObject({ code: 'PB_WFDB_INVALID', message: expect.stringContaining('fails the checksum of signal 0 (ECG): header says 1') });
  });

  it('rejects a header that announces more samples than the file holds', async () => {
    const h = await readWfdbHeader(`${ECG}/mitdb/100.hea`);
    await expect(readWfdbSignals({ ...h, sampleCount: 700000 }, `${ECG}/mitdb`)).rejects.toMatchObject({ code: 'PB_WFDB_INVALID', message: expect.stringContaining('holds 650000 samples per signal but the header announces 700000') });
  });
});
