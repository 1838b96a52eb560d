import { describe, expect, it } from 'vitest';
import { beatClassOfSymbol } from '../../device-sim/beat-classes.ts';
import { ANNOTATION_SYMBOLS, isBeatCode } from '../../device-sim/wfdb-annotations.ts';

describe('WFDB symbol to firmware beat class (AAMI EC57)', () => {
  it('groups the MIT-BIH beat symbols into N, S, V, F and Q', () => {
    const symbols = ['N', 'L', 'R', 'e', 'j', 'A', 'a', 'J', 'S', 'V', 'E', 'F', '/', 'f', 'Q'];
    expect(Object.fromEntries(symbols.map((s) => [s, beatClassOfSymbol(s)]))).toEqual({
      N: 'N', L: 'N', R: 'N', e: 'N', j: 'N', A: 'S', a: 'S', J: 'S', S: 'S', V: 'V', E: 'V', F: 'F', '/': 'Q', f: 'Q', Q: 'Q',
    });
  });

  it('skips non-beat annotations', () => {
    expect(['+', '~', '|', 'x', '[', ']', '"', 'p', 't', 'u', '(', ')', '', 'toString'].map(beatClassOfSymbol)).toEqual(new Array(14).fill(undefined));
  });

  it('takes ventricular flutter waves (!, a QRS for WFDB isqrs) as ventricular beats, so a replayed flutter is VT-like, not a silence', () => {
    expect(beatClassOfSymbol('!')).toBe('V');
    expect(isBeatCode(ANNOTATION_SYMBOLS.indexOf('!'))).toBe(true);
  });

  it('gives a class to every code WFDB counts as a beat, and to no other', () => {
    const mismatches = ANNOTATION_SYMBOLS.flatMap((symbol, code) => (symbol !== '' && isBeatCode(code) !== (beatClassOfSymbol(symbol) !== undefined) ? [symbol] : []));
    expect(mismatches).toEqual([]);
  });
});
