/**
 * A cap on work in progress, first come, first served. The gateway caps telemetry frames handed
 * to the bus and not yet acknowledged; the dashboard API caps requests being answered at once.
 *
 * Gateway: a global cap on telemetry frames handed to the bus and not yet acknowledged by it. When the
 * bus is slow, frames beyond the cap wait here (first come, first served) inside aedes'
 * authorizePublish; aedes reads no further packets from a socket while its last batch is still
 * there, so the kernel's TCP window closes and devices are slowed down instead of the gateway
 * buffering without bound.
 */
export class InFlightLimit {
  readonly #max: number;
  #inFlight = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(max: number) {
    if (!(max >= 1)) throw new RangeError('the in-flight limit must be at least 1');
    this.#max = max;
  }

  get inFlight(): number { return this.#inFlight; }
  get waiting(): number { return this.#waiters.length; }

  /** Takes a slot: undefined when taken at once, else a promise that settles when it is. */
  acquire(): Promise<void> | undefined {
    if (this.#inFlight < this.#max && this.#waiters.length === 0) {
      this.#inFlight++;
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push(() => { this.#inFlight++; resolve(); }));
  }

  release(): void {
    this.#inFlight--;
    const next = this.#waiters.shift();
    if (next) next();
  }
}
