/**
 * A table folded from a compacted, keyed stream (latest value per key), read from the beginning
 * by every instance under its own consumer group: the processor's state changelog and the
 * per-patient criteria (contracts/topics.ts).
 *
 * "Caught up" — the bus port has no end-of-stream position, so {@link ChangelogTable.catchUp}
 * publishes a barrier record with a fresh id on the stream and waits until this reader folds it:
 * everything published before the barrier has then been read. Streams read this way have one
 * partition (platform/adapters.ts), so the barrier is behind every earlier record. Readers of
 * these streams must skip barrier records ({@link isBarrier}).
 */
import { randomUUID } from 'node:crypto';
import type { Bus, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';

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
  readonly #waiting = new Map<string, () => void>();
  readonly #listeners = new Set<ChangeListener<T>>();
  #subscription: Subscription | undefined;

  constructor(options: ChangelogTableOptions<T>) {
    this.#o = options;
  }

  get started(): boolean {
    return this.#subscription !== undefined;
  }

  async start(): Promise<void> {
    if (this.#subscription) return;
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
          if (isBarrier(json)) {
            const wake = this.#waiting.get(json.id);
            this.#waiting.delete(json.id);
            wake?.();
            continue;
          }
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
      },
    });
  }

  async stop(): Promise<void> {
    const s = this.#subscription;
    this.#subscription = undefined;
    await s?.stop();
    for (const wake of this.#waiting.values()) wake();
    this.#waiting.clear();
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
   * Resolves true once every record published before this call has been folded, false after
   * `timeoutMs` (the caller decides whether to go on without it).
   */
  async catchUp(timeoutMs: number): Promise<boolean> {
    if (!this.#subscription) return false;
    const id = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      this.#waiting.set(id, () => resolve(true));
      timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(false);
      }, timeoutMs);
    });
    try {
      const barrier: BarrierRecord = { schema: BARRIER_SCHEMA, id };
      // One key per reader: compaction keeps only its latest barrier.
      await this.#o.bus.publish(this.#o.stream, [{ key: `barrier:${this.#o.groupId}`, value: Buffer.from(JSON.stringify(barrier)) }]);
      return await seen;
    } catch (err) {
      this.#waiting.delete(id);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
