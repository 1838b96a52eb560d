/**
 * Expected values were cross-checked once with PhysioNet's own Python package
 * (wfdb 4.3.1, `wfdb.rdann`) on the same files; it is not a dependency of this project.
 */
import { describe, expect, it } from 'vitest';
import { parseMitAnnotations, readWfdbAnnotations, type WfdbAnnotation } from '../../device-sim/wfdb-annotations.ts';

const ECG = '/work/shared/data/ecg';

const countBySymbol = (a: WfdbAnnotation[]) => a.reduce<Record<string, number>>((m, x) => ({ ...m, [x.symbol]: (m[x.symbol] ?? 0) + 1 }), {});
const brief = (a: WfdbAnnotation) => [a.sample, a.symbol, a.aux ?? ''];

describe('MIT annotation reader', () => {
  it('reads mitdb/100.atr: one rhythm annotation and 2273 beats with their first sample numbers', async () => {
    const a = await readWfdbAnnotations(`${ECG}/mitdb/100.atr`);
    expect(a).toHaveLength(2274);
    expect(countBySymbol(a)).toEqual({ '+': 1, N: 2239, A: 33, V: 1 });
    expect(a.slice(0, 8).map(brief)).toEqual([
      [18, '+', '(N'], [77, 'N', ''], [370, 'N', ''], [662, 'N', ''], [946, 'N', ''], [1231, 'N', ''], [1515, 'N', ''], [1809, 'N', ''],
    ]);
    expect(a.slice(-3).map((x) => x.sample)).toEqual([649484, 649734, 649991]);
  });

  it('reads SUB fields, including a negative subtype, from mitdb/105.atr', async () => {
    const a = await readWfdbAnnotations(`${ECG}/mitdb/105.atr`);
    expect(countBySymbol(a)).toEqual({ '+': 1, N: 2526, V: 41, '~': 88, '|': 30, Q: 5 });
    const subtypes = a.reduce<Record<number, number>>((m, x) => ({ ...m, [x.subtype]: (m[x.subtype] ?? 0) + 1 }), {});
    expect(subtypes).toEqual({ 0: 2567, 1: 53, 2: 30, 3: 37, [-1]: 4 });
  });

  it('reads the rhythm changes of mitdb/106.atr from their AUX strings', async () => {
    const a = await readWfdbAnnotations(`${ECG}/mitdb/106.atr`);
    expect(a.filter((x) => x.aux).slice(0, 5).map(brief)).toEqual([[229, '+', '(N'], [59861, '+', '(B'], [61503, '+', '(N'], [63624, '+', '(VT'], [64349, '+', '(N']]);
  });

  it('reads afdb/00735.atr with SKIP intervals and AFIB rhythm annotations', async () => {
    const a = await readWfdbAnnotations(`${ECG}/afdb/00735.atr`);
    expect(a.map(brief)).toEqual([[56, '+', '(N'], [882859, '+', '(AFIB'], [948876, '+', '(N']]);
  });

  it('reads the beats of afdb/00735.qrs', async () => {
    const a = await readWfdbAnnotations(`${ECG}/afdb/00735.qrs`);
    expect(a).toHaveLength(40233);
    expect(countBySymbol(a)).toEqual({ N: 40233 });
    expect(a.slice(0, 4).map((x) => x.sample)).toEqual([112, 381, 660, 939]);
    expect(a.at(-1)?.sample).toBe(8999770);
  });

  it('reads the 24-hour beat file nsr2db/nsr001.ecg', async () => {
    const a = await readWfdbAnnotations(`${ECG}/nsr2db/nsr001.ecg`);
    expect(a).toHaveLength(106835);
    expect(countBySymbol(a)).toEqual({ N: 106379, '~': 375, A: 13, V: 68 });
    expect(a.slice(0, 3).map((x) => x.sample)).toEqual([28902, 28991, 29082]);
    expect(a.at(-1)?.sample).toBe(10392491);
  });

  it('applies NUM and CHN to the annotation they follow and carries them over, but not SUB', () => {
    const word = (code: number, value: number) => [value & 0xff, (code << 2) | (value >> 8)];
    const buf = Uint8Array.from([...word(1, 10), ...word(60, 3), ...word(62, 1), ...word(61, 2), ...word(5, 20), ...word(0, 0)]);
    expect(parseMitAnnotations(buf)).toEqual([
      { sample: 10, code: 1, symbol: 'N', subtype: 2, chan: 1, num: 3, aux: undefined },
      { sample: 30, code: 5, symbol: 'V', subtype: 0, chan: 1, num: 3, aux: undefined },
    ]);
  });

  it('rejects a file cut in the middle of an AUX string', () => {
    const buf = Uint8Array.from([0x00, 0x70, 0x06, 0xfc, 0x28, 0x41]);
    expect(() => parseMitAnnotations(buf, 'cut.atr')).toThrowError(expect.objectContaining({ code: 'PB_WFDB_INVALID', message: 'WFDB annotation file cut.atr is invalid: an AUX string of 6 bytes is cut short at byte 2.' }));
  });
});
