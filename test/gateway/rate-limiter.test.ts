import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateLimiter } from '../../gateway/rate-limiter.ts';

describe('rate limiter', () => {
  let now: number;
  beforeEach(() => { vi.useFakeTimers(); now = 1_000_000; });
  afterEach(() => vi.useRealTimers());

  const decisions = (limiter: RateLimiter, deviceId: string, n: number) =>
    Array.from({ length: n }, () => { const d = limiter.admit(deviceId); return d.admitted ? d.delayedMs : 'refused'; });

  it('lets a burst through at once, then spaces frames at the sustained rate, per device', () => {
    const limiter = new RateLimiter({ burstFrames: 3, framesPerSecond: 10 }, () => now);
    expect(decisions(limiter, 'a', 6)).toEqual([0, 0, 0, 100, 200, 300]);
    expect(decisions(limiter, 'b', 3)).toEqual([0, 0, 0]);
  });

  it('refills over time up to the burst size', () => {
    const limiter = new RateLimiter({ burstFrames: 3, framesPerSecond: 10 }, () => now);
    expect(decisions(limiter, 'a', 3)).toEqual([0, 0, 0]);
    now += 200;
    expect(decisions(limiter, 'a', 3)).toEqual([0, 0, 100]);
    now += 60_000;
    expect(decisions(limiter, 'a', 4)).toEqual([0, 0, 0, 100]);
  });

  it('refuses a frame that would wait longer than maxDelayMs, and in dead_letter mode every frame over the limit', () => {
    const delaying = new RateLimiter({ burstFrames: 1, framesPerSecond: 10, maxDelayMs: 250 }, () => now);
    expect(decisions(delaying, 'a', 5)).toEqual([0, 100, 200, 'refused', 'refused']);
    const refusing = new RateLimiter({ burstFrames: 2, framesPerSecond: 10, mode: 'dead_letter' }, () => now);
    expect(decisions(refusing, 'a', 3)).toEqual([0, 0, 'refused']);
  });

  it('releases delayed frames in arrival order', async () => {
    const limiter = new RateLimiter({ burstFrames: 1, framesPerSecond: 100 }, () => now);
    const order: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = limiter.admit('a');
      if (!d.admitted) throw new Error('refused');
      if (d.ready) void d.ready.then(() => order.push(i));
      else order.push(i);
    }
    for (let step = 0; step < 10; step++) { now += 10; await vi.advanceTimersByTimeAsync(10); }
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });
});
