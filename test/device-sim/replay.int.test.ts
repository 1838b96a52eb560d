import { describe, expect, it } from 'vitest';
import { telemetryV1Schema } from '../../contracts/telemetry.ts';
import { runReplay } from '../../device-sim/replay.ts';
import { startLocalBroker } from './helpers/local-broker.ts';

const ECG = '/work/shared/data/ecg';
const NOW = 1_764_064_800_000;

describe('record replay to a real MQTT broker', () => {
  it('sends all of mitdb/100 as one device, every frame exactly once and in order, ending at the current time', async () => {
    const broker = await startLocalBroker();
    try {
      const lines: string[] = [];
      const summary = await runReplay({ recordPath: `${ECG}/mitdb/100`, deviceId: 'dev-100', speed: 'max', connect: { url: broker.url }, out: (l) => lines.push(l), now: () => NOW });

      // 650000 samples at 360 Hz = 1 805 555.6 ms, so sample 0 is that long before "now"
      const t0 = NOW - 1_805_556;
      expect(lines).toEqual([JSON.stringify({ record: `${ECG}/mitdb/100`, device: 'dev-100', t0 })]);
      expect(Object.keys(JSON.parse(lines[0]!))).toEqual(['record', 'device', 't0']);

      const frames = broker.telemetry.filter((m) => m.deviceId === 'dev-100').map((m) => telemetryV1Schema.parse(JSON.parse(m.payload.toString())));
      expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 1806 }, (_, i) => i));
      expect(frames.map((f) => f.ts)).toEqual(Array.from({ length: 1806 }, (_, i) => t0 + i * 1000));
      expect(broker.telemetrySeen).toHaveLength(1806);
      expect(frames.reduce((n, f) => n + f.beats.length, 0)).toBe(2273);
      expect(frames[0]).toMatchObject({ beats: [{ off: 214, rr: 0, cls: 'N' }], ecg: { fs: 360 } });
      expect(frames[0]!.ecg!.uV.slice(0, 10)).toEqual([-145, -145, -145, -145, -145, -145, -145, -145, -120, -135]);
      expect(summary).toMatchObject({ record: `${ECG}/mitdb/100`, deviceId: 'dev-100', t0Ms: t0, durationMs: 1_805_556, frames: 1806, beats: 2273, acked: 1806, ecg: true });
    } finally {
      await broker.close();
    }
  });

  // ECG-only records (.hea + .mat, no annotations). CinC 2017's headers carry checksum 0 in every
  // signal line; the reader used to reject them, so README's `sim replay` of a strip failed.
  it.each([
    { record: 'challenge2015/v131l', what: 'a CinC 2015 record', frames: 330, fs: 250 },
    { record: 'cinc2017/A00004', what: 'a CinC 2017 strip (header checksum 0)', frames: 30, fs: 300 },
  ])('replays $what as an ECG-only device: every frame carries its ECG and no beats', async ({ record, frames: count, fs }) => {
    const broker = await startLocalBroker();
    try {
      const summary = await runReplay({ recordPath: `${ECG}/${record}`, deviceId: 'dev-ecg', speed: 'max', connect: { url: broker.url }, now: () => NOW });
      const frames = broker.telemetry.filter((m) => m.deviceId === 'dev-ecg').map((m) => telemetryV1Schema.parse(JSON.parse(m.payload.toString())));
      expect(summary).toMatchObject({ beatAnnotationPath: '', beats: 0, frames: count, acked: count, ecg: true });
      expect(frames).toHaveLength(count);
      expect(frames.every((f) => f.beats.length === 0 && f.ecg?.fs === fs && f.ecg.uV.length === fs)).toBe(true);
    } finally {
      await broker.close();
    }
  });

  it('replays an AF database record from its .qrs beats, without ECG, paced by device time', async () => {
    const broker = await startLocalBroker();
    try {
      // A real clock: at speed 5000 the 10-hour record takes about 7 s of wall time; assert only what was sent.
      const lines: string[] = [];
      const summary = await runReplay({ recordPath: `${ECG}/afdb/07859`, deviceId: 'dev-af', speed: 5000, connect: { url: broker.url }, out: (l) => lines.push(l), maxInFlight: 64 });
      const frames = broker.telemetry.map((m) => JSON.parse(m.payload.toString()) as { seq: number; ecg?: unknown; beats: unknown[] });
      expect(summary.beatAnnotationPath).toBe(`${ECG}/afdb/07859.qrs`);
      expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: Math.ceil(8997275 / 250) }, (_, i) => i));
      expect(frames.some((f) => f.ecg !== undefined)).toBe(false);
      expect(frames.reduce((n, f) => n + f.beats.length, 0)).toBe(summary.beats);
      expect(JSON.parse(lines[0]!).t0).toBe(summary.t0Ms);
    } finally {
      await broker.close();
    }
  });

  it('survives the broker dropping the connection mid-record: unacknowledged frames are re-sent and the replay completes', async () => {
    let dropped = false;
    const broker = await startLocalBroker({
      onTelemetry: (id, payload) => {
        if ((JSON.parse(payload.toString()) as { seq: number }).seq === 900 && !dropped) {
          dropped = true;
          setImmediate(() => broker.disconnect(id));
          return 'hold';
        }
        return 'accept';
      },
    });
    try {
      const summary = await runReplay({ recordPath: `${ECG}/mitdb/100`, deviceId: 'dev-drop', speed: 'max', connect: { url: broker.url, reconnectPeriodMs: 20 } });
      const seqs = broker.telemetry.map((m) => (JSON.parse(m.payload.toString()) as { seq: number }).seq);
      expect(dropped).toBe(true);
      expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: 1806 }, (_, i) => i));
      expect(seqs.filter((s) => s === 900)).toHaveLength(1);
      expect(summary.acked).toBe(1806);
    } finally {
      await broker.close();
    }
  });

  // A tester watching the board at 1×: with the record ending "now" every age on it was wrong
  // (an alarm just raised read "5 min ago"; cardiologist walk, session 34).
  it('live at speed 1 puts sample 0 at the start, device time running with the wall clock; faster is refused', async () => {
    const broker = await startLocalBroker();
    try {
      // A clock that jumps 10 s at each reading: no real waiting, and the first reading is the start.
      let reading = 0;
      const clock = () => NOW + 10_000 * reading++;
      const lines: string[] = [];
      const summary = await runReplay({ recordPath: `${ECG}/cinc2017/A00004`, deviceId: 'dev-live', speed: 1, live: true, connect: { url: broker.url }, out: (l) => lines.push(l), now: clock });
      const frames = broker.telemetry.filter((m) => m.deviceId === 'dev-live').map((m) => telemetryV1Schema.parse(JSON.parse(m.payload.toString())));
      expect(summary.t0Ms).toBe(NOW);
      expect(JSON.parse(lines[0]!)).toEqual({ record: `${ECG}/cinc2017/A00004`, device: 'dev-live', t0: NOW });
      expect(frames.map((f) => f.ts)).toEqual(Array.from({ length: 30 }, (_, i) => NOW + i * 1000));
    } finally {
      await broker.close();
    }
    await expect(runReplay({ recordPath: `${ECG}/cinc2017/A00004`, deviceId: 'dev-live', speed: 'max', live: true, connect: { url: 'mqtt://127.0.0.1:1' } }))
      .rejects.toMatchObject({ code: 'PB_SIM_FAILED', message: expect.stringContaining('speed 1') });
  });

  it('sends the header signal asked for as the ECG, and refuses one the header lacks', async () => {
    const broker = await startLocalBroker();
    try {
      const first = await runReplay({ recordPath: `${ECG}/challenge2015/v131l`, deviceId: 'dev-ii', speed: 'max', connect: { url: broker.url }, now: () => NOW });
      const chest = await runReplay({ recordPath: `${ECG}/challenge2015/v131l`, deviceId: 'dev-v', speed: 'max', ecgSignalIndex: 1, connect: { url: broker.url }, now: () => NOW });
      const uV = (id: string) => broker.telemetry.filter((m) => m.deviceId === id).flatMap((m) => telemetryV1Schema.parse(JSON.parse(m.payload.toString())).ecg!.uV);
      expect(first.frames).toBe(chest.frames);
      const [ii, v] = [uV('dev-ii'), uV('dev-v')];
      expect(ii).toHaveLength(v.length);
      expect(ii).not.toEqual(v);
    } finally {
      await broker.close();
    }
    await expect(runReplay({ recordPath: `${ECG}/challenge2015/v131l`, deviceId: 'dev-x', speed: 'max', ecgSignalIndex: 9, connect: { url: 'mqtt://127.0.0.1:1' } }))
      .rejects.toMatchObject({ code: 'PB_WFDB_INVALID', message: expect.stringContaining('0 II, 1 V, 2 ABP, 3 RESP') });
  });

  it('fails with PB_WFDB_INVALID before connecting when the record does not exist', async () => {
    await expect(runReplay({ recordPath: `${ECG}/mitdb/999`, deviceId: 'dev-x', speed: 'max', connect: { url: 'mqtt://127.0.0.1:1' } })).rejects.toMatchObject({ code: 'PB_WFDB_INVALID' });
  });
});
