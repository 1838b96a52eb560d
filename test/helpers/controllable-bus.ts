/**
 * A Bus test double that implements the same port as the real adapters (no module mocks):
 * delegates to an InProcessBus, and lets a test hold publishes (to prove nothing is acknowledged
 * before the bus is) or fail them (bus unreachable).
 */
import type { Bus, BusMessage, SubscribeOptions, Subscription } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { PulsebridgeError } from '../../platform/errors.ts';

export class ControllableBus implements Bus {
  readonly inner = new InProcessBus();
  #held: (() => void)[] = [];
  #holding = false;
  #failing = false;
  publishCalls = 0;

  hold(): void { this.#holding = true; }
  release(): void {
    this.#holding = false;
    for (const r of this.#held.splice(0)) r();
  }
  fail(failing: boolean): void { this.#failing = failing; }

  async publish(stream: string, messages: BusMessage[]): Promise<void> {
    this.publishCalls++;
    if (this.#holding) await new Promise<void>((r) => this.#held.push(r));
    if (this.#failing) throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'test: bus unreachable');
    return this.inner.publish(stream, messages);
  }
  subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> { return this.inner.subscribe(stream, options); }
  ensureStreams(): Promise<void> { return Promise.resolve(); }
  close(): Promise<void> { return this.inner.close(); }
}
