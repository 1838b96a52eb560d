/**
 * The operator alarm for an infrastructure gap (silence-cause.ts): streams whose silence is the
 * infrastructure's, not the device's, are HELD here instead of raising patient `signal_loss`.
 * While any stream is held the processor reports one alarm to operators — an error log line when
 * it starts, a warning when it ends, gauges and a counter in its metrics, and a record on the
 * operator-alarm stream (contracts/topics.ts STREAMS.operatorAlarms) that the dashboard API shows
 * in /healthz. A held stream leaves the gap when its frames arrive again (they are analysed on
 * device time; nothing was flushed), or when the evidence turns and the silence is the device's
 * after all (then its patient alarm is raised).
 */
import type { OperatorAlarmRecord } from '../contracts/operator-alarm.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { Clock } from './clock.ts';
import type { SilenceVerdict } from './silence-cause.ts';
import { streamLabel } from './stream-state.ts';

export interface InfrastructureGapOptions {
  bus: Bus;
  logger: Logger;
  metrics: MetricsRegistry;
  clock: Clock;
  instanceId: string;
}

export class InfrastructureGap {
  readonly #o: InfrastructureGapOptions;
  readonly #held = new Map<string, { verdict: SilenceVerdict & { cause: 'infrastructure' } }>();
  #sinceMs: number | undefined;
  readonly #gauge;
  readonly #gaps;
  readonly #heldTotal;
  /** Publishes one after the other; the latest state wins. */
  #publishing: Promise<void> = Promise.resolve();

  constructor(options: InfrastructureGapOptions) {
    this.#o = options;
    const m = options.metrics;
    this.#gauge = m.gauge('pb_processor_infrastructure_gap_streams', 'Streams whose silence is held as an infrastructure gap (bus, gateway or lag), not raised as patient signal loss');
    this.#gaps = m.counter('pb_processor_infrastructure_gaps_total', 'Infrastructure gaps (operator alarms) started');
    this.#heldTotal = m.counter('pb_processor_signal_loss_held_total', 'Patient signal-loss alarms held back because the silence was the infrastructure\'s');
    this.#gauge.set({}, 0);
  }

  get active(): boolean {
    return this.#held.size > 0;
  }

  isHeld(streamKey: string): boolean {
    return this.#held.has(streamKey);
  }

  /** The stream's silence is the infrastructure's: hold its patient alarm. */
  hold(streamKey: string, verdict: SilenceVerdict & { cause: 'infrastructure' }): void {
    const isNew = !this.#held.has(streamKey);
    this.#held.set(streamKey, { verdict });
    if (isNew) this.#heldTotal.inc();
    this.#gauge.set({}, this.#held.size);
    if (this.#sinceMs === undefined) {
      this.#sinceMs = this.#o.clock.now();
      this.#gaps.inc();
      this.#o.logger.error('OPERATOR ALARM: infrastructure gap — telemetry is not reaching the processor; patient signal-loss alarms are held until the cause is known', {
        reason: verdict.reason, gateways: this.#gateways(),
      });
    }
    if (isNew) this.#publish('active');
  }

  /** Frames of the stream arrived again, or its silence turned out to be the device's. */
  release(streamKey: string): void {
    if (!this.#held.delete(streamKey)) return;
    this.#gauge.set({}, this.#held.size);
    if (this.#held.size > 0 || this.#sinceMs === undefined) return;
    const durationMs = this.#o.clock.now() - this.#sinceMs;
    this.#o.logger.warn('operator alarm cleared: infrastructure gap over, telemetry flows again', { durationMs });
    this.#publish('cleared');
    this.#sinceMs = undefined;
  }

  #gateways(): string[] {
    return [...new Set([...this.#held.values()].map((h) => h.verdict.gatewayId ?? '(unknown)'))].sort();
  }

  /** In the background: the bus may be the very thing that is down. */
  #publish(state: 'active' | 'cleared'): void {
    const streams = [...this.#held.keys()].map(streamLabel);
    const record: OperatorAlarmRecord = {
      schema: 'pb.operator-alarm.v1', source: `processor/${this.#o.instanceId}`, kind: 'infrastructure_gap', state,
      sinceMs: this.#sinceMs ?? this.#o.clock.now(), atMs: this.#o.clock.now(), streams: streams.slice(0, 50), streamCount: streams.length,
      gateways: this.#gateways(), reason: [...this.#held.values()][0]?.verdict.reason ?? 'telemetry flows again',
    };
    this.#publishing = this.#publishing.then(() => this.#o.bus.publish(STREAMS.operatorAlarms, [{ key: record.source, value: Buffer.from(JSON.stringify(record)) }]))
      .catch((err: unknown) => this.#o.logger.warn('operator alarm could not be published (the log line above stands)', { state, err: err as Error }));
  }

  /** Resolves once the operator-alarm records queued so far were published or given up. */
  flushed(): Promise<void> {
    return this.#publishing;
  }
}
