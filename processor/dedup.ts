/**
 * Duplicate frame filter. A device resends a frame it got no PUBACK for, with the same `seq`
 * and the same `ts` (device-protocol.md "Delivery guarantee"). A reboot restarts `seq` at 0 with a
 * later `ts`, so the identity of a frame is (deviceId, seq, ts): a rebooted device is never
 * mistaken for a duplicate. Memory is bounded per device: the last `perDevice` frames seen.
 *
 * The frames remembered are kept as runs, not one entry per frame: a device sends `seq`, `seq+1`, …
 * with `ts` advancing by its frame length, so a run (first seq, first ts, ts step, count) holds
 * them all. A set of `"seq:ts"` strings (until issue 9) cost ~512 KiB of heap per device once
 * 4,096 frames were remembered (~68 min at 1 frame/s): 5 GB for 10,000 devices. A run costs the
 * same whatever its length; reordered or irregular frames start new runs, so the worst case is one
 * run per frame, never more than `perDevice` of them. Same answers as the set, in the same window:
 * runs are kept in the order frames were first seen and the oldest frames are forgotten first
 * (test/processor/dedup.test.ts checks both against a reference).
 */

interface Run {
  seq0: number;
  ts0: number;
  /** ts of frame i = ts0 + i × step (step unknown while count = 1). */
  step: number;
  count: number;
}

interface DeviceFrames {
  runs: Run[];
  total: number;
}

export class FrameDeduplicator {
  readonly #devices = new Map<string, DeviceFrames>();
  readonly #perDevice: number;

  /** @param perDevice how many recent frames to remember per device (≥ the resend window). */
  constructor(perDevice = 4096) {
    this.#perDevice = perDevice;
  }

  /** Returns true the first time a frame is seen, false for a duplicate. */
  firstSight(deviceId: string, seq: number, ts: number): boolean {
    let device = this.#devices.get(deviceId);
    if (!device) {
      device = { runs: [], total: 0 };
      this.#devices.set(deviceId, device);
    }
    const { runs } = device;
    // Newest first: a resend is usually of a recent frame.
    for (let r = runs.length - 1; r >= 0; r--) {
      const run = runs[r]!;
      const i = seq - run.seq0;
      if (i >= 0 && i < run.count && ts === run.ts0 + i * run.step) return false;
    }
    const last = runs[runs.length - 1];
    if (last && seq === last.seq0 + last.count && (last.count === 1 || ts === last.ts0 + last.count * last.step)) {
      if (last.count === 1) last.step = ts - last.ts0;
      last.count++;
    } else {
      runs.push({ seq0: seq, ts0: ts, step: 0, count: 1 });
    }
    if (++device.total > this.#perDevice) this.#forgetOldest(device);
    return true;
  }

  #forgetOldest(device: DeviceFrames): void {
    const first = device.runs[0]!;
    device.total--;
    if (first.count === 1) {
      device.runs.shift();
      return;
    }
    first.seq0++;
    first.ts0 += first.step;
    first.count--;
  }
}
