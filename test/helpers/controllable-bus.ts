/**
 * A Bus test double that implements the same port as the real adapters (no module mocks):
 * delegates to an InProcessBus, and lets a test hold publishes (to prove nothing is acknowledged
 * before the bus is) or fail them (bus unreachable).
 */
import type { Bus, BusMessage, SubscribeOptions, Subscription } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { PulsebridgeError } from '../../platform/errors.ts';

/** One publish waiting in a held bus. */
export interface HeldPublish {
  readonly stream: string;
  readonly messages: BusMessage[];
  /** The bus acknowledges it (stored in the inner bus). */
  release(): void;
  /** The bus fails it (PB_BUS_UNAVAILABLE); nothing is stored. */
  fail(): void;
}

export class ControllableBus implements Bus {
  readonly inner = new InProcessBus();
  #held: HeldPublish[] = [];
  #holding = false;
  #failing = false;
  publishCalls = 0;

  hold(): void { this.#holding = true; }
  /** Stops holding and lets every held publish go on (each then fails if `fail(true)`). */
  release(): void {
    this.#holding = false;
    for (const h of this.#held.splice(0)) h.release();
  }
  fail(failing: boolean): void { this.#failing = failing; }
  /** Publishes held right now, oldest first; settle each one on its own with release()/fail(). */
  get held(): readonly HeldPublish[] { return this.#held; }

  async publish(stream: string, messages: BusMessage[]): Promise<void> {
    this.publishCalls++;
    if (this.#holding) {
      const failThis = await new Promise<boolean>((resolve) => {
        const h: HeldPublish = {
          stream,
          messages,
          release: () => { this.#drop(h); resolve(false); },
          fail: () => { this.#drop(h); resolve(true); },
        };
        this.#held.push(h);
      });
      if (failThis) throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'test: this publish was failed');
    }
    if (this.#failing) throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'test: bus unreachable');
    return this.inner.publish(stream, messages);
  }
  #drop(h: HeldPublish): void {
    const i = this.#held.indexOf(h);
    if (i >= 0) this.#held.splice(i, 1);
  }
  subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> { return this.inner.subscribe(stream, options); }
  ensureStreams(): Promise<void> { return Promise.resolve(); }
  close(): Promise<void> { return this.inner.close(); }
}
