/**
 * The processor's heartbeat (contracts/processor-heartbeat.ts): one record every
 * {@link PROCESSOR_HEARTBEAT_MS} on the processor's clock while it runs, so the dashboard API can
 * tell operators and clinicians when no processor evaluates alarms. A beat that cannot be published
 * (the bus is down) is skipped: its absence is the message.
 */
import { PROCESSOR_HEARTBEAT_MS, type ProcessorHeartbeat } from '../contracts/processor-heartbeat.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Clock, TimerHandle } from './clock.ts';

export class ProcessorHeartbeats {
  readonly #o: { bus: Bus; clock: Clock; logger: Logger; instanceId: string; groupId: string };
  #timer: TimerHandle | undefined;
  #stopped = false;
  #failing = false;

  constructor(options: { bus: Bus; clock: Clock; logger: Logger; instanceId: string; groupId: string }) {
    this.#o = options;
  }

  /** Beats now and then every {@link PROCESSOR_HEARTBEAT_MS} until {@link stop}. */
  start(): void {
    this.#stopped = false;
    this.#beat();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #beat(): void {
    if (this.#stopped) return;
    const { bus, clock, instanceId, groupId, logger } = this.#o;
    const beat: ProcessorHeartbeat = { schema: 'pb.processor-heartbeat.v1', instanceId, groupId, atMs: clock.now() };
    bus.publish(STREAMS.processorHeartbeats, [{ key: instanceId, value: Buffer.from(JSON.stringify(beat)) }]).then(
      () => { this.#failing = false; },
      (err: unknown) => {
        // Once per outage: the bus's own errors are logged by whoever waits on it.
        if (!this.#failing) logger.warn('processor heartbeat could not be published', { err: err as Error });
        this.#failing = true;
      },
    );
    this.#timer = clock.setTimeout(() => this.#beat(), PROCESSOR_HEARTBEAT_MS);
  }
}
