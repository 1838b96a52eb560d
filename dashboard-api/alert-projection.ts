/**
 * The dashboard's view of the alerts stream: folds every snapshot with mergeAlert into the
 * current state of each alert and keeps the ordered event log behind the WebSocket stream. The
 * alerts stream has one partition (contracts/topics.ts), so the bus offset is a total order and
 * serves as the event id a reconnecting client resumes from.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ALERT_KINDS, mergeAlert } from '../contracts/alert.ts';
import type { Alert, AlertEnvelope, AlertState } from '../contracts/alert.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Metric, MetricsRegistry } from '../platform/metrics.ts';

/** One change of one alert, as the stream delivers it. */
export interface AlertEvent {
  /** Bus offset of the alerts stream (decimal string): increasing, the resume point. */
  id: string;
  /** Which component published the snapshot. */
  source: AlertEnvelope['source'];
  /** The alert as folded after this event (what a client should now show). */
  alert: Alert;
  /** Bus append time, ms since epoch. */
  timestampMs: number;
}

export interface AlertQuery {
  patientId?: string;
  /** Restrict to these patients (a clinician's care team); undefined = every patient. */
  patientIds?: ReadonlySet<string>;
  state?: AlertState;
  /** Only alerts whose latest revision (`updatedAt`) is at or after this time, ms since epoch. */
  sinceMs?: number;
  /** At most this many (the newest). */
  limit?: number;
}

export interface AlertProjectionOptions {
  bus: Bus;
  logger: Logger;
  metrics?: MetricsRegistry;
  /**
   * Consumer group. Default: a new `dashboard-api-<uuid>` per instance, so every dashboard
   * instance reads the whole stream (fromBeginning) rather than sharing it with the others.
   */
  groupId?: string;
  /** Events kept for replay; older ones are dropped (a client resuming before them gets a gap). Default 100 000. */
  maxEvents?: number;
}

export type AlertEventListener = (event: AlertEvent) => void;

// Structural check of what arrives on the bus; extra fields are kept (a newer processor may add some).
// Mirrors contracts/alert.ts; belongs there if other consumers want it.
const alertSchema = z.looseObject({
  id: z.string().min(1),
  patientId: z.string().min(1),
  deviceId: z.string(),
  kind: z.enum(ALERT_KINDS),
  category: z.enum(['physiological', 'technical']),
  priority: z.enum(['high', 'medium', 'low']),
  state: z.enum(['active', 'acknowledged', 'resolved']),
  onset: z.string(),
  end: z.string().optional(),
  detectedAt: z.string(),
  evidence: z.looseObject({ criterion: z.string(), thresholds: z.record(z.string(), z.number()) }),
  acknowledgedBy: z.string().optional(),
  acknowledgedAt: z.string().optional(),
  resolvedBy: z.string().optional(),
  resolvedAt: z.string().optional(),
  revision: z.number().int().min(0),
  updatedAt: z.string(),
});
const envelopeSchema = z.object({
  schema: z.literal('pb.alert.v1'),
  source: z.enum(['processor', 'clinician']),
  alert: alertSchema,
});

interface StoredEvent {
  offset: bigint;
  event: AlertEvent;
}

/** Parses an event id (`-1` = before the first event). Undefined when it is not a decimal offset. */
export function parseEventId(text: string): bigint | undefined {
  return /^(-1|0|[1-9][0-9]{0,19})$/.test(text) ? BigInt(text) : undefined;
}

/**
 * Folds the alerts stream. Call {@link start} once; queries answer from memory and are consistent
 * with the event log at the moment of the call (everything runs on one thread).
 */
export class AlertProjection {
  readonly groupId: string;
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #maxEvents: number;
  readonly #alerts = new Map<string, Alert>();
  /** Event id of each alert's latest change. */
  readonly #lastEventOf = new Map<string, string>();
  readonly #events: StoredEvent[] = [];
  readonly #listeners = new Set<AlertEventListener>();
  #head = -1n;
  /** Highest offset dropped by retention (-1 = none dropped). */
  #trimmedThrough = -1n;
  #subscription: Subscription | undefined;
  readonly #eventsTotal: Metric | undefined;
  readonly #unchangedTotal: Metric | undefined;
  readonly #ephemeralGroup: boolean;
  readonly #rejectedTotal: Metric | undefined;
  readonly #alertsGauge: Metric | undefined;

  constructor(options: AlertProjectionOptions) {
    this.#bus = options.bus;
    this.#log = options.logger.child({ component: 'alert-projection' });
    this.groupId = options.groupId ?? `dashboard-api-${randomUUID()}`;
    this.#ephemeralGroup = options.groupId === undefined;
    this.#maxEvents = options.maxEvents ?? 100_000;
    this.#eventsTotal = options.metrics?.counter('pulsebridge_dashboard_alert_events_total', 'Alert snapshots folded from the alerts stream, by source');
    this.#unchangedTotal = options.metrics?.counter('pulsebridge_dashboard_alert_snapshots_unchanged_total', 'Alert snapshots that changed nothing (a re-published or older revision): no event, by source');
    this.#rejectedTotal = options.metrics?.counter('pulsebridge_dashboard_alert_events_rejected_total', 'Messages on the alerts stream that could not be used, by reason');
    this.#alertsGauge = options.metrics?.gauge('pulsebridge_dashboard_alerts', 'Alerts known to the dashboard, by state');
  }

  /** Subscribes to the alerts stream from the beginning. */
  async start(): Promise<void> {
    if (this.#subscription) return;
    this.#subscription = await this.#bus.subscribe(STREAMS.alerts, {
      groupId: this.groupId,
      // A group of this instance alone (random, unless the caller named one): deleted when it stops.
      ephemeralGroup: this.#ephemeralGroup,
      fromBeginning: true,
      onBatch: async (messages) => this.#ingest(messages),
    });
  }

  async stop(): Promise<void> {
    const sub = this.#subscription;
    this.#subscription = undefined;
    await sub?.stop();
  }

  /** Id of the newest event, `-1` when there is none yet. */
  get headEventId(): string {
    return String(this.#head);
  }

  get(alertId: string): Alert | undefined {
    return this.#alerts.get(alertId);
  }

  /** Event id of the latest change of an alert. */
  lastEventIdOf(alertId: string): string | undefined {
    return this.#lastEventOf.get(alertId);
  }

  /**
   * Current alerts matching the query, newest first: by `detectedAt` (when the pipeline raised
   * it), then `onset`, then id, so the order is total and stable.
   */
  query(q: AlertQuery = {}): Alert[] {
    const out: Alert[] = [];
    for (const a of this.#alerts.values()) {
      if (q.patientId !== undefined && a.patientId !== q.patientId) continue;
      if (q.patientIds && !q.patientIds.has(a.patientId)) continue;
      if (q.state !== undefined && a.state !== q.state) continue;
      if (q.sinceMs !== undefined && !(Date.parse(a.updatedAt) >= q.sinceMs)) continue;
      out.push(a);
    }
    out.sort(newestFirst);
    return q.limit !== undefined ? out.slice(0, q.limit) : out;
  }

  /** True when events after `afterId` were already dropped by retention, so a replay would be incomplete. */
  hasGapAfter(afterId: bigint): boolean {
    return afterId < this.#trimmedThrough;
  }

  /** The first event with id > `afterId` whose alert passes `filter`, or undefined if there is none yet. */
  nextEventAfter(afterId: bigint, filter?: (alert: Alert) => boolean): AlertEvent | undefined {
    for (let i = this.#indexAfter(afterId); i < this.#events.length; i++) {
      const e = this.#events[i]!.event;
      if (!filter || filter(e.alert)) return e;
    }
    return undefined;
  }

  /** Every retained event with id > `afterId` (passing `filter`), oldest first. */
  eventsAfter(afterId: bigint, filter?: (alert: Alert) => boolean): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (let i = this.#indexAfter(afterId); i < this.#events.length; i++) {
      const e = this.#events[i]!.event;
      if (!filter || filter(e.alert)) out.push(e);
    }
    return out;
  }

  /** Calls `listener` synchronously after each new event is folded. Returns the unsubscribe function. */
  onEvent(listener: AlertEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves with the alert (and its latest event id) once `predicate` holds for it, checking the
   * current state first; resolves undefined after `timeoutMs`.
   */
  waitForAlert(alertId: string, predicate: (alert: Alert) => boolean, timeoutMs: number): Promise<{ alert: Alert; eventId: string } | undefined> {
    const now = this.#alerts.get(alertId);
    if (now && predicate(now)) return Promise.resolve({ alert: now, eventId: this.#lastEventOf.get(alertId)! });
    return new Promise((resolve) => {
      const timer = setTimeout(() => { off(); resolve(undefined); }, timeoutMs);
      const off = this.onEvent((e) => {
        if (e.alert.id === alertId && predicate(e.alert)) {
          clearTimeout(timer);
          off();
          resolve({ alert: e.alert, eventId: e.id });
        }
      });
    });
  }

  /** Index of the first stored event with offset > afterId (binary search: offsets increase). */
  #indexAfter(afterId: bigint): number {
    let lo = 0;
    let hi = this.#events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#events[mid]!.offset <= afterId) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #ingest(messages: ConsumedMessage[]): void {
    for (const m of messages) {
      if (m.partition !== 0) {
        // Event ids are offsets of the single partition; a second partition would make them ambiguous.
        this.#rejectedTotal?.inc({ reason: 'partition' });
        this.#log.error('alerts stream has more than one partition; message ignored', { partition: m.partition, offset: m.offset });
        continue;
      }
      const offset = BigInt(m.offset);
      // At-least-once delivery: a redelivered batch repeats offsets already folded.
      if (offset <= this.#head) continue;
      this.#head = offset;
      const envelope = this.#parse(m);
      if (!envelope) continue;
      const incoming = envelope.alert as Alert;
      const known = this.#alerts.get(incoming.id);
      // An older revision than the one folded (a processor re-publishes its alerts' latest
      // snapshots after every restart, by design; a dead-letter replay re-publishes an old one) is
      // folded as the older of the two: it cannot take back the newer one's detection fields.
      const merged = Object.freeze(known !== undefined && incoming.revision < known.revision ? mergeAlert(incoming, known) : mergeAlert(known, incoming));
      if (known !== undefined && isDeepStrictEqual(merged, known)) {
        // Nothing new: no event. Before, every processor restart sent every board hundreds of
        // identical alert snapshots under new event ids (an operator's walkthrough counted 446).
        this.#unchangedTotal?.inc({ source: envelope.source });
        continue;
      }
      this.#alerts.set(merged.id, merged);
      if (known?.state !== merged.state) {
        if (known) this.#alertsGauge?.inc({ state: known.state }, -1);
        this.#alertsGauge?.inc({ state: merged.state });
      }
      const event: AlertEvent = Object.freeze({ id: m.offset, source: envelope.source, alert: merged, timestampMs: m.timestamp });
      this.#lastEventOf.set(merged.id, event.id);
      this.#events.push({ offset, event });
      this.#eventsTotal?.inc({ source: envelope.source });
      this.#trim();
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (err) {
          this.#log.error('alert event listener failed', { err, eventId: event.id });
        }
      }
    }
  }

  #parse(m: ConsumedMessage): z.infer<typeof envelopeSchema> | undefined {
    let json: unknown;
    try {
      json = JSON.parse(m.value.toString('utf8'));
    } catch {
      this.#rejectedTotal?.inc({ reason: 'invalid_json' });
      this.#log.warn('alerts stream message is not JSON; skipped', { offset: m.offset });
      return undefined;
    }
    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) {
      this.#rejectedTotal?.inc({ reason: 'schema' });
      this.#log.warn('alerts stream message is not a pb.alert.v1 envelope; skipped', {
        offset: m.offset,
        issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
      });
      return undefined;
    }
    return parsed.data;
  }

  #trim(): void {
    if (this.#events.length <= this.#maxEvents) return;
    // Drop in chunks of 10 % so trimming is not a shift per event.
    const drop = Math.max(1, Math.floor(this.#maxEvents / 10));
    const removed = this.#events.splice(0, drop);
    this.#trimmedThrough = removed[removed.length - 1]!.offset;
  }
}

function newestFirst(a: Alert, b: Alert): number {
  return cmpDesc(a.detectedAt, b.detectedAt) || cmpDesc(a.onset, b.onset) || cmpDesc(a.id, b.id);
}

function cmpDesc(a: string, b: string): number {
  // ISO 8601 strings of one format compare chronologically; parse to be safe with offsets.
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return tb - ta;
  return a < b ? 1 : a > b ? -1 : 0;
}
