/**
 * The frame deduplicator keeps runs instead of one string per frame (issue 9: 512 KiB of heap per
 * device before). It must answer exactly like the set of "seq:ts" it replaced, including which
 * frames fall out of the window, and stay small for a device that sends in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDeduplicator } from '../../processor/dedup.ts';

/** The previous implementation, as the oracle: the last `perDevice` distinct frames, oldest forgotten first. */
class SetDeduplicator {
  readonly #seen = new Map<string, Set<string>>();
  readonly perDevice: number;
  constructor(perDevice: number) {
    this.perDevice = perDevice;
  }
  firstSight(deviceId: string, seq: number, ts: number): boolean {
    let seen = this.#seen.get(deviceId);
    if (!seen) this.#seen.set(deviceId, (seen = new Set()));
    const key = `${seq}:${ts}`;
    if (seen.has(key)) return false;
    seen.add(key);
    if (seen.size > this.perDevice) seen.delete(seen.values().next().value!);
    return true;
  }
}

const frame = fc.record({ device: fc.constantFrom('a', 'b'), seq: fc.integer({ min: 0, max: 12 }), ts: fc.integer({ min: 0, max: 12 }).map((k) => 1_000_000 + k * 1000) });

describe('FrameDeduplicator', () => {
  it('answers like the set of "seq:ts" for any arrival order, resends, reboots and window size', () => {
    fc.assert(fc.property(fc.array(frame, { maxLength: 200 }), fc.integer({ min: 1, max: 10 }), (frames, perDevice) => {
      const runs = new FrameDeduplicator(perDevice);
      const oracle = new SetDeduplicator(perDevice);
      for (const f of frames) expect(runs.firstSight(f.device, f.seq, f.ts)).toBe(oracle.firstSight(f.device, f.seq, f.ts));
    }), { numRuns: 2000 });
  });

  it('answers like the set for in-order streams with resends of recent frames and reboots', () => {
    const stream = fc.array(fc.oneof(
      { arbitrary: fc.constant({ kind: 'next' as const }), weight: 8 },
      { arbitrary: fc.integer({ min: 1, max: 40 }).map((back) => ({ kind: 'resend' as const, back })), weight: 2 },
      { arbitrary: fc.constant({ kind: 'reboot' as const }), weight: 1 },
    ), { maxLength: 300 });
    fc.assert(fc.property(stream, fc.integer({ min: 5, max: 50 }), (steps, perDevice) => {
      const runs = new FrameDeduplicator(perDevice);
      const oracle = new SetDeduplicator(perDevice);
      const sent: [number, number][] = [];
      let seq = 0;
      let ts = 1_000_000;
      for (const s of steps) {
        let f: [number, number];
        if (s.kind === 'resend' && sent.length > 0) f = sent[Math.max(0, sent.length - s.back)]!;
        else {
          if (s.kind === 'reboot') seq = 0;
          f = [seq++, (ts += 1000)];
          sent.push(f);
        }
        expect(runs.firstSight('d', f[0], f[1])).toBe(oracle.firstSight('d', f[0], f[1]));
      }
    }), { numRuns: 500 });
  });

  it('keeps a device that sends in order in one run: a resend hours later is still caught within the window', () => {
    const dedup = new FrameDeduplicator();
    const t0 = 1_796_266_155_000;
    for (let k = 0; k < 10_000; k++) expect(dedup.firstSight('d', k, t0 + k * 1000)).toBe(true);
    expect(dedup.firstSight('d', 9_999, t0 + 9_999_000)).toBe(false);
    expect(dedup.firstSight('d', 10_000 - 4096, t0 + (10_000 - 4096) * 1000)).toBe(false);
    // Older than the 4,096 frames remembered: forgotten, as before.
    expect(dedup.firstSight('d', 10_000 - 4097, t0 + (10_000 - 4097) * 1000)).toBe(true);
  });
});
