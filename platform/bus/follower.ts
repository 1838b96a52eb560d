/**
 * Follows a bus stream from its beginning into this instance's memory: the building block of
 * state shared through the bus (the device registry's logs, device liveness). Every instance
 * reads everything (its own consumer group). `sync()` reads where each partition of the stream
 * ends and resolves once this instance has folded every message below those ends, so everything
 * published before the call is visible here (read-your-writes across instances); `open` does that
 * once, so a follower is caught up when it resolves. A follower writes nothing to catch up: a
 * reader's Kafka user needs no Write on the stream it follows (platform/bus/acl-spec.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Bus, ConsumedMessage, StreamSpec, Subscription } from './bus.ts';
import { CatchUpPositions } from './catch-up.ts';
import { PulsebridgeError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * The marker `sync()` published and waited to read back until it read end offsets instead: the
 * streams in the field still hold such markers, and followers of older versions may still write
 * them. They are skipped (never handed to onMessage), and count as read like any message.
 */
const SYNC_SCHEMA = 'pb.log-sync.v1';

/** The start of a follower's own consumer group on `stream` (its Kafka ACL is on this prefix: platform/bus/acl-spec.ts). */
export const followerGroupPrefix = (stream: string): string => `pb-${stream}-`;

export interface BusFollowerOptions {
  bus: Bus;
  stream: StreamSpec;
  logger: Logger;
  /** Each message that is not a sync marker, parsed as JSON, in log order. */
  onMessage: (value: unknown, message: ConsumedMessage) => void;
  /** Consumer group; default a unique one per instance. */
  groupId?: string;
  /** How long `sync()` and `expect()` wait. Default 10 s. */
  visibleTimeoutMs?: number;
}

export class BusFollower {
  readonly #o: BusFollowerOptions;
  readonly #timeoutMs: number;
  readonly #waiters = new Map<string, (value: boolean) => void>();
  /** What this follower has folded, for `sync()` (catch-up.ts). */
  readonly #read = new CatchUpPositions();
  #subscription: Subscription | undefined;

  private constructor(options: BusFollowerOptions) {
    this.#o = options;
    this.#timeoutMs = options.visibleTimeoutMs ?? 10_000;
  }

  /** Creates the stream if needed, replays it, and resolves once caught up. */
  static async open(options: BusFollowerOptions): Promise<BusFollower> {
    const f = new BusFollower(options);
    await options.bus.ensureStreams([options.stream]);
    f.#subscription = await options.bus.subscribe(options.stream.name, {
      groupId: options.groupId ?? `${followerGroupPrefix(options.stream.name)}${randomUUID()}`,
      // A random group is this follower's alone: deleted when it closes.
      ephemeralGroup: options.groupId === undefined,
      fromBeginning: true,
      onBatch: async (batch) => {
        for (const m of batch) f.#receive(m);
        f.#read.folded(batch);
      },
    });
    await f.sync();
    return f;
  }

  async publish(key: string, value: unknown): Promise<void> {
    await this.#o.bus.publish(this.#o.stream.name, [{ key, value: Buffer.from(JSON.stringify(value)) }]);
  }

  async publishAll(messages: { key: string; value: unknown }[]): Promise<void> {
    if (messages.length === 0) return;
    await this.#o.bus.publish(this.#o.stream.name, messages.map((m) => ({ key: m.key, value: Buffer.from(JSON.stringify(m.value)) })));
  }

  /**
   * Resolves once every message published (and acknowledged) before the call is folded here,
   * this instance's own included; rejects (PB_BUS_UNAVAILABLE) when the bus cannot say where the
   * stream ends or the follower does not get there within the visibility timeout.
   */
  async sync(): Promise<void> {
    if (!(await this.#read.caughtUp(this.#subscription!, this.#timeoutMs))) {
      throw new PulsebridgeError('PB_BUS_UNAVAILABLE', `${this.#o.stream.name}: this instance did not catch up with the stream within ${this.#timeoutMs} ms`);
    }
  }

  /** Waits until `settle(id, …)` is called while folding (e.g. a writer waiting for its own event). */
  expect(id: string): Promise<boolean> {
    const expected = new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new PulsebridgeError('PB_BUS_UNAVAILABLE', `${this.#o.stream.name}: this instance did not see its own write within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiters.set(id, (value) => { clearTimeout(timer); this.#waiters.delete(id); resolve(value); });
    });
    // A caller whose publish failed never awaits this; its timeout must not become an unhandled
    // rejection that ends the process (issue 9: a gateway with 10,000 devices exited this way).
    // Nor may a publish that outlasts the wait (a broker that is down: the gateway died in the fault
    // suite's Kafka restart, test/platform/bus/follower.test.ts). Callers that await it still get the rejection.
    expected.catch(() => {});
    return expected;
  }

  settle(id: string, value: boolean): void {
    this.#waiters.get(id)?.(value);
  }

  async close(): Promise<void> {
    this.#read.release();
    await this.#subscription?.stop();
    for (const resolve of [...this.#waiters.values()]) resolve(false);
  }

  #receive(m: ConsumedMessage): void {
    let value: unknown;
    try {
      value = JSON.parse(m.value.toString('utf8'));
    } catch (err) {
      this.#o.logger.warn('unreadable message skipped', { stream: this.#o.stream.name, offset: m.offset, err: err as Error });
      return;
    }
    if ((value as { schema?: unknown } | null)?.schema === SYNC_SCHEMA) return;
    try {
      this.#o.onMessage(value, m);
    } catch (err) {
      // A message this version cannot fold must not stop the fold of every later one.
      this.#o.logger.warn('message could not be folded; skipped', { stream: this.#o.stream.name, offset: m.offset, err: err as Error });
    }
  }
}
