import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { telemetryV1Schema, type TelemetryFrame } from '../../contracts/telemetry.ts';
import { runSim, type GroundTruthFile } from '../../device-sim/run-sim.ts';
import { clinicalBasicsScenario, scenarioFromPhases } from '../../device-sim/scenario.ts';
import { startLocalBroker } from './helpers/local-broker.ts';

const T0 = 1_764_064_800_000;

/** Beats as the pipeline would see them: absolute time and RR from the frames. */
const beatsOf = (frames: TelemetryFrame[]) => frames.flatMap((f) => f.beats.map((b) => ({ tMs: f.ts + b.off, rr: b.rr })));

describe('multi-device simulation against a real MQTT broker', () => {
  it('runs three devices through clinical-basics and writes ground truth that matches the beats the broker received', async () => {
    const broker = await startLocalBroker();
    const groundTruthPath = path.join(mkdtempSync(path.join(tmpdir(), 'pb-sim-')), 'truth.json');
    try {
      const scenario = clinicalBasicsScenario({ normalMs: 20_000, bradyMs: 12_000, tachyMs: 12_000, asystoleMs: 5000, repeat: false });
      const durationMs = 4 * 20_000 + 2 * 12_000 + 5000;
      const summary = await runSim({ devices: 3, scenario, durationMs, speed: 'max', t0Ms: T0, ecgFsHz: 125, seed: 42, connect: { url: broker.url }, groundTruthPath });

      const truth = JSON.parse(readFileSync(groundTruthPath, 'utf8')) as GroundTruthFile;
      expect({ ...truth, episodes: truth.episodes.map((e) => [e.deviceId, e.kind]) }).toEqual({
        schema: 'pb.sim.groundtruth.v1', scenario: 'clinical-basics', t0Ms: T0, endMs: T0 + durationMs, devices: ['sim-0001', 'sim-0002', 'sim-0003'],
        speed: 'max', wallStartMs: summary.wallStartMs, wallEndMs: expect.any(Number),
        deviceInfo: Object.fromEntries(['sim-0001', 'sim-0002', 'sim-0003'].map((d) => [d, { format: 'v1', clock: { offsetMs: 0, driftPpm: 0 } }])),
        deviceEvents: [],
        episodes: ['sim-0001', 'sim-0002', 'sim-0003'].flatMap((d) => [[d, 'extreme_brady'], [d, 'extreme_tachy'], [d, 'asystole']]),
      });
      expect(summary).toMatchObject({ devices: 3, scenario: 'clinical-basics', t0Ms: T0, durationMs, aborted: false, episodes: truth.episodes });
      expect(summary.framesAcked).toBe(summary.framesSent);

      for (const deviceId of truth.devices) {
        const frames = broker.telemetry.filter((m) => m.deviceId === deviceId).map((m) => telemetryV1Schema.parse(JSON.parse(m.payload.toString())) as TelemetryFrame);
        expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
        expect(frames.every((f) => f.ecg?.uV.length === 125)).toBe(true);
        const beats = beatsOf(frames);
        const episode = (kind: string) => truth.episodes.find((e) => e.deviceId === deviceId && e.kind === kind)!;
        // onset = first beat with RR > 1500 ms (resp. < 60000/140 ms) at or after the scheduled start;
        // end = the first beat after the run (the first that no longer qualifies)
        const bradyStart = T0 + 20_000;
        const after = (t: number) => beats.find((b) => b.tMs > t)!.tMs;
        const firstSlow = beats.find((b) => b.tMs >= bradyStart && b.rr > 1500 && b.rr < 3000)!;
        const lastSlow = beats.filter((b) => b.rr > 1500 && b.rr < 3000).at(-1)!;
        expect([episode('extreme_brady').onsetMs, episode('extreme_brady').endMs]).toEqual([firstSlow.tMs, after(lastSlow.tMs)]);
        const fast = beats.filter((b) => b.rr > 0 && b.rr < 60_000 / 140);
        expect([episode('extreme_tachy').onsetMs, episode('extreme_tachy').endMs]).toEqual([fast[0]!.tMs, after(fast.at(-1)!.tMs)]);
        // asystole: the beat after the 5 s silence, and the one before it
        const ending = beats.find((b) => b.rr >= 5000)!;
        expect([episode('asystole').onsetMs, episode('asystole').endMs]).toEqual([ending.tMs - 5000, ending.tMs]);
      }
    } finally {
      await broker.close();
    }
  });

  it('ECG-only devices (ecgOnly): the same frames and ground truth, with the ECG but without firmware beats', async () => {
    const broker = await startLocalBroker();
    try {
      const scenario = clinicalBasicsScenario({ normalMs: 10_000, bradyMs: 12_000, tachyMs: 12_000, asystoleMs: 5000, repeat: false });
      const run = async (ecgOnly: boolean) => {
        broker.telemetry.length = 0;
        const summary = await runSim({ devices: 1, scenario, durationMs: 60_000, speed: 'max', t0Ms: T0, seed: 7, connect: { url: broker.url }, ecgOnly });
        return { summary, frames: broker.telemetry.map((m) => telemetryV1Schema.parse(JSON.parse(m.payload.toString())) as TelemetryFrame) };
      };
      const withBeats = await run(false);
      const ecgOnly = await run(true);
      expect(ecgOnly.frames.every((f) => f.beats.length === 0 && f.hr === 0)).toBe(true);
      expect(withBeats.frames.filter((f) => f.beats.length > 0).length).toBeGreaterThan(30);
      expect(ecgOnly.frames.map((f) => ({ ...f, beats: [], hr: 0 }))).toEqual(withBeats.frames.map((f) => ({ ...f, beats: [], hr: 0 })));
      // (apart from the wall-clock send times)
      const deviceTime = (episodes: typeof withBeats.summary.episodes) => episodes.map(({ onsetSentAtMs: _o, criterionSentAtMs: _c, ...e }) => e);
      expect(deviceTime(ecgOnly.summary.episodes)).toEqual(deviceTime(withBeats.summary.episodes));
      await expect(runSim({ devices: 1, durationMs: 5000, speed: 'max', t0Ms: T0, ecgFsHz: null, ecgOnly: true, connect: { url: broker.url } })).rejects.toThrow(/ECG-only devices need ECG/);
    } finally {
      await broker.close();
    }
  });

  it('gives every device its own rhythm, and the same rhythm again for the same seed', async () => {
    const broker = await startLocalBroker();
    try {
      const run = async () => {
        broker.telemetry.length = 0;
        await runSim({ devices: ['a', 'b'], durationMs: 30_000, speed: 'max', t0Ms: T0, ecgFsHz: null, seed: 'same', connect: { url: broker.url } });
        const rr = (id: string) => beatsOf(broker.telemetry.filter((m) => m.deviceId === id).map((m) => JSON.parse(m.payload.toString()) as TelemetryFrame)).map((b) => b.rr);
        return { a: rr('a'), b: rr('b') };
      };
      const first = await run();
      const second = await run();
      expect(first).toEqual(second);
      expect(first.a).not.toEqual(first.b);
      expect(first.a.length).toBeGreaterThan(20);
    } finally {
      await broker.close();
    }
  });

  it('stops early on abort, disconnects cleanly, and still writes the ground truth so far', async () => {
    const broker = await startLocalBroker();
    const groundTruthPath = path.join(mkdtempSync(path.join(tmpdir(), 'pb-sim-')), 'truth.json');
    try {
      const controller = new AbortController();
      let frames = 0;
      const summary = await runSim({
        devices: 2, scenario: 'clinical-basics', speed: 'max', t0Ms: T0, ecgFsHz: null, connect: { url: broker.url }, groundTruthPath, signal: controller.signal,
        onFrame: () => {
          if (++frames === 400) controller.abort();
        },
      });
      const truth = JSON.parse(readFileSync(groundTruthPath, 'utf8')) as GroundTruthFile;
      expect(summary.aborted).toBe(true);
      expect(summary.framesAcked).toBe(summary.framesSent);
      expect(truth.endMs).toBe(T0 + summary.durationMs);
      // both devices went through the brady episode (60–80 s) within the first ~200 s each
      expect(truth.episodes.filter((e) => e.kind === 'extreme_brady').map((e) => e.deviceId)).toEqual(['sim-0001', 'sim-0002']);
      const lastStatus = (id: string) => JSON.parse(broker.statuses.filter((s) => s.deviceId === id).at(-1)!.payload.toString());
      expect([lastStatus('sim-0001'), lastStatus('sim-0002')]).toEqual([{ online: false }, { online: false }]);
    } finally {
      await broker.close();
    }
  });

  it.each([
    [true, 'sends the withheld frames when it resumes, in order'],
    [false, 'drops the withheld frames'],
  ])('stops publishing during a signal loss and, with backlog %s, %s; ground truth records the silence in device and wall time', async (backlog) => {
    const broker = await startLocalBroker();
    try {
      // 10 s normal, 12 s signal loss, 8 s normal, at 20× (the silence lasts 0.6 s of wall time)
      const scenario = scenarioFromPhases('loss', [{ kind: 'normal', durationMs: 10_000 }, { kind: 'signal_loss', durationMs: 12_000, backlog }, { kind: 'normal', durationMs: 8000 }]);
      const wallBefore = Date.now();
      const summary = await runSim({ devices: ['d1'], scenario, durationMs: 30_000, speed: 20, t0Ms: T0, ecgFsHz: null, seed: 3, connect: { url: broker.url } });
      const frames = broker.telemetry.map((m) => JSON.parse(m.payload.toString()) as TelemetryFrame);
      // frames 0–9 live, 10–21 withheld, 22–29 live (1 s frames, device 0 starts at T0)
      const withheld = Array.from({ length: 12 }, (_, i) => 10 + i);
      const expectedSeqs = backlog ? Array.from({ length: 30 }, (_, i) => i) : Array.from({ length: 30 }, (_, i) => i).filter((i) => !withheld.includes(i));
      expect(frames.map((f) => f.seq)).toEqual(expectedSeqs);
      expect(summary.framesSent).toBe(expectedSeqs.length);
      const [loss] = summary.episodes;
      expect(loss).toMatchObject({ deviceId: 'd1', kind: 'signal_loss', onsetMs: T0 + 10_000, endMs: T0 + 22_000, alarm: 'signal_loss', implied: [], detail: { backlog, withheldFrames: 12 } });
      // The silence began when the last frame before it was sent (due at 10 s / 20 = 0.5 s) and
      // lasted until the first live frame after it (due at 23 s / 20 = 1.15 s): 0.65 s of wall time,
      // under the 10 s signal-loss delay, so no alarm is due at this speed.
      // (2 ms of slack: timers run on the monotonic clock and Date.now() rounds to whole ms, so a
      // frame due 500 ms after wallBefore was once stamped 499 ms under load)
      expect(loss!.onsetSentAtMs! - wallBefore).toBeGreaterThanOrEqual(498);
      expect(loss!.detail.silenceWallMs).toBeGreaterThanOrEqual(600);
      expect([loss!.criterionMs, loss!.criterionSentAtMs]).toEqual([null, null]);
    } finally {
      await broker.close();
    }
  });
});
