import { describe, expect, it } from 'vitest';
import { telemetryV1Schema, type TelemetryFrame } from '../../contracts/telemetry.ts';
import { buildFrames, encodeV1, recordEcgSource, type TimedBeat } from '../../device-sim/frames.ts';
import { recordBeats, recordDurationMs } from '../../device-sim/replay.ts';
import { readWfdbRecord } from '../../device-sim/wfdb-record.ts';
import { DEFAULT_ALARM_CRITERIA } from '../../contracts/criteria.ts';
import { detectorsForCriteria } from '../../processor/detector-set.ts';
import { PatientStream } from '../../processor/patient-stream.ts';

const ECG = '/work/shared/data/ecg';
const T0 = 1_764_064_800_000;

const decode = (frame: TelemetryFrame) => telemetryV1Schema.safeParse(JSON.parse(encodeV1(frame).toString('utf8')));

describe('frame builder', () => {
  it('places beats in 1 s windows with offsets, RR, a device heart rate and seq', () => {
    const beats: TimedBeat[] = [
      { tMs: T0 + 200, cls: 'N' }, { tMs: T0 + 1000, cls: 'N' }, { tMs: T0 + 1810, cls: 'V' }, { tMs: T0 + 2400, cls: 'N' }, { tMs: T0 + 3999, cls: 'S' },
    ];
    const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: 4000, battery: 88, firstSeq: 41 })];
    expect(frames).toEqual([
      { seq: 41, ts: T0, durMs: 1000, hr: 0, battery: 88, leadOff: false, beats: [{ off: 200, rr: 0, cls: 'N' }] },
      // hr = 60000 / mean(800, 810) = 74.5
      { seq: 42, ts: T0 + 1000, durMs: 1000, hr: 75, battery: 88, leadOff: false, beats: [{ off: 0, rr: 800, cls: 'N' }, { off: 810, rr: 810, cls: 'V' }] },
      // hr = 60000 / mean(800, 810, 590) = 81.8
      { seq: 43, ts: T0 + 2000, durMs: 1000, hr: 82, battery: 88, leadOff: false, beats: [{ off: 400, rr: 590, cls: 'N' }] },
      // hr = 60000 / mean(800, 810, 590, 1599)
      { seq: 44, ts: T0 + 3000, durMs: 1000, hr: 63, battery: 88, leadOff: false, beats: [{ off: 999, rr: 1599, cls: 'S' }] },
    ]);
  });

  it('marks lead-off frames, drops their beats, and restarts RR afterwards', () => {
    const beats: TimedBeat[] = [0, 800, 1600, 2400, 3200, 4000].map((t) => ({ tMs: T0 + t, cls: 'N' as const }));
    const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: 5000, leadOff: [{ startMs: T0 + 1500, endMs: T0 + 2500 }] })];
    expect(frames.map((f) => [f.leadOff, f.hr, f.beats])).toEqual([
      [false, 75, [{ off: 0, rr: 0, cls: 'N' }, { off: 800, rr: 800, cls: 'N' }]],
      [true, 0, []],
      [true, 0, []],
      [false, 75, [{ off: 200, rr: 0, cls: 'N' }]],
      [false, 75, [{ off: 0, rr: 800, cls: 'N' }]],
    ]);
  });

  it('rejects beats out of time order and invalid frame lengths', () => {
    const beats: TimedBeat[] = [{ tMs: T0 + 500, cls: 'N' }, { tMs: T0 + 100, cls: 'N' }];
    expect(() => [...buildFrames(beats, { t0Ms: T0, durationMs: 1000 })]).toThrowError(expect.objectContaining({ code: 'PB_SIM_FAILED', message: `Beats must be in time order: ${T0 + 100} ms follows ${T0 + 500} ms.` }));
    expect(() => [...buildFrames([], { t0Ms: T0, frameMs: 50 })]).toThrowError(expect.objectContaining({ code: 'PB_SIM_FAILED', message: 'frameMs must be an integer from 100 to 5000, got 50.' }));
  });

  it('encodes JSON v1 in the field order of the protocol example', () => {
    const frame: TelemetryFrame = { seq: 42, ts: T0, durMs: 1000, hr: 74, battery: 88, leadOff: false, charging: true, beats: [{ off: 112, rr: 806, cls: 'N' }], ecg: { fs: 250, uV: [12, 15] } };
    expect(encodeV1(frame).toString()).toBe(`{"v":1,"seq":42,"ts":${T0},"durMs":1000,"hr":74,"battery":88,"leadOff":false,"beats":[{"off":112,"rr":806,"cls":"N"}],"ecg":{"fs":250,"uV":[12,15]}}`);
  });

  it('turns all of mitdb/100 into schema-valid frames carrying every beat and every ECG sample once', async () => {
    const record = await readWfdbRecord(`${ECG}/mitdb/100`);
    const beats = recordBeats(record, T0);
    const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: recordDurationMs(record), battery: 100, ecg: recordEcgSource(record.ecg!.uV, 360, T0) })];
    const invalid = frames.map(decode).flatMap((r, i) => (r.success ? [] : [[i, r.error.issues[0]?.message]]));
    expect(invalid).toEqual([]);
    expect(frames).toHaveLength(1806); // 650000 / 360 s = 1805.6 s
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    const sent = frames.flatMap((f) => f.beats.map((b) => ({ tMs: f.ts + b.off, cls: b.cls })));
    expect(sent).toEqual(beats);
    expect(sent.reduce<Record<string, number>>((m, b) => ({ ...m, [b.cls]: (m[b.cls] ?? 0) + 1 }), {})).toEqual({ N: 2239, S: 33, V: 1 });
    // 77 / 360 s = 213.9 ms; 370 / 360 s = 1027.8 ms; 662 / 360 s = 1838.9 ms
    expect(frames.slice(0, 2).map((f) => f.beats)).toEqual([[{ off: 214, rr: 0, cls: 'N' }], [{ off: 28, rr: 814, cls: 'N' }, { off: 839, rr: 811, cls: 'N' }]]);
    // 360 Hz at 1000 ms: the recorded samples, one for one, the last frame padded with 0 µV
    const ecg = frames.flatMap((f) => f.ecg!.uV);
    expect(ecg.slice(0, 650000)).toEqual(Array.from(record.ecg!.uV));
    expect(ecg.slice(650000)).toEqual(new Array(1806 * 360 - 650000).fill(0));
  });

  it('endAtDuration (a recording replayed, sim replay): the last frame ends with the recording, shorter, never under 100 ms', async () => {
    const record = await readWfdbRecord(`${ECG}/mitdb/100`);
    const durationMs = recordDurationMs(record); // 1,805,556 ms
    const frames = [...buildFrames(recordBeats(record, T0), { t0Ms: T0, durationMs, frameMs: 5000, endAtDuration: true, battery: 100, ecg: recordEcgSource(record.ecg!.uV, 360, T0) })];
    const last = frames.at(-1)!;
    expect([frames.length, last.ts - T0, last.durMs]).toEqual([362, 1_805_000, 556]);
    expect(decode(last).success).toBe(true);
    // Every sample of the recording once, none past it (floor(360 × 0.556) = 200 samples).
    expect(frames.flatMap((f) => f.ecg!.uV)).toEqual(Array.from(record.ecg!.uV).slice(0, 361 * 1800 + 200));
    // A remainder under the contract's 100 ms becomes a 100 ms frame.
    const short = [...buildFrames([], { t0Ms: T0, durationMs: 10_040, frameMs: 5000, endAtDuration: true })];
    expect(short.map((f) => f.durMs)).toEqual([5000, 5000, 100]);
  });

  it('a record replayed in 5 s frames raises no asystole at its end with endAtDuration (it did with the last frame padded past the recording)', async () => {
    const record = await readWfdbRecord(`${ECG}/mitdb/100`);
    const asystoles = (endAtDuration: boolean) => {
      const stream = new PatientStream('p', 'd', detectorsForCriteria(DEFAULT_ALARM_CRITERIA));
      const frames = buildFrames(recordBeats(record, T0), { t0Ms: T0, durationMs: recordDurationMs(record), frameMs: 5000, endAtDuration, battery: 100, ecg: recordEcgSource(record.ecg!.uV, 360, T0) });
      return [...frames].flatMap((f) => stream.detect(f)).filter((c) => c.kind === 'asystole' && c.type === 'onset').length;
    };
    expect([asystoles(false), asystoles(true)]).toEqual([1, 0]);
  });

  it('resamples the ECG to a requested contract rate with the exact sample count per frame', async () => {
    const record = await readWfdbRecord(`${ECG}/mitdb/100`);
    const frames = [...buildFrames(recordBeats(record, T0), { t0Ms: T0, durationMs: 10_000, frameMs: 300, ecgFsHz: 125, ecg: recordEcgSource(record.ecg!.uV, 360, T0) })];
    expect(frames.map((f) => f.ecg?.uV.length)).toEqual(new Array(34).fill(37)); // floor(125 × 300 / 1000)
    expect(frames.every((f) => decode(f).success)).toBe(true);
  });

  it.each(['afdb/04015', 'nsr2db/nsr001'])('turns the beat-only record %s into schema-valid frames', async (name) => {
    const record = await readWfdbRecord(`${ECG}/${name}`);
    const beats = recordBeats(record, T0);
    let count = 0;
    let beatCount = 0;
    for (const f of buildFrames(beats, { t0Ms: T0, durationMs: recordDurationMs(record) })) {
      const r = decode(f);
      if (!r.success) throw new Error(`frame ${f.seq}: ${r.error.message}`);
      count++;
      beatCount += f.beats.length;
    }
    expect([count, beatCount]).toEqual([Math.ceil(recordDurationMs(record) / 1000), beats.length]);
  });
});
