import { expect, it } from 'vitest';
import { InFlightLimit } from '../../platform/in-flight-limit.ts';

it('hands out slots up to the cap, then queues waiters first come first served', async () => {
  const limit = new InFlightLimit(2);
  expect([limit.acquire(), limit.acquire()]).toEqual([undefined, undefined]);
  const order: string[] = [];
  const a = limit.acquire()!.then(() => order.push('a'));
  const b = limit.acquire()!.then(() => order.push('b'));
  expect([limit.inFlight, limit.waiting]).toEqual([2, 2]);
  limit.release();
  await a;
  expect([order, limit.inFlight, limit.waiting]).toEqual([['a'], 2, 1]);
  limit.release();
  await b;
  limit.release();
  limit.release();
  expect([order, limit.inFlight, limit.waiting]).toEqual([['a', 'b'], 0, 0]);
});
