import { expect, it } from 'vitest';
import { ClockSkewEstimator, skewSampleMs } from '../../gateway/clock-skew.ts';

it('a sample is the device clock at the frame end minus the receive time', () => {
  expect(skewSampleMs({ ts: 10_000, durMs: 1000 }, 10_900)).toBe(100);
});

it('follows a higher sample fast and a lower one (delayed frames) slowly', () => {
  const e = new ClockSkewEstimator({ riseWeight: 0.5, fallWeight: 0.1 });
  expect(e.valueMs).toBeUndefined();
  expect([e.update(100), e.update(300), e.update(300)]).toEqual([100, 200, 250]);
  // A backlog frame sent a minute late barely moves the estimate.
  expect(e.update(-60_000)).toBe(250 + 0.1 * (-60_000 - 250));
});

it('starts from a stored estimate (a reconnecting device)', () => {
  expect(new ClockSkewEstimator({}, 40).update(40)).toBe(40);
});
