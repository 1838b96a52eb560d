/**
 * A component's view of a shared in-process bus under a Kafka user without Write on some streams
 * (platform/bus/acl-spec.ts): its publishes there are refused as the broker refuses them, while it
 * may read them. For the catch-ups that must not write (platform/bus/catch-up.ts): BusFollower.sync
 * and the changelog tables (processor/changelog-table.ts).
 */
import type { Bus, BusMessage, PartitionEnd, SubscribeOptions, Subscription } from '../../../platform/bus/index.ts';
import type { InProcessBus } from '../../../platform/bus/index.ts';
import { PulsebridgeError } from '../../../platform/errors.ts';

export class ReadOnlyBus implements Bus {
  readonly inner: InProcessBus;
  /** The streams it may not write (default: every stream). */
  readonly readOnly: (stream: string) => boolean;
  /** Publishes refused so far. */
  writesTried = 0;
  /** While set, batches of the read-only streams wait for it before reaching the reader (a consumer that lags). */
  gate: Promise<void> | undefined;
  /** Partitions added to what endOffsets answers (Kafka streams have several). */
  extraEnds: PartitionEnd[] = [];
  /** Called when a reader asks where a stream ends (before the answer). */
  onEndOffsets: ((stream: string) => void) | undefined;

  constructor(inner: InProcessBus, readOnly: (stream: string) => boolean = () => true) {
    this.inner = inner;
    this.readOnly = readOnly;
  }

  async publish(stream: string, messages: BusMessage[]): Promise<void> {
    if (!this.readOnly(stream)) return this.inner.publish(stream, messages);
    this.writesTried++;
    throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'Not authorized to access topics: [Topic authorization failed]');
  }

  async subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> {
    const gated = this.readOnly(stream);
    const subscription = await this.inner.subscribe(stream, {
      ...options,
      onBatch: async (batch) => {
        if (gated) await this.gate;
        await options.onBatch(batch);
      },
    });
    return {
      ...subscription,
      endOffsets: async () => {
        this.onEndOffsets?.(stream);
        return [...(await subscription.endOffsets()), ...this.extraEnds];
      },
    };
  }

  ensureStreams(): Promise<void> { return Promise.resolve(); }
  close(): Promise<void> { return Promise.resolve(); }
}
