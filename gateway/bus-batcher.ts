/**
 * Collects messages from many concurrent MQTT publishes into bus publishes per stream, so the
 * bus round trip (Kafka acks=all) is paid once per batch rather than once per frame. Each caller
 * gets a promise that settles with its batch: resolved = durably on the bus; rejected = only the
 * messages of that one batch (the device gets no PUBACK and resends).
 *
 * Up to `maxInFlightPerStream` publishes per stream are in flight at once (issue 9: one at a time
 * capped the gateway near 2,500 frames/s while it sat idle waiting for round trips).
 *
 * Order per key is kept by this class, not left to the bus: a message is put into a batch only if
 * no earlier message with the same key is still queued or in flight. So two in-flight batches
 * never hold the same key, and a key's next message leaves only after its previous one settled.
 * Why not rely on the bus: kafkajs' idempotent producer serialises produce requests per broker
 * with a lock, but a send that fails and is retried gives the lock up in between, so a later
 * concurrent send can land first (kafkajs producer/sendMessages.js; tulios/kafkajs#598, #1050);
 * and once `publish` gave up, the caller's resend is necessarily after any later batch.
 * With per-key exclusion, a device's frames reach the bus in the order it sent them even then.
 */
import type { Bus, BusMessage } from '../platform/bus/index.ts';

interface Pending { message: BusMessage; resolve: () => void; reject: (err: unknown) => void }

export interface BusBatcherOptions {
  /** Upper bound of messages per bus publish. */
  maxBatch: number;
  /** Upper bound of bus publishes in flight per stream at once. */
  maxInFlightPerStream: number;
}

/**
 * 500 messages per publish: the size measured in issue 9 (larger publishes are split by KafkaBus
 * into serial requests and only delay acknowledgements). 4 publishes in flight: enough to overlap
 * one batch's acknowledgement work with the next round trip, while bounding what one stream can
 * hold in the bus client; the gateway's global in-flight cap still bounds the frames held.
 */
export const BUS_BATCHER_DEFAULTS: BusBatcherOptions = { maxBatch: 500, maxInFlightPerStream: 4 };

interface StreamState {
  queue: Pending[];
  /** Keys that have a message in a publish not yet settled. */
  keysInFlight: Set<string>;
  inFlight: number;
  flushScheduled: boolean;
}

export class BusBatcher {
  readonly #bus: Bus;
  readonly #options: BusBatcherOptions;
  readonly #streams = new Map<string, StreamState>();

  constructor(bus: Bus, options: Partial<BusBatcherOptions> = {}) {
    this.#bus = bus;
    this.#options = { ...BUS_BATCHER_DEFAULTS, ...options };
    if (!(this.#options.maxBatch >= 1) || !(this.#options.maxInFlightPerStream >= 1)) {
      throw new RangeError('BusBatcher needs maxBatch >= 1 and maxInFlightPerStream >= 1');
    }
  }

  /** Publishes of `stream` handed to the bus and not yet settled (for tests and metrics). */
  inFlight(stream: string): number {
    return this.#streams.get(stream)?.inFlight ?? 0;
  }

  enqueue(stream: string, message: BusMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      let s = this.#streams.get(stream);
      if (!s) {
        s = { queue: [], keysInFlight: new Set(), inFlight: 0, flushScheduled: false };
        this.#streams.set(stream, s);
      }
      s.queue.push({ message, resolve, reject });
      // Defer to the end of this tick so that every packet of one socket read joins the batch.
      if (!s.flushScheduled && s.inFlight < this.#options.maxInFlightPerStream) {
        s.flushScheduled = true;
        const state = s;
        setImmediate(() => {
          state.flushScheduled = false;
          this.#flush(stream, state);
        });
      }
    });
  }

  /** Starts publishes while there is a free slot and a message whose key is free. */
  #flush(stream: string, s: StreamState): void {
    while (s.inFlight < this.#options.maxInFlightPerStream && s.queue.length > 0) {
      const batch = this.#takeBatch(s);
      if (batch.length === 0) return;
      void this.#publish(stream, s, batch);
    }
  }

  /**
   * Takes, in queue order, up to maxBatch messages whose key has nothing earlier queued or in
   * flight; the others stay queued in their order.
   */
  #takeBatch(s: StreamState): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const blocked = new Set<string>();
    let i = 0;
    for (; i < s.queue.length && batch.length < this.#options.maxBatch; i++) {
      const p = s.queue[i]!;
      const key = p.message.key;
      if (s.keysInFlight.has(key) || blocked.has(key)) {
        blocked.add(key);
        rest.push(p);
      } else {
        // A second message of the same key in this batch is fine: one publish keeps its order.
        batch.push(p);
      }
    }
    if (batch.length > 0) {
      s.queue = i < s.queue.length ? rest.concat(s.queue.slice(i)) : rest;
    }
    return batch;
  }

  async #publish(stream: string, s: StreamState, batch: Pending[]): Promise<void> {
    const keys = new Set(batch.map((p) => p.message.key));
    for (const k of keys) s.keysInFlight.add(k);
    s.inFlight++;
    try {
      await this.#bus.publish(stream, batch.map((p) => p.message));
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      for (const k of keys) s.keysInFlight.delete(k);
      s.inFlight--;
      this.#flush(stream, s);
    }
  }
}
