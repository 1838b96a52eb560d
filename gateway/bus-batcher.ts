/**
 * Collects messages from many concurrent MQTT publishes into one bus publish per stream, so the
 * bus round trip (Kafka acks=all) is paid once per batch rather than once per frame. Each caller
 * gets a promise that settles with its batch: resolved = durably on the bus.
 * Order is kept: messages leave in the order `enqueue` was called, one batch in flight per stream.
 */
import type { Bus, BusMessage } from '../platform/bus/index.ts';

interface Pending { message: BusMessage; resolve: () => void; reject: (err: unknown) => void }

export interface BusBatcherOptions {
  /** Upper bound of messages per bus publish. */
  maxBatch: number;
}

export class BusBatcher {
  readonly #bus: Bus;
  readonly #maxBatch: number;
  readonly #queues = new Map<string, Pending[]>();
  readonly #inFlight = new Set<string>();

  constructor(bus: Bus, options: BusBatcherOptions = { maxBatch: 500 }) {
    this.#bus = bus;
    this.#maxBatch = options.maxBatch;
  }

  enqueue(stream: string, message: BusMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      let q = this.#queues.get(stream);
      if (!q) { q = []; this.#queues.set(stream, q); }
      q.push({ message, resolve, reject });
      // Defer to the end of this tick so that every packet of one socket read joins the batch.
      if (!this.#inFlight.has(stream)) setImmediate(() => void this.#flush(stream));
    });
  }

  async #flush(stream: string): Promise<void> {
    if (this.#inFlight.has(stream)) return;
    const q = this.#queues.get(stream);
    if (!q || q.length === 0) return;
    const batch = q.splice(0, this.#maxBatch);
    this.#inFlight.add(stream);
    try {
      await this.#bus.publish(stream, batch.map((p) => p.message));
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.#inFlight.delete(stream);
      if (q.length > 0) void this.#flush(stream);
    }
  }
}
