import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { ReorderBuffer } from '../../processor/reorder-buffer.ts';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const frame = (i: number): TelemetryFrame => ({ seq: i, ts: T0 + i * 1000, durMs: 1000, hr: 60, battery: 80, leadOff: false, beats: [] });

/** Pushes frames by index; returns the released seq numbers and the late ones. */
function run(order: number[], buffer = new ReorderBuffer({ toleranceMs: 5000 })) {
  const released: number[] = [];
  const late: number[] = [];
  for (const i of order) {
    const r = buffer.push(frame(i));
    if (r.late) late.push(i);
    released.push(...r.ready.map((f) => f.seq));
  }
  return { released, late, buffer };
}

describe('reorder buffer (event time, 5 s tolerance)', () => {
  it('holds the first frames of a stream until 5 s of device time is seen, then releases each next frame at once', () => {
    const steps: number[][] = [];
    const buffer = new ReorderBuffer({ toleranceMs: 5000 });
    for (let i = 0; i < 8; i++) steps.push(buffer.push(frame(i)).ready.map((f) => f.seq));
    expect(steps).toEqual([[], [], [], [], [0, 1, 2, 3, 4], [5], [6], [7]]);
  });

  it('releases frames in device-time order whatever order they arrive in within the tolerance', () => {
    const inOrder = run([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const shuffled = run([1, 0, 2, 4, 3, 5, 9, 6, 7, 8, 11, 10]);
    expect(shuffled.released).toEqual(inOrder.released.slice(0, shuffled.released.length));
    expect(shuffled.late).toEqual([]);
    expect(shuffled.released).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].slice(0, shuffled.released.length));
  });

  it('waits at a hole for the missing frame, and releases past it once the watermark passes it', () => {
    const { released, late, buffer } = run([0, 1, 2, 3, 4, 5, 7, 8, 9, 10]);
    expect(released).toEqual([0, 1, 2, 3, 4, 5]);
    expect(late).toEqual([]);
    // Frame 11 ends at 12 s: watermark 7 s reaches frame 7's start, so the hole is given up.
    expect(buffer.push(frame(11)).ready.map((f) => f.seq)).toEqual([7, 8, 9, 10, 11]);
    // Frame 6 now comes after frames behind it were analysed: late.
    expect(buffer.push(frame(6))).toEqual({ late: true, ready: [] });
  });

  it('fills the hole when the missing frame arrives in time', () => {
    const { released } = run([0, 1, 2, 3, 4, 5, 7, 8, 9, 6, 10]);
    expect(released).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('flushes held frames on demand (signal loss) and keeps a held frame once when it is offered twice', () => {
    const buffer = new ReorderBuffer({ toleranceMs: 5000 });
    buffer.push(frame(0));
    buffer.push(frame(1));
    buffer.push(frame(1));
    expect(buffer.flush().map((f) => f.seq)).toEqual([0, 1]);
    expect(buffer.releasedUntilMs).toBe(T0 + 2000);
  });

  it('restores from its snapshot with the held frames’ ECG (int16 base64) and continues where it left off', () => {
    const buffer = new ReorderBuffer({ toleranceMs: 5000 });
    const ecg = (i: number) => ({ fs: 125, uV: Array.from({ length: 125 }, (_, k) => (k - 62) * 37 + i), pace: [3, 90] });
    for (const i of [0, 1, 2, 3, 4, 5, 7, 8]) buffer.push({ ...frame(i), ecg: ecg(i) });
    const snap = buffer.snapshot();
    expect(snap.held.map((f) => [f.seq, typeof f.ecg?.uV])).toEqual([[7, 'string'], [8, 'string']]);
    // A third of a JSON number array's size: 2 bytes per sample, base64.
    expect(snap.held[0]!.ecg!.uV.length).toBe(Math.ceil((125 * 2) / 3) * 4);
    expect(buffer.heldIds()).toEqual([[7, T0 + 7000], [8, T0 + 8000]]);
    const restored = ReorderBuffer.restore(JSON.parse(JSON.stringify(snap)));
    expect(restored.push({ ...frame(6), ecg: ecg(6) }).ready.map((f) => [f.seq, f.ecg])).toEqual([6, 7, 8].map((i) => [i, ecg(i)]));
  });

  it('restores an older record’s held frames, which have no ECG, and drops ECG that does not fit its frame', () => {
    const snap = { releasedUntilMs: T0 + 6000, maxSeenEndMs: T0 + 9000, held: [frame(7), { ...frame(8), ecg: { fs: 125, uV: 'AAAA' } }] };
    const restored = ReorderBuffer.restore(JSON.parse(JSON.stringify(snap)));
    expect(restored.push(frame(6)).ready.map((f) => [f.seq, f.ecg])).toEqual([[6, undefined], [7, undefined], [8, undefined]]);
  });
});
