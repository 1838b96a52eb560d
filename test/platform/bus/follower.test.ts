/**
 * BusFollower (platform/bus/follower.ts) while the bus cannot take a write: a writer waiting
 * for its own write to come back gets an error once the wait times out; nothing crashes the
 * process. Found by the fault suite: with the Kafka broker down for more than 10 s, the
 * gateway's liveness flush was still inside the publish when the wait for its heartbeat timed
 * out, the rejection had no handler yet, and Node ended the gateway (unhandled rejection). A
 * sync reads the stream's end offsets instead of writing: that request may outlast its wait too.
 */
import { describe, expect, it } from 'vitest';
import type { Bus, BusMessage, SubscribeOptions, Subscription } from '../../../platform/bus/index.ts';
import { BusFollower, InProcessBus } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { BusDeviceLivenessStore } from '../../../platform/registry/index.ts';

/** A bus whose publishes and end-offset requests hang while `down`, then fail, like a client retrying a broker that is gone. */
class StalledBus implements Bus {
  readonly inner = new InProcessBus();
  down = false;
  async #stall(): Promise<void> {
    if (!this.down) return;
    await new Promise((r) => setTimeout(r, 300));
    throw new Error('KafkaJSNumberOfRetriesExceeded: connect ECONNREFUSED');
  }
  async publish(stream: string, messages: BusMessage[]): Promise<void> {
    await this.#stall();
    return this.inner.publish(stream, messages);
  }
  async subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> {
    const subscription = await this.inner.subscribe(stream, options);
    return { ...subscription, endOffsets: async () => { await this.#stall(); return subscription.endOffsets(); } };
  }
  ensureStreams(): Promise<void> { return Promise.resolve(); }
  close(): Promise<void> { return this.inner.close(); }
}

/** Unhandled rejections while `fn` runs (vitest would also fail the run on them). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown) => { seen.push(reason); };
  process.on('unhandledRejection', onUnhandled);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return seen;
}

describe('BusFollower while the bus is down', () => {
  it('a sync whose end-offsets request outlasts the visibility wait fails with the timeout, and the request\'s later failure is not left unhandled', async () => {
    const bus = new StalledBus();
    const follower = await BusFollower.open({ bus, stream: { name: 's', partitions: 1 }, logger: silentLogger, onMessage: () => {}, visibleTimeoutMs: 50 });
    bus.down = true;
    const unhandled = await unhandledDuring(async () => {
      await expect(follower.sync()).rejects.toThrow('s: this instance did not catch up with the stream within 50 ms');
      // The request fails 300 ms after it started.
      await new Promise((r) => setTimeout(r, 300));
    });
    expect(unhandled).toEqual([]);
    await follower.close();
  });

  it('a gateway\'s liveness flush fails cleanly while the bus is down, and works when it is back', async () => {
    const bus = new StalledBus();
    const liveness = await BusDeviceLivenessStore.open({ bus, logger: silentLogger, visibleTimeoutMs: 50 });
    bus.down = true;
    const unhandled = await unhandledDuring(async () => {
      await expect(liveness.write('gw-1', [])).rejects.toThrow('KafkaJSNumberOfRetriesExceeded');
    });
    expect(unhandled).toEqual([]);
    bus.down = false;
    await liveness.write('gw-1', []);
    await liveness.close();
  });
});
