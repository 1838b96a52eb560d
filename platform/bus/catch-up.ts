/**
 * "Has this reader read everything published before now?" without writing to the stream: the
 * catch-up of BusFollower.sync (follower.ts) and of the processor's and the API's changelog tables
 * (processor/changelog-table.ts). The reader notes each batch it has folded; a catch-up asks the
 * subscription where each partition ends (Subscription.endOffsets) and resolves once the reader
 * has folded the message below each end, or the partition holds nothing any more. With acks=all
 * every acknowledged publish is below those ends, so this covers everything published and
 * acknowledged before the call, the reader's own process's writes included. A reader's Kafka user
 * therefore needs no Write on the stream it catches up on (platform/bus/acl-spec.ts): readers used
 * to publish a marker and wait to read it back.
 */
import type { PartitionEnd, Subscription } from './bus.ts';

/** A catch-up waiting for the reader to reach the ends it read. */
interface Waiting { ends: readonly PartitionEnd[]; resolve: () => void }

export class CatchUpPositions {
  /** Per partition, the offset after the last message folded. */
  readonly #positions = new Map<number, bigint>();
  readonly #waiting = new Set<Waiting>();
  #released = false;

  /**
   * Notes every message of a batch as read (those the reader skipped too: old markers, records it
   * cannot parse), once the batch has been folded; wakes the catch-ups it completes.
   */
  folded(batch: readonly { partition: number; offset: string }[]): void {
    for (const m of batch) {
      const next = BigInt(m.offset) + 1n;
      if (next > (this.#positions.get(m.partition) ?? -1n)) this.#positions.set(m.partition, next);
    }
    for (const w of [...this.#waiting]) if (this.#reached(w.ends)) w.resolve();
  }

  /**
   * Resolves true once every message below the ends `subscription` reports now has been folded
   * (or the reader stopped: {@link release}), false after `timeoutMs`. Rejects when the bus cannot
   * say where the stream ends (PB_BUS_UNAVAILABLE, PB_BUS_CLOSED) within that time.
   */
  async caughtUp(subscription: Pick<Subscription, 'endOffsets'>, timeoutMs: number): Promise<boolean> {
    if (this.#released) return true;
    let timer: NodeJS.Timeout | undefined;
    let waiting: Waiting | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const reached = (async () => {
      const ends = await subscription.endOffsets();
      if (this.#released || this.#reached(ends)) return true;
      await new Promise<void>((resolve) => {
        waiting = { ends, resolve };
        this.#waiting.add(waiting);
      });
      return true;
    })();
    // Once the wait timed out, nobody awaits the offsets request any more: its later failure must
    // not become an unhandled rejection that ends the process.
    reached.catch(() => {});
    try {
      return await Promise.race([reached, timedOut]);
    } finally {
      clearTimeout(timer);
      if (waiting) this.#waiting.delete(waiting);
    }
  }

  /** The reader stopped: waiting catch-ups resolve (true), and later ones at once. */
  release(): void {
    this.#released = true;
    for (const w of [...this.#waiting]) w.resolve();
  }

  /** Per partition: this reader is at its end, or it holds nothing (retention dropped all). */
  #reached(ends: readonly PartitionEnd[]): boolean {
    return ends.every((p) => BigInt(p.start) >= BigInt(p.end) || (this.#positions.get(p.partition) ?? -1n) >= BigInt(p.end));
  }
}
