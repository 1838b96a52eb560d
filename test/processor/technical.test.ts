import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { LeadOffMonitor, LowBatteryMonitor } from '../../processor/technical.ts';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const frame = (i: number, f: Partial<TelemetryFrame> = {}): TelemetryFrame => ({ seq: i, ts: T0 + i * 1000, durMs: 1000, hr: 60, battery: 80, leadOff: false, beats: [], ...f });

describe('lead_off (frames flagged lead-off for ≥ 10 s)', () => {
  it('raises nothing for 9 s of lead-off', () => {
    const m = new LeadOffMonitor();
    const changes = Array.from({ length: 20 }, (_, i) => frame(i, { leadOff: i >= 5 && i < 14 })).flatMap((f) => m.onFrame(f));
    expect(changes).toEqual([]);
  });

  it('raises one lead_off for 10 s with onset at the first lead-off frame and end when contact returns', () => {
    const m = new LeadOffMonitor();
    const changes = Array.from({ length: 20 }, (_, i) => frame(i, { leadOff: i >= 5 && i < 15 })).flatMap((f) => m.onFrame(f));
    expect(changes.map((c) => [c.type, c.kind, c.onsetMs - T0, c.type === 'end' ? c.endMs - T0 : undefined])).toEqual([
      ['onset', 'lead_off', 5000, undefined],
      ['end', 'lead_off', 5000, 15_000],
    ]);
  });

  it('ends a resumed episode at the first frame with contact', () => {
    const m = new LeadOffMonitor();
    m.resume(T0);
    expect(m.onFrame(frame(3))).toMatchObject([{ type: 'end', kind: 'lead_off', onsetMs: T0, endMs: T0 + 3000 }]);
  });
});

describe('low_battery (< 15 %, ends at ≥ 20 %)', () => {
  it('opens below 15 %, ignores unknown readings and the wobble between 15 and 19 %, ends at 20 %', () => {
    const m = new LowBatteryMonitor();
    const levels = [16, 15, 14, 255, 15, 16, 19, 14, 20, 19];
    const changes = levels.flatMap((b, i) => m.onFrame(frame(i, { battery: b })));
    expect(changes.map((c) => [c.type, c.onsetMs - T0, c.type === 'end' ? c.endMs - T0 : undefined, c.evidence.batteryPct])).toEqual([
      ['onset', 2000, undefined, 14],
      ['end', 2000, 8000, 20],
    ]);
  });
});
