/**
 * A rate limit on an ECG-only device (issue 12 session 21). The tachy limit is HR > 120/min, an
 * interval under 500 ms = 125 samples at 250 Hz. Beat times rounded to whole samples make every
 * interval a multiple of 4 ms, so a tachycardia at 122–125/min read many intervals as exactly
 * 500 ms, and each one broke the run of beats above the limit: the sudden-onset path (alarm after
 * 30 s) was lost and a 4 min tachycardia raised no alarm on most simulated devices (firmware
 * beats: on all). Beat times now lie between samples (QrsBeat.offset). Simulated devices replayed
 * offline through the production path (eval/sim-device-replay.ts).
 */
import { describe, expect, it } from 'vitest';
import { suddenTachycardia, tachyAlarms } from '../../eval/sim-device-replay.ts';

describe('a sudden tachycardia just above the 120/min limit on an ECG-only device', () => {
  for (const deviceId of ['sim-0001', 'sim-0002', 'sim-0003', 'sim-0004', 'sim-0005', 'sim-0006']) {
    it(`4 min at 125/min (${deviceId}): one tachy alarm at the episode's onset, as with firmware beats`, async () => {
      const firmware = await tachyAlarms(deviceId, suddenTachycardia(125), false);
      const ecg = await tachyAlarms(deviceId, suddenTachycardia(125), true);
      expect(firmware.dueOnsetMs).toBeDefined();
      expect(firmware.raisedOnsetsMs).toEqual([firmware.dueOnsetMs]);
      expect(ecg.raisedOnsetsMs).toHaveLength(1);
      expect(Math.abs(ecg.raisedOnsetsMs[0]! - firmware.dueOnsetMs!)).toBeLessThanOrEqual(20);
    });
  }
});
