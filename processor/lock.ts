/**
 * Serializes the processor's asynchronous work — telemetry batches, wall-clock timers and
 * clinician snapshots — so a patient stream's state never changes while a batch is analysing it.
 */
export class Lock {
  #tail: Promise<void> = Promise.resolve();

  /** Runs `fn` after everything queued before it; its result or error goes to the caller only. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  /** Resolves once nothing is running or queued, including work that just-fired timers enqueue. */
  async settled(): Promise<void> {
    for (;;) {
      const tail = this.#tail;
      await tail;
      // Let timer callbacks that were just fired enqueue their work.
      await new Promise((r) => setImmediate(r));
      if (tail === this.#tail) return;
    }
  }
}
