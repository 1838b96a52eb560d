/**
 * Whether a component's bus subscriptions consume, for its /healthz and /metrics: one watcher per
 * process (cli/main.ts), shared by the gateway's and processor's ops server, the dashboard API's
 * /healthz and the ehr-exporter's. Through a Kafka outage every one of them said `ok` while its
 * kafkajs consumers crashed and started over again and again and nothing was exported, evaluated or
 * followed (operator walkthrough of the production topology, SASL_SSL).
 *
 * A subscription is reported once it has not consumed for {@link BUS_CONSUMER_HEALTH_DEFAULTS.graceMs}
 * (counted from its last progress, Subscription.status' `sinceMs`): crashed (and starting over, by
 * kafkajs or by the bus), rebalancing, not joined its group, or stalled. Why a grace: a normal
 * rebalance (another instance joins or leaves) stops every member's consuming until it rejoins,
 * which a member notices at its next heartbeat (3 s) and which then takes a join and a sync round
 * (a second or two, plus the batch in hand): /healthz must not flap for it. 10 s is two heartbeats and the join with room
 * to spare; a broker outage still shows as soon as the consumers crash (kafkajs crashes them ~10 s
 * into an outage, past its retries, and the time counts from the last fetch that answered). An idle
 * subscription is consuming: a Kafka consumer with nothing to read still fetches every 500 ms.
 *
 * While one is reported: `problems()` lists them, `pb_bus_subscriptions_not_consuming` is their
 * number, one error line names those newly reported (at most one line a second) and one info line
 * those consuming again.
 */
import type { Bus, SubscriptionStatus } from './bus.ts';
import type { Logger } from '../log.ts';
import type { MetricsRegistry } from '../metrics.ts';

export const BUS_CONSUMER_HEALTH_DEFAULTS = {
  /** A subscription is reported after not consuming for this long, ms (see the file comment). */
  graceMs: 10_000,
  /** How often the gauge and the log are brought up to date, ms. */
  checkIntervalMs: 1_000,
};

/** What /healthz says about a subscription that does not consume. */
export interface BusSubscriptionProblem {
  stream: string;
  groupId: string;
  state: Exclude<SubscriptionStatus['state'], 'consuming'>;
  /** Since when it has not consumed (ISO). */
  since: string;
  reason: string;
}

export interface BusConsumerHealth {
  /** The subscriptions that have not consumed for the grace or longer; empty while all consume. */
  problems(): BusSubscriptionProblem[];
  close(): void;
}

export function watchBusConsumers(o: {
  bus: Pick<Bus, 'subscriptionStatuses'>;
  logger: Logger;
  metrics: MetricsRegistry;
  graceMs?: number;
  checkIntervalMs?: number;
  now?: () => number;
}): BusConsumerHealth {
  const now = o.now ?? Date.now;
  const graceMs = o.graceMs ?? BUS_CONSUMER_HEALTH_DEFAULTS.graceMs;
  const gauge = o.metrics.gauge('pb_bus_subscriptions_not_consuming', 'Bus subscriptions of this process that have not consumed for 10 s or more (consumer crashed or restarting, rebalancing, not joined its group, or stalled)');
  gauge.set({}, 0);

  const key = (s: { stream: string; groupId: string }) => `${s.stream}\n${s.groupId}`;
  const problemsOf = (statuses: SubscriptionStatus[]): BusSubscriptionProblem[] => {
    const t = now();
    return statuses
      .filter((s) => !s.consuming && s.state !== 'consuming' && t - s.sinceMs >= graceMs)
      .map((s) => ({ stream: s.stream, groupId: s.groupId, state: s.state as BusSubscriptionProblem['state'], since: new Date(s.sinceMs).toISOString(), reason: s.reason ?? s.state }));
  };

  /** Reported subscriptions by stream and group. */
  let reported = new Map<string, BusSubscriptionProblem>();
  /** Brings the gauge and the log up to date (every second, and at each /healthz) and answers the problems. */
  const check = (): BusSubscriptionProblem[] => {
    const statuses = o.bus.subscriptionStatuses?.() ?? [];
    const current = problemsOf(statuses);
    gauge.set({}, current.length);
    const next = new Map(current.map((p) => [key(p), p]));
    const fresh = current.filter((p) => !reported.has(key(p)));
    // Consuming again, not stopped (a stopping component's subscriptions just leave the list).
    const running = new Set(statuses.map(key));
    const recovered = [...reported].filter(([k]) => !next.has(k) && running.has(k)).map(([, p]) => p);
    reported = next;
    if (fresh.length > 0) {
      o.logger.error(`bus subscription${fresh.length > 1 ? 's' : ''} not consuming: ${fresh.map((p) => p.stream).join(', ')} — /healthz says degraded until ${fresh.length > 1 ? 'they consume' : 'it consumes'} again`, {
        subscriptions: fresh.map((p) => ({ stream: p.stream, groupId: p.groupId, state: p.state, since: p.since, reason: p.reason })),
      });
    }
    if (recovered.length > 0) {
      o.logger.info(`bus subscription${recovered.length > 1 ? 's' : ''} consuming again: ${recovered.map((p) => p.stream).join(', ')}`, {
        subscriptions: recovered.map((p) => ({ stream: p.stream, groupId: p.groupId, notConsumingSince: p.since })),
      });
    }
    return current;
  };
  const timer = setInterval(check, o.checkIntervalMs ?? BUS_CONSUMER_HEALTH_DEFAULTS.checkIntervalMs);
  timer.unref();

  return {
    problems: check,
    close: () => clearInterval(timer),
  };
}
