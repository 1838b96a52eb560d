/**
 * The processor's wall-clock duties per stream (injected {@link Clock}): signal loss — no frame of
 * a stream for `signal_loss.silenceMs` (default 10 s) — and escalation of unacknowledged
 * high-priority alerts. A due timer queues its work on the {@link Lock}, so it never runs while
 * a batch is analysing the same stream.
 *
 * Signal loss is not bus loss: with the gateways' liveness at hand (`upstream`), a silence whose
 * cause is the infrastructure (silence-cause.ts) is held as one operator alarm
 * (infrastructure-gap.ts) instead of a patient alarm, the stream's detectors keep what they hold
 * (the delayed frames are analysed on device time when they come), and the cause is judged again
 * every {@link SILENCE_RECHECK_MS} until frames arrive or the silence turns out to be the device's.
 */
import type { Logger } from '../platform/log.ts';
import type { Clock } from './clock.ts';
import type { Lock } from './lock.ts';
import type { ProcessorOutputs } from './outputs.ts';
import type { InfrastructureGap } from './infrastructure-gap.ts';
import { silenceCause, type UpstreamLiveness } from './silence-cause.ts';
import type { StreamEntry } from './stream-table.ts';

/** How often a held silence is judged again, ms (two gateway heartbeats). */
export const SILENCE_RECHECK_MS = 2000;

export interface StreamTimersOptions {
  clock: Clock;
  lock: Lock;
  logger: Logger;
  outputs: ProcessorOutputs;
  /** Whether changelog records are written (the processor started). */
  withChangelog: () => boolean;
  stopping: () => boolean;
  /** The gateways' liveness (registry); without it every silence is the device's, as before. */
  upstream?: UpstreamLiveness;
  gap?: InfrastructureGap;
}

export class StreamTimers {
  readonly #o: StreamTimersOptions;

  constructor(options: StreamTimersOptions) {
    this.#o = options;
  }

  /** After a batch or a restore: (re)arm both timers of the stream. */
  sync(entry: StreamEntry): void {
    this.armSilence(entry);
    this.syncEscalation(entry);
  }

  /** A frame of the stream arrived: a held silence is over. */
  arrived(entry: StreamEntry): void {
    this.#o.gap?.release(entry.key);
  }

  /** Arms the signal-loss timer, unless one is armed or signal loss is already open. */
  armSilence(entry: StreamEntry, recheck = false): void {
    if (entry.silenceTimer || entry.rt.signalLossOpen || this.#o.stopping()) return;
    const dueMs = recheck ? this.#o.clock.now() + SILENCE_RECHECK_MS : entry.lastArrivalMs + entry.rt.silenceMs;
    entry.silenceTimer = this.#o.clock.setTimeout(() => {
      entry.silenceTimer = undefined;
      this.#queue('signal-loss handling', () => this.#onSilence(entry));
    }, dueMs - this.#o.clock.now());
  }

  /** Moves the escalation timer to the stream's next due escalation (or clears it). */
  syncEscalation(entry: StreamEntry): void {
    if (this.#o.stopping()) return;
    const { clock } = this.#o;
    let due = entry.rt.nextEscalationDueMs();
    if (due !== undefined) due = Math.max(due, entry.notBeforeMs);
    if (due === entry.escalationDueMs && (due === undefined || entry.escalationTimer)) return;
    if (entry.escalationTimer) clock.clearTimeout(entry.escalationTimer);
    entry.escalationTimer = undefined;
    entry.escalationDueMs = due;
    if (due === undefined) return;
    entry.escalationTimer = clock.setTimeout(() => {
      entry.escalationTimer = undefined;
      entry.escalationDueMs = undefined;
      this.#queue('escalation', () => this.#onEscalation(entry));
    }, due - clock.now());
  }

  clear(entry: StreamEntry): void {
    this.#o.gap?.release(entry.key);
    if (entry.silenceTimer) this.#o.clock.clearTimeout(entry.silenceTimer);
    if (entry.escalationTimer) this.#o.clock.clearTimeout(entry.escalationTimer);
  }

  #queue(what: string, fn: () => Promise<void>): void {
    void this.#o.lock.run(fn).catch((err: unknown) => this.#o.logger.error(`${what} failed`, { err: err as Error }));
  }

  async #onSilence(entry: StreamEntry): Promise<void> {
    if (entry.dropped || this.#o.stopping()) return;
    const silenceMs = entry.rt.silenceMs;
    const { clock } = this.#o;
    if (clock.now() - entry.lastArrivalMs < silenceMs) return this.armSilence(entry);
    const { upstream, gap } = this.#o;
    if (upstream && gap) {
      const verdict = silenceCause(upstream.get(entry.rt.deviceId), {
        lastArrivalMs: entry.lastArrivalMs, lastReceivedAtMs: entry.lastReceivedAtMs, patientId: entry.rt.patientId, nowMs: clock.now(), silenceMs,
      });
      if (verdict.cause === 'infrastructure') {
        gap.hold(entry.key, verdict);
        return this.armSilence(entry, true);
      }
      gap.release(entry.key);
    }
    const alerts = entry.rt.onSilence(new Date(clock.now()).toISOString(), silenceMs);
    // Strips waiting for their post-onset window are handed out with what arrived, before the
    // changelog record that no longer holds them (stream-state.ts).
    await this.#o.outputs.writeEcgStrips(entry.rt.takeStrips());
    await this.#o.outputs.writeStreams([entry], alerts, this.#o.withChangelog());
    this.syncEscalation(entry);
  }

  async #onEscalation(entry: StreamEntry): Promise<void> {
    if (entry.dropped || this.#o.stopping()) return;
    const alerts = entry.rt.escalate(this.#o.clock.now());
    if (alerts.length > 0) this.#o.logger.warn('unacknowledged high-priority alert escalated', { ids: alerts.map((a) => a.id), levels: alerts.map((a) => a.escalationLevel) });
    await this.#o.outputs.writeStreams([entry], alerts, this.#o.withChangelog());
    this.syncEscalation(entry);
  }
}
