/**
 * A device clock that steps back (processor/clock-behind.ts). Frames behind the analysed data are
 * late: stored, not analysed. Before issue 12 session 22 a device whose clock stepped back an hour
 * went on streaming for that hour with nothing analysed and nothing said — a VT in it raised no
 * alarm. Now its new frames raise the signal loss after the signal-loss delay, ending at the first
 * frame on time; a small correction and frames resent from the past raise nothing.
 * StreamRuntime directly (the processor's dedup keys on seq and ts, so these frames all pass it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

/** 100 s of sinus rhythm at 75/min, 40 s of VT at 150/min, 100 s of sinus: 1 s frames, seq 0…, with ECG. */
function stream(ecgOnly: boolean): TelemetryFrame[] {
  const timeline = beats(T0, [{ rrMs: 800, count: 125 }, { rrMs: 400, count: 100, cls: 'V' }, { rrMs: 800, count: 125 }]);
  return frames(timeline, 240_000, { ecg: syntheticEcgSource(3, 250), ecgFsHz: 250 }).map((f) => (ecgOnly ? { ...f, beats: [], hr: 0 } : f));
}

interface Run {
  /** Every alert snapshot, in order. */
  alerts: Alert[];
  late: number;
}

/**
 * Feeds the frames; each arrives 100 ms after its device end (wall clock), whatever its ts says.
 * `restartAfter`: the processor restarts after that many frames (its record through JSON).
 */
function run(list: TelemetryFrame[], restartAfter?: number, redeliver = 0): Run {
  let rt = new StreamRuntime(OPTIONS);
  const alerts: Alert[] = [];
  let late = 0;
  for (let i = 0; i < list.length; i++) {
    const f = list[i]!;
    const r = rt.ingest(f, iso(T0 + (i + 1) * 1000 + 100));
    if (r.late) late++;
    alerts.push(...r.alerts);
    if (i + 1 === restartAfter) {
      rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
      // The successor reads the bus from the committed position: the last frames come again.
      for (const again of list.slice(i + 1 - redeliver, i + 1)) alerts.push(...rt.ingest(again, iso(T0 + (i + 1) * 1000 + 200)).alerts);
    }
  }
  return { alerts, late };
}

/** From frame `at` on, device time is shifted by `shiftMs` (and seq restarted at 0 if `reboot`). */
function stepped(list: TelemetryFrame[], at: number, shiftMs: number, reboot = false): TelemetryFrame[] {
  return list.map((f, i) => (i < at ? f : { ...f, ts: f.ts + shiftMs, seq: reboot ? i - at : f.seq }));
}

const signalLoss = (r: Run) => {
  const byId = new Map<string, Alert>();
  for (const a of r.alerts) if (a.kind === 'signal_loss') byId.set(a.id, a);
  return [...byId.values()];
};
const kinds = (r: Run) => new Set(r.alerts.map((a) => a.kind));

describe('a device clock stepped back while the device streams', () => {
  for (const ecgOnly of [false, true]) {
    const device = ecgOnly ? 'ECG-only device' : 'firmware beats';
    it(`${device}: back 1 h 60 s in — the new frames are not analysed, and after 10 s of them the signal loss says so (onset = end of the analysed data)`, () => {
      const r = run(stepped(stream(ecgOnly), 60, -3_600_000));
      expect(r.late).toBe(180);
      const [loss, ...more] = signalLoss(r);
      expect(more).toEqual([]);
      expect(loss!.onset).toBe(iso(T0 + 60_000));
      expect(loss!.end).toBeUndefined();
      expect(loss!.evidence.criterion).toMatch(/device clock stepped back/);
      // Before: no alarm at all, and the VT in the late frames was never analysed.
      expect(kinds(r).has('vt')).toBe(false);
      // The first alert snapshot of it came with the 10th late frame.
      const first = r.alerts.findIndex((a) => a.kind === 'signal_loss');
      expect(first).toBeGreaterThan(-1);
    });
  }

  it('a reboot whose clock came back 10 min earlier (seq restarts at 0): the same', () => {
    const r = run(stepped(stream(false), 60, -600_000, true));
    const [loss, ...more] = signalLoss(r);
    expect(more).toEqual([]);
    expect(loss!.onset).toBe(iso(T0 + 60_000));
    expect(loss!.end).toBeUndefined();
  });

  it('a reboot after a silence (the arrival-based signal loss is open) whose clock came back 30 s earlier: the late frames do not end it, the first frame on time does; once they cover the delay the same alert says why', () => {
    const list = stepped(stream(false), 60, -30_000, true);
    const rt = new StreamRuntime(OPTIONS);
    list.slice(0, 60).forEach((f, i) => rt.ingest(f, iso(T0 + (i + 1) * 1000 + 100)));
    // The processor's silence watcher: no frame for 10 s (wall clock) while the device rebooted.
    const opened = rt.onSilence(iso(T0 + 71_000), 10_000).find((a) => a.kind === 'signal_loss');
    expect(opened?.onset).toBe(iso(T0 + 60_000));
    // Frames 60–89 carry device times 30–59 s (late), frame 90 on is on time.
    let endedByFrame: number | undefined;
    const revisions: { frame: number; id: string; criterion: string | undefined; note: string | undefined }[] = [];
    list.slice(60).forEach((f, k) => {
      const alerts = rt.ingest(f, iso(T0 + 75_000 + k * 1000)).alerts.filter((a) => a.kind === 'signal_loss');
      for (const a of alerts) if (a.end === undefined) revisions.push({ frame: 60 + k, id: a.id, criterion: a.evidence.criterion, note: a.evidence.note });
      if (alerts.some((a) => a.end !== undefined)) endedByFrame ??= 60 + k;
    });
    // Before: the first late frame ended it (data was flowing), and nothing was analysed for 30 s.
    expect(endedByFrame).toBe(90);
    // Once the late frames cover the signal-loss delay (frame 69), the same alert says why: not
    // "no telemetry received" any more (before session 23 it said so until it ended).
    expect(revisions.map((r) => [r.frame, r.id])).toEqual([[69, opened!.id]]);
    expect(revisions[0]!.criterion).toMatch(/behind the data already analysed .*device clock stepped back/);
    expect(revisions[0]!.note).toMatch(/frames arrive again/);
  });

  it('a reboot 60 s in (seq back to 0, clock on), then a step back of 1 h 40 s later: raised after 10 s of stepped frames, as on a device that never rebooted', () => {
    const list = stream(false).map((f, i) => (i < 60 ? f : { ...f, seq: i - 60 })).map((f, i) => (i < 100 ? f : { ...f, ts: f.ts - 3_600_000 }));
    const rt = new StreamRuntime(OPTIONS);
    let raisedAtFrame: number | undefined;
    list.forEach((f, i) => {
      if (rt.ingest(f, iso(T0 + (i + 1) * 1000 + 100)).alerts.some((a) => a.kind === 'signal_loss' && a.end === undefined)) raisedAtFrame ??= i;
    });
    // (Before: the frame counter's reboot was taken for frames reordered on the way, and the
    // stepped frames counted only once their seq passed the pre-reboot one: 20 s later.)
    expect(raisedAtFrame).toBe(109);
  });

  it('a step back of 30 s: the signal loss ends at the first frame on time again, and the VT after it is alarmed', () => {
    const r = run(stepped(stream(false), 60, -30_000));
    expect(r.late).toBe(30);
    const [loss, ...more] = signalLoss(r);
    expect(more).toEqual([]);
    expect(loss!.onset).toBe(iso(T0 + 60_000));
    // The 31st stepped frame starts at device time 61 s + … : the first one after the analysed data.
    expect(loss!.end).toBe(iso(T0 + 60_000));
    expect(kinds(r).has('vt')).toBe(true);
  });

  it('a small correction (3 s back, as NTP does): those seconds are not analysed, nothing is raised, the VT is alarmed', () => {
    const r = run(stepped(stream(false), 60, -3000));
    expect(r.late).toBe(3);
    expect(signalLoss(r)).toEqual([]);
    expect(kinds(r).has('vt')).toBe(true);
  });

  it('frames resent from the past (older seq) for longer than the delay: stored quietly as before, no signal loss', () => {
    const list = stream(false);
    const r = run([...list.slice(0, 120), ...list.slice(20, 60), ...list.slice(120)]);
    expect(r.late).toBe(40);
    expect(signalLoss(r)).toEqual([]);
  });

  for (const [restartAfter, redeliver] of [[65, 0], [75, 0], [65, 8], [75, 8], [75, 20]] as const) {
    it(`a processor restart ${restartAfter - 60} s into the stepped frames, ${redeliver} frames delivered again: the successor goes on counting, and the alert stays open as one`, () => {
      const list = stepped(stream(false), 60, -3_600_000);
      const uninterrupted = signalLoss(run(list));
      const r = run(list, restartAfter, redeliver);
      const losses = signalLoss(r);
      expect(losses).toHaveLength(1);
      expect(losses[0]!.id).toBe(uninterrupted[0]!.id);
      expect(losses[0]!.onset).toBe(uninterrupted[0]!.onset);
      expect(losses[0]!.end).toBeUndefined();
    });
  }

  it('a processor restart in a 30 s step back, 20 frames delivered again: the alert still ends at the first frame on time', () => {
    const r = run(stepped(stream(false), 60, -30_000), 75, 20);
    const [loss, ...more] = signalLoss(r);
    expect(more).toEqual([]);
    expect(loss!.end).toBe(iso(T0 + 60_000));
  });
});

describe('through the processor (in-process bus: dedup, changelog, alerts stream)', () => {
  const running: Harness[] = [];
  afterEach(async () => {
    for (const h of running.splice(0)) await h.stop();
  });
  /** A processor that takes the firmware stream stepped back by `shiftMs` 60 s in, 20 frames a batch. */
  async function sendStepped(shiftMs: number): Promise<{ bus: InProcessBus; h: Harness; list: TelemetryFrame[] }> {
    const bus = new InProcessBus();
    const h = await startHarness({ bus });
    running.push(h);
    const list = stepped(stream(false), 60, shiftMs);
    for (let i = 0; i < list.length; i += 20) await h.send(list.slice(i, i + 20));
    return { bus, h, list };
  }

  it('the stepped frames pass the duplicate filter (new seq and ts), and the signal loss is published once, open', async () => {
    const { bus, h } = await sendStepped(-3_600_000);
    const losses = processorSnapshots(bus).filter((a) => a.kind === 'signal_loss');
    expect(new Set(losses.map((a) => a.id)).size).toBe(1);
    expect(losses.at(-1)!.onset).toBe(iso(T0 + 60_000));
    expect(losses.at(-1)!.end).toBeUndefined();
    expect(h.metrics.counter('pb_processor_late_frames_total', '').get()).toBe(180);
  });

  it('a step back of exactly 30 s (whole frames): the heart rate stored for those 30 s keeps its points, and the stepped frames are stored next to them', async () => {
    const { h, list } = await sendStepped(-30_000);
    await until('the store to hold every frame', async () => (await h.store.queryHeartRate('p1', T0, T0 + 300_000)).length >= list.length - 1);
    // Frames 30–59 (seq 30–59) and the stepped frames 60–89 (seq 60–89) end at the same device times.
    const points = await h.store.queryHeartRate('p1', T0 + 31_000, T0 + 61_000);
    const perTime = new Map<number, number[]>();
    for (const p of points) perTime.set(p.timeMs, [...(perTime.get(p.timeMs) ?? []), p.hrBpm]);
    expect(perTime.size).toBe(30);
    expect([...perTime.values()].every((rates) => rates.length === 2)).toBe(true);
  });
});
