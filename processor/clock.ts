/**
 * Wall clock and timers for the processor's wall-clock duties (signal loss, escalation), injected
 * so lifecycle tests drive time by hand instead of waiting. Detection itself never reads it: it
 * runs on device time.
 */

/** Opaque timer handle. */
export type TimerHandle = object;

export interface Clock {
  /** Wall-clock time, ms since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` of wall-clock time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. Timers are unref'd: a pending escalation must not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A clock that only moves when told to (tests). `advance(ms)` runs every timer that falls due,
 * in due order, each seeing `now()` equal to its due time.
 */
export class ManualClock implements Clock {
  #nowMs: number;
  #seq = 0;
  readonly #timers = new Map<object, { dueMs: number; seq: number; fn: () => void }>();

  constructor(startMs: number) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = {};
    this.#timers.set(handle, { dueMs: this.#nowMs + Math.max(0, ms), seq: this.#seq++, fn });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Pending timers (diagnostics). */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order (timers set while firing count too). */
  advance(ms: number): void {
    const target = this.#nowMs + ms;
    for (;;) {
      let next: [object, { dueMs: number; seq: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].dueMs <= target && (!next || entry[1].dueMs < next[1].dueMs || (entry[1].dueMs === next[1].dueMs && entry[1].seq < next[1].seq))) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#nowMs = Math.max(this.#nowMs, next[1].dueMs);
      next[1].fn();
    }
    this.#nowMs = target;
  }
}
