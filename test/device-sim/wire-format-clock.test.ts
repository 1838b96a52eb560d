import { describe, expect, it } from 'vitest';
import { DeviceClock } from '../../device-sim/device-clock.ts';
import { buildFrames, type FrameSettings } from '../../device-sim/frames.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { simDeviceIds } from '../../device-sim/run-sim.ts';
import { deviceWireFormats, parseWireFormat } from '../../device-sim/wire-format.ts';

describe('wire formats of a fleet', () => {
  it('mix gives exactly half of an even fleet v2, the same devices for the same seed, others for another seed', () => {
    const ids = simDeviceIds(10);
    const a = deviceWireFormats('mix', ids, 1);
    expect(a.filter((f) => f === 'v2').length).toBe(5);
    expect(deviceWireFormats('mix', ids, 1)).toEqual(a);
    expect(deviceWireFormats('mix', ids, 2)).not.toEqual(a);
  });
  it('v1 and v2 apply to every device; an unknown format is refused', () => {
    expect(deviceWireFormats('v2', ['a', 'b'])).toEqual(['v2', 'v2']);
    expect(deviceWireFormats('v1', ['a'])).toEqual(['v1']);
    expect(() => parseWireFormat('v3')).toThrow('Wire format must be one of v1, v2, mix, got "v3".');
  });
});

describe('device clock', () => {
  it('maps true time to device time with offset and drift and back', () => {
    const clock = new DeviceClock(1_000_000, { offsetMs: -2000, driftPpm: 100 });
    expect(clock.toDevice(1_000_000 + 3_600_000)).toBeCloseTo(1_000_000 - 2000 + 3_600_000 + 360, 6);
    expect(clock.toTrue(clock.toDevice(1_234_567))).toBeCloseTo(1_234_567, 6);
    expect(() => new DeviceClock(0, { driftPpm: 20_000 })).toThrow('Clock drift must be within ±10000 ppm, got 20000.');
  });
});

describe('frames with changing settings', () => {
  it('switches window and ECG at the next frame start, back to back, beats at unchanged device times', () => {
    const beats = Array.from({ length: 20 }, (_, i) => ({ tMs: 10_000 + 150 + i * 800, cls: 'N' as const }));
    let settings: FrameSettings = { frameMs: 1000, ecgFsHz: 250 };
    const frames = [];
    for (const f of buildFrames(beats, { t0Ms: 10_000, durationMs: 6000, ecg: syntheticEcgSource(1), ecgFsHz: 250, settings: () => settings })) {
      frames.push(f);
      if (frames.length === 2) settings = { frameMs: 500, ecgFsHz: null };
      if (frames.length === 4) settings = { frameMs: 2000, ecgFsHz: 125 };
    }
    expect(frames.map((f) => [f.ts - 10_000, f.durMs, f.ecg?.uV.length ?? 0])).toEqual([
      [0, 1000, 250], [1000, 1000, 250], [2000, 500, 0], [2500, 500, 0], [3000, 2000, 250], [5000, 2000, 250],
    ]);
    expect(frames.flatMap((f) => f.beats.map((b) => f.ts + b.off))).toEqual(beats.filter((b) => b.tMs < 17_000).map((b) => b.tMs));
  });
  it('refuses settings outside the contract', () => {
    const gen = buildFrames([], { t0Ms: 0, durationMs: 5000, settings: () => ({ frameMs: 50, ecgFsHz: null }) });
    expect(() => gen.next()).toThrow('frameMs must be an integer from 100 to 5000, got 50.');
  });
});
