/**
 * In-process bus for the embedded mode and for tests. Same semantics as the Kafka adapter as far
 * as callers can tell: per-stream append-only log, per-group committed offsets, at-least-once
 * batches. Not durable across a process crash (product.md "Embedded").
 */
import type { Bus, BusMessage, ConsumedMessage, SubscribeOptions, Subscription } from './bus.ts';
import { PulsebridgeError } from '../errors.ts';

interface StreamLog {
  messages: ConsumedMessage[];
  /** Wakes consumers waiting for new messages. */
  waiters: Set<() => void>;
}

export interface InProcessBusOptions {
  /** Largest batch handed to one onBatch call. */
  maxBatch?: number;
}

export class InProcessBus implements Bus {
  readonly #streams = new Map<string, StreamLog>();
  /** Committed next-offset per `${group}\n${stream}`. */
  readonly #committed = new Map<string, number>();
  readonly #maxBatch: number;
  #available = true;
  #closed = false;

  constructor(options: InProcessBusOptions = {}) {
    this.#maxBatch = options.maxBatch ?? 500;
  }

  /** Test hook: simulate the bus going away (publishes reject) and coming back. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  #log(stream: string): StreamLog {
    let log = this.#streams.get(stream);
    if (!log) {
      log = { messages: [], waiters: new Set() };
      this.#streams.set(stream, log);
    }
    return log;
  }

  async publish(stream: string, messages: BusMessage[]): Promise<void> {
    if (this.#closed) throw new PulsebridgeError('PB_BUS_CLOSED', 'the bus is closed');
    if (!this.#available) throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'the in-process bus is marked unavailable');
    const log = this.#log(stream);
    const now = Date.now();
    for (const m of messages) {
      log.messages.push({ ...m, stream, partition: 0, offset: String(log.messages.length), timestamp: now });
    }
    for (const wake of log.waiters) wake();
  }

  /** Everything appended to a stream so far (tests and diagnostics). */
  read(stream: string): readonly ConsumedMessage[] {
    return this.#log(stream).messages;
  }

  async subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> {
    const log = this.#log(stream);
    const key = `${options.groupId}\n${stream}`;
    if (!this.#committed.has(key)) this.#committed.set(key, options.fromBeginning ? 0 : log.messages.length);
    let running = true;
    let wake: (() => void) | undefined;
    const loop = async () => {
      while (running) {
        const next = this.#committed.get(key) ?? 0;
        if (next >= log.messages.length) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            log.waiters.add(resolve);
          });
          if (wake) log.waiters.delete(wake);
          continue;
        }
        const batch = log.messages.slice(next, next + this.#maxBatch);
        try {
          await options.onBatch(batch);
          this.#committed.set(key, next + batch.length);
        } catch {
          // At-least-once: the batch is offered again after a short pause, like a Kafka consumer
          // that did not commit. The handler is responsible for counting its own failures.
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    const done = loop();
    return {
      stop: async () => {
        running = false;
        wake?.();
        await done;
      },
    };
  }

  async ensureStreams(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
    for (const log of this.#streams.values()) for (const w of log.waiters) w();
  }
}
