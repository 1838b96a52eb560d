/**
 * In-process bus for the embedded mode and for tests. Same semantics as the Kafka adapter as far
 * as callers can tell: per-stream append-only log, per-group committed offsets, at-least-once
 * batches. Not durable across a process crash (product.md "Embedded").
 *
 * Memory: a log keeps every message unless `maxRetainedMessages` is set (the embedded mode sets
 * it): then, once a stream holds more than that, the oldest messages that EVERY group subscribed to
 * the stream has already committed are dropped — never one a consumer has yet to see. Compacted and
 * kept-forever streams (criteria, changelog, registry) are never trimmed: a late reader needs them.
 * Offsets keep counting from where they were, as Kafka's do after retention.
 */
import type { Bus, BusMessage, ConsumedMessage, PartitionEnd, StreamSpec, SubscribeOptions, Subscription, SubscriptionStatus } from './bus.ts';
import { PulsebridgeError } from '../errors.ts';

interface StreamLog {
  /** Retained messages; messages[i] has offset base + i. */
  messages: ConsumedMessage[];
  /** Offset of messages[0] (messages before it were trimmed). */
  base: number;
  /** Next offset to assign. */
  end: number;
  /** Never trimmed (compacted or kept-forever streams). */
  keep: boolean;
  /** Committed-offset keys of the groups subscribed to this stream. */
  groups: Set<string>;
  /** Wakes consumers waiting for new messages. */
  waiters: Set<() => void>;
}

export interface InProcessBusOptions {
  /** Largest batch handed to one onBatch call. */
  maxBatch?: number;
  /**
   * Trim a stream's consumed messages once it holds more than this many (see the file comment).
   * Default: keep everything (tests read whole streams).
   */
  maxRetainedMessages?: number;
}

export class InProcessBus implements Bus {
  readonly #streams = new Map<string, StreamLog>();
  /** Committed next-offset per `${group}\n${stream}`. */
  readonly #committed = new Map<string, number>();
  readonly #maxBatch: number;
  readonly #maxRetained: number;
  readonly #specs = new Map<string, StreamSpec>();
  readonly #subscriptions = new Set<Subscription>();
  #available = true;
  #closed = false;

  constructor(options: InProcessBusOptions = {}) {
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxRetained = options.maxRetainedMessages ?? Number.POSITIVE_INFINITY;
  }

  /** Test hook: simulate the bus going away (publishes reject) and coming back. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  #log(stream: string): StreamLog {
    let log = this.#streams.get(stream);
    if (!log) {
      const spec = this.#specs.get(stream);
      log = { messages: [], base: 0, end: 0, keep: Boolean(spec?.compacted || spec?.retainForever), groups: new Set(), waiters: new Set() };
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
      log.messages.push({ ...m, stream, partition: 0, offset: String(log.end++), timestamp: now });
    }
    this.#trim(log);
    for (const wake of log.waiters) wake();
  }

  /** Drops the oldest messages every subscribed group has committed, down to the retention limit. */
  #trim(log: StreamLog): void {
    // Trim in steps of a quarter of the limit, so splicing the array stays cheap per message.
    if (log.keep || log.groups.size === 0 || log.messages.length <= this.#maxRetained * 1.25) return;
    let consumed = Number.POSITIVE_INFINITY;
    for (const key of log.groups) consumed = Math.min(consumed, this.#committed.get(key) ?? log.base);
    const drop = Math.min(consumed - log.base, log.messages.length - this.#maxRetained);
    if (drop <= 0) return;
    log.messages.splice(0, drop);
    log.base += drop;
  }

  /**
   * Messages of `stream` the group has not committed yet: work that dies with this process (the
   * demo tells what its EHR exporter had not delivered when it stops). 0 for a group that never
   * subscribed.
   */
  uncommitted(groupId: string, stream: string): number {
    const committed = this.#committed.get(`${groupId}\n${stream}`);
    return committed === undefined ? 0 : Math.max(0, this.#log(stream).end - committed);
  }

  /** The messages a stream retains: everything appended, unless trimmed (tests and diagnostics). */
  read(stream: string): readonly ConsumedMessage[] {
    return this.#log(stream).messages;
  }

  async subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> {
    const log = this.#log(stream);
    const key = `${options.groupId}\n${stream}`;
    if (!this.#committed.has(key)) this.#committed.set(key, options.fromBeginning ? log.base : log.end);
    log.groups.add(key);
    let running = true;
    let wake: (() => void) | undefined;
    const loop = async () => {
      while (running) {
        const next = Math.max(this.#committed.get(key) ?? 0, log.base);
        if (next >= log.end) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            log.waiters.add(resolve);
          });
          if (wake) log.waiters.delete(wake);
          continue;
        }
        const batch = log.messages.slice(next - log.base, next - log.base + this.#maxBatch);
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
    const sinceMs = Date.now();
    const subscription: Subscription = {
      stop: async () => {
        running = false;
        this.#subscriptions.delete(subscription);
        wake?.();
        await done;
      },
      assignedPartitions: () => (running ? [0] : []),
      endOffsets: async () => this.#endOffsets(log),
      // In the process itself: nothing to lose a connection to, so it always consumes.
      status: () => ({ stream, groupId: options.groupId, consuming: true, state: 'consuming', sinceMs }),
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** The one partition's bounds; refused like a publish while the bus is closed or marked unavailable (a broker that is gone answers no offsets either). */
  #endOffsets(log: StreamLog): PartitionEnd[] {
    if (this.#closed) throw new PulsebridgeError('PB_BUS_CLOSED', 'the bus is closed');
    if (!this.#available) throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'the in-process bus is marked unavailable');
    return [{ partition: 0, start: String(log.base), end: String(log.end) }];
  }

  subscriptionStatuses(): SubscriptionStatus[] {
    return [...this.#subscriptions].map((s) => s.status!());
  }

  /** Records which streams are compacted or kept forever (never trimmed). */
  async ensureStreams(streams: StreamSpec[]): Promise<void> {
    for (const spec of streams) {
      this.#specs.set(spec.name, spec);
      const log = this.#streams.get(spec.name);
      if (log) log.keep ||= Boolean(spec.compacted || spec.retainForever);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const log of this.#streams.values()) for (const w of log.waiters) w();
  }
}
