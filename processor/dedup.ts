/**
 * Duplicate frame filter. A device resends a frame it got no PUBACK for, with the same `seq`
 * and the same `ts` (device-protocol.md "Delivery guarantee"). A reboot restarts `seq` at 0 with a
 * later `ts`, so the identity of a frame is (deviceId, seq, ts): a rebooted device is never
 * mistaken for a duplicate. Memory is bounded per device.
 */
export class FrameDeduplicator {
  readonly #seen = new Map<string, Set<string>>();
  readonly #perDevice: number;

  /** @param perDevice how many recent frames to remember per device (≥ the resend window). */
  constructor(perDevice = 4096) {
    this.#perDevice = perDevice;
  }

  /** Returns true the first time a frame is seen, false for a duplicate. */
  firstSight(deviceId: string, seq: number, ts: number): boolean {
    let seen = this.#seen.get(deviceId);
    if (!seen) { seen = new Set(); this.#seen.set(deviceId, seen); }
    const key = `${seq}:${ts}`;
    if (seen.has(key)) return false;
    seen.add(key);
    if (seen.size > this.#perDevice) {
      // Sets iterate in insertion order: drop the oldest.
      seen.delete(seen.values().next().value!);
    }
    return true;
  }
}
