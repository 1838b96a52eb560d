/**
 * Where an alert's ECG strip meets the alert in the exporter. The processor publishes a strip on
 * STREAMS.ecgStrips once the post-event window has passed on device time (contracts/ecg-strip.ts),
 * i.e. some seconds after the alert was raised; the exporter wants both in one transaction Bundle.
 *
 * - The alert export waits for its strip until `detectedAt + ecgWaitMs` (wall clock), then goes
 *   without it (a device that streams no ECG has none). Waiting holds the alert's batch
 *   uncommitted, so a crash while waiting loses nothing.
 * - The strip consumer parks each strip here and waits briefly for the alert export to take it. A
 *   strip that is not taken in time (its alert was exported without it, or the exporter lags behind)
 *   is written on its own and linked: from the alert Observation with If-Match if that exists, else
 *   from the alert's Bundle when it is written (exporter.ts attachLateStrip, exportRhythm).
 * Strips are kept only until taken or written, so memory stays bounded by the strips in flight.
 */
import type { EcgStrip } from '../contracts/ecg-strip.ts';

/** Bound of the "exported without a strip" memory; an older miss only costs the strip a wait. */
const MISSED_LIMIT = 10_000;

/** Adds to a set that keeps only the latest MISSED_LIMIT ids. */
function remember(set: Set<string>, alertId: string): void {
  set.delete(alertId);
  set.add(alertId);
  if (set.size > MISSED_LIMIT) set.delete(set.values().next().value!);
}

interface Parked {
  strip: EcgStrip;
  taken: boolean;
  onTaken: Set<(taken: boolean) => void>;
}

export class StripInbox {
  readonly #parked = new Map<string, Parked>();
  readonly #waiting = new Map<string, Set<(strip: EcgStrip) => void>>();
  /** Alert ids exported without a strip (the latest MISSED_LIMIT): a strip that arrives later is attached at once. */
  readonly #missed = new Set<string>();
  /**
   * Alert ids whose strip left the inbox without an alert export taking it (written on its own,
   * parked or dead-lettered; the latest MISSED_LIMIT): their export must not wait for it. Alerts
   * are one partition, so an alert export can be held behind earlier alerts' until its strip's
   * grace has run out; it then waited the whole `ecgWaitMs` (20 s).
   */
  readonly #gone = new Set<string>();
  /** Alerts whose export is under way (in a batch being handled), with how many exports of each. */
  readonly #exporting = new Map<string, number>();
  /** Strip waits whose grace ran out while their alert's export was under way: settled when it ends. */
  readonly #afterExport = new Map<string, Set<() => void>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Parks a strip and hands it to an alert export already waiting for it. */
  put(strip: EcgStrip): void {
    const parked = this.#parked.get(strip.alertId) ?? { strip, taken: false, onTaken: new Set() };
    parked.strip = strip;
    this.#parked.set(strip.alertId, parked);
    for (const resolve of this.#waiting.get(strip.alertId) ?? []) resolve(strip);
    this.#waiting.delete(strip.alertId);
  }

  /** The alert's strip if it is here or arrives before `deadlineMs`; undefined after. */
  async waitFor(alertId: string, deadlineMs: number, signal?: AbortSignal): Promise<EcgStrip | undefined> {
    const here = this.#parked.get(alertId);
    if (here) return here.strip;
    if (this.#gone.has(alertId)) return undefined;
    const remaining = deadlineMs - this.#now();
    if (remaining <= 0 || signal?.aborted) {
      this.#miss(alertId);
      return undefined;
    }
    return new Promise<EcgStrip | undefined>((resolve) => {
      const set = this.#waiting.get(alertId) ?? new Set();
      const done = (strip: EcgStrip | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(onStrip);
        if (!strip) this.#miss(alertId);
        resolve(strip);
      };
      const onStrip = (strip: EcgStrip) => done(strip);
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), remaining);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(onStrip);
      this.#waiting.set(alertId, set);
    });
  }

  /** The alert's Bundle carrying the strip was written. */
  taken(alertId: string): void {
    const parked = this.#parked.get(alertId);
    this.#missed.delete(alertId);
    if (!parked) return;
    parked.taken = true;
    this.#parked.delete(alertId);
    for (const f of parked.onTaken) f(true);
  }

  /**
   * Resolves true once an alert export took the strip, false after `timeoutMs` or at once when the
   * alert was already exported without it. When `timeoutMs` runs out while the alert's export is
   * under way ({@link exporting}), it waits for that export to end: the export is about to take the
   * strip, and a strip written on its own costs the EHR a second write and a link. The strip stays
   * parked until {@link release}.
   */
  whenTaken(alertId: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const parked = this.#parked.get(alertId);
    if (!parked) return Promise.resolve(true);
    if (this.#missed.has(alertId) || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const afterExport = () => done(parked.taken);
      const done = (taken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        parked.onTaken.delete(done);
        this.#afterExport.get(alertId)?.delete(afterExport);
        resolve(taken);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => {
        if (!this.#exporting.has(alertId)) return done(parked.taken);
        const set = this.#afterExport.get(alertId) ?? new Set();
        set.add(afterExport);
        this.#afterExport.set(alertId, set);
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      parked.onTaken.add(done);
    });
  }

  /**
   * An export of the alert has begun (its batch is being handled); pair with {@link exported}.
   * Alerts are one partition and an export waits inside its batch for its strip, so a strip often
   * comes while its alert is queued behind other alerts of the same batch.
   */
  exporting(alertId: string): void {
    this.#exporting.set(alertId, (this.#exporting.get(alertId) ?? 0) + 1);
  }

  /** An export of the alert has ended (with or without its strip, or failed). */
  exported(alertId: string): void {
    const left = (this.#exporting.get(alertId) ?? 1) - 1;
    if (left > 0) return void this.#exporting.set(alertId, left);
    this.#exporting.delete(alertId);
    const waits = this.#afterExport.get(alertId);
    this.#afterExport.delete(alertId);
    for (const settle of waits ?? []) settle();
  }

  /** Forgets a strip that was written on its own (or parked, or dead-lettered): its alert's export will not wait for it. */
  release(alertId: string): void {
    this.#parked.delete(alertId);
    this.#missed.delete(alertId);
    remember(this.#gone, alertId);
  }

  #miss(alertId: string): void {
    remember(this.#missed, alertId);
  }

  get size(): number {
    return this.#parked.size;
  }
}
