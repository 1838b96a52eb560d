/**
 * JSON v1 decoding of the ECG samples (contracts/telemetry.ts): the per-sample check is a plain
 * loop instead of a zod schema per element (issue 9: it was a third of the gateway's CPU), and it
 * must reject exactly what the int16 rule rejects, naming the sample.
 */
import { describe, expect, it } from 'vitest';
import { decodeV1 } from '../../gateway/decode-v1.ts';

const frame = (uV: unknown) => Buffer.from(JSON.stringify({
  v: 1, seq: 1, ts: 1_760_000_000_000, durMs: 100, hr: 75, battery: 80, leadOff: false, beats: [], ecg: { fs: 250, uV },
}));
const samples = (n: number, at?: number, value?: unknown) => Array.from({ length: n }, (_, i) => (i === at ? value : (i * 37) % 2000 - 1000));

describe('v1 ECG samples', () => {
  it('accepts 25 int16 samples, the extremes included', () => {
    const uV = samples(25);
    uV[0] = -32768;
    uV[1] = 32767;
    const result = decodeV1(frame(uV));
    expect(result).toMatchObject({ ok: true, frame: { ecg: { fs: 250, uV } } });
  });

  it.each([
    ['too big', 32768, 'ecg.uV.7: must be within -32768…32767'],
    ['too small', -32769, 'ecg.uV.7: must be within -32768…32767'],
    ['a fraction', 1.5, 'ecg.uV.7: expected an integer'],
    ['a string', '12', 'ecg.uV.7: expected number, received string'],
    ['null', null, 'ecg.uV.7: expected number, received null'],
  ])('rejects a sample that is %s, naming it', (_name, value, detail) => {
    expect(decodeV1(frame(samples(25, 7, value)))).toEqual({ ok: false, reason: 'schema', detail });
  });

  it('rejects samples that are not an array', () => {
    expect(decodeV1(frame('1,2,3'))).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('ecg.uV') });
  });

  it('still checks the sample count against fs × durMs', () => {
    expect(decodeV1(frame(samples(24)))).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('expected 25 samples') });
  });
});

describe('v1 pacer pulses (ecg.pace, an optional extension)', () => {
  const paced = (pace: unknown) => Buffer.from(JSON.stringify({
    v: 1, seq: 1, ts: 1_760_000_000_000, durMs: 100, hr: 75, battery: 80, leadOff: false, beats: [], ecg: { fs: 250, uV: samples(25), pace },
  }));

  it('carries the flagged sample indices to the bus; a frame without them decodes as before', () => {
    expect(decodeV1(paced([0, 12, 24]))).toMatchObject({ ok: true, frame: { ecg: { fs: 250, pace: [0, 12, 24] } } });
    const plain = decodeV1(frame(samples(25)));
    expect(plain.ok && plain.frame.ecg).not.toHaveProperty('pace');
  });

  it.each([
    ['beyond the samples', [3, 25], 'ecg.pace.1: pace 25 must be a sample index < 25'],
    ['not ascending', [12, 3], 'ecg.pace.1: pace indices must be ascending'],
    ['repeated', [12, 12], 'ecg.pace.1: pace indices must be ascending'],
  ])('rejects indices %s, naming the entry', (_name, pace, detail) => {
    expect(decodeV1(paced(pace))).toEqual({ ok: false, reason: 'schema', detail });
  });

  it('rejects a list that is not of sample indices', () => {
    expect(decodeV1(paced([-1]))).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('ecg.pace.0') });
    expect(decodeV1(paced('3'))).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('ecg.pace') });
  });
});

describe('v1 optional fields sent as null', () => {
  const base = { v: 1, seq: 1, ts: 1_760_000_000_000, durMs: 100, hr: 75, battery: 80, leadOff: false, beats: [{ off: 10, rr: 800, cls: 'N' }] };

  it('reads "ecg": null as a frame without ECG, its beats kept (firmware walk: the whole frame was rejected)', () => {
    const result = decodeV1(Buffer.from(JSON.stringify({ ...base, ecg: null })));
    expect(result).toEqual({ ok: true, format: 'json-v1', frame: { seq: 1, ts: 1_760_000_000_000, durMs: 100, hr: 75, battery: 80, leadOff: false, beats: [{ off: 10, rr: 800, cls: 'N' }] } });
    expect(result.ok && 'ecg' in result.frame).toBe(false);
  });

  it('reads "pace": null as no pacer pulses', () => {
    const uV = samples(25);
    const result = decodeV1(Buffer.from(JSON.stringify({ ...base, ecg: { fs: 250, uV, pace: null } })));
    expect(result).toMatchObject({ ok: true, frame: { ecg: { fs: 250, uV } } });
    expect(result.ok && result.frame.ecg && 'pace' in result.frame.ecg).toBe(false);
  });

  it('still rejects a required field sent as null', () => {
    expect(decodeV1(Buffer.from(JSON.stringify({ ...base, beats: null })))).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('beats') });
  });
});
