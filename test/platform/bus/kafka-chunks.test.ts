/** KafkaBus splits a publish into produce requests below the broker's message.max.bytes (issue 9), keeping order. */
import { describe, expect, it } from 'vitest';
import { chunksOf } from '../../../platform/bus/kafka.ts';

const msg = (i: number, bytes: number) => ({ key: `k${i}`, value: Buffer.alloc(bytes, 1) });

describe('chunksOf', () => {
  it('keeps every message, in order, in chunks no larger than the bound', () => {
    const messages = Array.from({ length: 100 }, (_, i) => msg(i, 1000));
    const chunks = chunksOf(messages, 10_000);
    expect(chunks.flat()).toEqual(messages);
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks) expect(c.reduce((a, m) => a + m.value.length + m.key.length + 64, 0)).toBeLessThanOrEqual(10_000);
  });

  it('sends a message larger than the bound alone, and small publishes as one chunk', () => {
    expect(chunksOf([msg(0, 10), msg(1, 50_000), msg(2, 10)], 10_000).map((c) => c.map((m) => m.key))).toEqual([['k0'], ['k1'], ['k2']]);
    expect(chunksOf([msg(0, 10), msg(1, 10)], 10_000)).toHaveLength(1);
  });
});
