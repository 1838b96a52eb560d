/**
 * A table folded from a compacted, keyed stream (latest value per key), read from the beginning
 * by every instance under its own consumer group: the processor's state changelog and the
 * per-patient criteria (contracts/topics.ts).
 *
 * "Caught up" — {@link ChangelogTable.catchUp} reads where the stream ends and waits until this
 * reader has folded everything below (platform/bus/catch-up.ts, as BusFollower.sync does): it
 * writes nothing, so a reader's Kafka user needs no Write on the stream (the processor may not
 * write criteria: platform/bus/acl-spec.ts).
 *
 * Until that, catchUp published a barrier record and waited to fold it. The streams in the field
 * still hold such records, and processors of older versions may still write them during a rolling
 * deploy: every reader of these streams must skip them ({@link isBarrier}); this table does.
 */
import { CatchUpPositions, type Bus, type Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';

/** The barrier record of older versions' catch-up (file comment): skipped, never written. */
export const BARRIER_SCHEMA = 'pb.barrier.v1';

export interface BarrierRecord {
  schema: typeof BARRIER_SCHEMA;
  id: string;
}

export function isBarrier(value: unknown): value is BarrierRecord {
  return typeof value === 'object' && value !== null && (value as { schema?: unknown }).schema === BARRIER_SCHEMA;
}

export interface ChangelogTableOptions<T> {
  bus: Bus;
  stream: string;
  /** Consumer group; unique per instance so each instance reads everything. */
  groupId: string;
  /** The group is this instance's alone (a random id): deleted when the table stops (Bus SubscribeOptions.ephemeralGroup). */
  ephemeralGroup?: boolean;
  /** Turns a record into a value; undefined = skip it (invalid or foreign). */
  parse: (key: string, value: unknown) => T | undefined;
  logger: Logger;
}

/** `previous`: the key's value before this record (undefined for its first). */
export type ChangeListener<T> = (key: string, value: T, previous: T | undefined) => void;

export class ChangelogTable<T> {
  readonly #o: ChangelogTableOptions<T>;
  readonly #rows = new Map<string, T>();
  readonly #listeners = new Set<ChangeListener<T>>();
  #subscription: Subscription | undefined;
  /** What the current subscription has folded, for catchUp. */
  #read = new CatchUpPositions();

  constructor(options: ChangelogTableOptions<T>) {
    this.#o = options;
  }

  get started(): boolean {
    return this.#subscription !== undefined;
  }

  async start(): Promise<void> {
    if (this.#subscription) return;
    // A restart reads the stream again from its beginning (a new ephemeral group).
    const read = (this.#read = new CatchUpPositions());
    this.#subscription = await this.#o.bus.subscribe(this.#o.stream, {
      groupId: this.#o.groupId,
      ...(this.#o.ephemeralGroup ? { ephemeralGroup: true } : {}),
      fromBeginning: true,
      onBatch: async (messages) => {
        for (const m of messages) {
          let json: unknown;
          try {
            json = JSON.parse(m.value.toString('utf8'));
          } catch {
            this.#o.logger.warn('changelog record is not JSON; skipped', { stream: this.#o.stream, offset: m.offset });
            continue;
          }
          if (isBarrier(json)) continue;
          const value = this.#o.parse(m.key, json);
          if (value === undefined) continue;
          const previous = this.#rows.get(m.key);
          this.#rows.set(m.key, value);
          for (const l of this.#listeners) {
            try {
              l(m.key, value, previous);
            } catch (err) {
              this.#o.logger.error('changelog listener failed', { stream: this.#o.stream, err: err as Error });
            }
          }
        }
        // Skipped records (old barriers, unreadable ones) count as read too.
        read.folded(messages);
      },
    });
  }

  async stop(): Promise<void> {
    const s = this.#subscription;
    this.#subscription = undefined;
    this.#read.release();
    await s?.stop();
  }

  get(key: string): T | undefined {
    return this.#rows.get(key);
  }

  entries(): IterableIterator<[string, T]> {
    return this.#rows.entries();
  }

  /** Calls `listener` after each record is folded (own writes included). Returns the unsubscribe function. */
  onChange(listener: ChangeListener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves true once every record published and acknowledged before this call has been folded
   * (this process's own writes included), false after `timeoutMs` (the caller decides whether to
   * go on without it). Rejects when the bus cannot say where the stream ends (PB_BUS_UNAVAILABLE).
   * Writes nothing to the stream.
   */
  async catchUp(timeoutMs: number): Promise<boolean> {
    if (!this.#subscription) return false;
    return this.#read.caughtUp(this.#subscription, timeoutMs);
  }
}
