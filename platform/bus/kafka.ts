/**
 * Apache Kafka adapter of the bus port (platform/bus/bus.ts), on kafkajs.
 *
 * Producer: idempotent, acks=all (-1), one request in flight per broker connection, so a retried
 * request can neither duplicate nor reorder one key's messages. Retries are bounded on purpose:
 * `publish` must reject (PB_BUS_UNAVAILABLE) rather than hang when the cluster is gone, so the
 * caller (e.g. the gateway) can stop acknowledging devices. Callers retry; every consumer is
 * idempotent (alert ids, FHIR conditional updates), so a duplicate after a give-up is harmless.
 *
 * Consumer: one kafkajs consumer per subscription; a batch is handed to `onBatch`, and its offsets
 * are resolved and committed only after `onBatch` resolved. A failing handler leaves the position
 * where it was, so the same messages come again after `redeliveryDelayMs` (at-least-once).
 *
 * Every kafkajs default that changes behaviour is written out below with its reason.
 */
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, IHeaders, ISocketFactory, LogEntry, Producer } from 'kafkajs';
import type { Bus, BusMessage, ConsumedMessage, PartitionEnd, SubscribeOptions, StreamSpec, Subscription, SubscriptionStatus } from './bus.ts';
import { PulsebridgeError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { mendKafkajsRequestQueue } from './kafkajs-request-queue.ts';
import { kafkaAuthorizationRefusal, kafkaClientSecurity, kafkaSecurityHint } from './kafka-security.ts';
import type { KafkaSecurity } from './kafka-security.ts';
import { kafkaLogForwarder } from './kafka-log.ts';
import type { KafkaLogForwarder } from './kafka-log.ts';

// Every process that loads this adapter talks to Kafka through kafkajs (KafkaBus, the readiness
// probe kafkaAnswers, tests' admin clients): none of its connections spins a 1 ms timer while idle.
const requestQueueMend = mendKafkajsRequestQueue();
if (requestQueueMend.startsWith('left alone')) {
  process.emitWarning(`kafkajs' request queue was ${requestQueueMend} (platform/bus/kafkajs-request-queue.ts); idle connections may poll every millisecond`, 'PulsebridgeWarning');
}

/** Consumer tuning. Defaults in KAFKA_CONSUMER_DEFAULTS. */
export interface KafkaConsumerOptions {
  /** Broker evicts a member that sent no heartbeat for this long, ms. */
  sessionTimeoutMs?: number;
  /** How often the member heartbeats, ms (Kafka recommends at most a third of the session timeout). */
  heartbeatIntervalMs?: number;
  /** How long the coordinator waits for every member to re-join during a rebalance, ms. */
  rebalanceTimeoutMs?: number;
  /** Upper bound of one fetch response per partition, bytes (bounds a batch's size). */
  maxBytesPerPartition?: number;
  /** Upper bound of one fetch response, bytes. */
  maxBytes?: number;
  /** How long the broker holds a fetch when there is no new data, ms. Also bounds how long stop() waits. */
  maxWaitTimeMs?: number;
  /** Pause before a batch whose handler failed is offered again, ms. */
  redeliveryDelayMs?: number;
}

/** Options of KafkaBus. Only `brokers` is required. */
export interface KafkaBusOptions {
  /** `host:port` of one or more bootstrap brokers. */
  brokers: string[];
  clientId?: string;
  /** kafkajs warnings and errors go here; without it, a warn-level logger on stderr. */
  logger?: Logger;
  /** TCP (and TLS) connect timeout per broker, ms. */
  connectionTimeoutMs?: number;
  /** Timeout of one broker request, ms. */
  requestTimeoutMs?: number;
  /** Retries of a failed request or connection before the operation fails. */
  retries?: number;
  /** First retry back-off, ms; it doubles (with jitter) up to maxRetryTimeMs. */
  initialRetryTimeMs?: number;
  maxRetryTimeMs?: number;
  /**
   * Hard upper bound of one `publish` (connect + send + every retry), ms. kafkajs nests its
   * connection retries inside its send retries, so this is what makes "rejects within N s" true.
   */
  publishTimeoutMs?: number;
  /** How long the partition leader waits for the in-sync replicas before answering, ms. */
  ackTimeoutMs?: number;
  /** Replication factor of streams created by ensureStreams; -1 = the broker's default.replication.factor. */
  replicationFactor?: number;
  /**
   * Whether ensureStreams creates the streams that do not exist (default true; needs Create on
   * them). false (PULSEBRIDGE_KAFKA_CREATE_TOPICS=false: a cluster whose administrators create the
   * topics): ensureStreams only checks that they exist (metadata, Describe) and rejects naming the
   * missing ones and the kafka-topics.sh lines that create them; it never creates one.
   */
  createStreams?: boolean;
  consumer?: KafkaConsumerOptions;
  /** TLS and SASL (platform/bus/kafka-security.ts); without it PLAINTEXT. Its files are read by the constructor. */
  security?: KafkaSecurity;
  /** kafkajs' socket factory; tests use it to cut the connections (a broker outage). Default kafkajs' own. */
  socketFactory?: ISocketFactory;
  /** Repeats of a log line are left out for this long, ms (kafka-log.ts; default 10 s); 0 logs every line (tests that read the log). */
  logRepeatWindowMs?: number;
}

type ResolvedBusOptions = Required<Omit<KafkaBusOptions, 'logger' | 'consumer' | 'security' | 'socketFactory' | 'logRepeatWindowMs'>>;

export const KAFKA_BUS_DEFAULTS: Omit<ResolvedBusOptions, 'brokers'> = {
  clientId: 'pulsebridge',
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 10_000,
  retries: 5,
  initialRetryTimeMs: 300,
  maxRetryTimeMs: 5_000,
  publishTimeoutMs: 30_000,
  ackTimeoutMs: 10_000,
  replicationFactor: -1,
  createStreams: true,
};

export const KAFKA_CONSUMER_DEFAULTS: Required<KafkaConsumerOptions> = {
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  rebalanceTimeoutMs: 60_000,
  maxBytesPerPartition: 1_048_576,
  maxBytes: 10_485_760,
  // kafkajs default is 5000: an idle consumer would take up to 5 s to notice stop().
  maxWaitTimeMs: 500,
  redeliveryDelayMs: 1_000,
};

export class KafkaBus implements Bus {
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #options: ResolvedBusOptions;
  readonly #consumerOptions: Required<KafkaConsumerOptions>;
  readonly #logger: Logger;
  /** Whether the warning that DescribeConfigs is refused (pre-created topics unchecked) was logged. */
  #describeConfigsRefusedWarned = false;
  /** kafkajs' lines and the bus's own repeated ones, repeats limited (kafka-log.ts). */
  readonly #log: KafkaLogForwarder;
  readonly #security: KafkaSecurity | undefined;
  readonly #subscriptions = new Set<Subscription>();
  #producerConnected: Promise<void> | undefined;
  /** The admin client of Subscription.endOffsets, connected at its first use and kept (a follower's sync asks often); forgotten after a failure. */
  #offsetsAdmin: Promise<Admin> | undefined;
  #closed = false;
  /**
   * The latest group authorization refusal kafkajs logged: its consumer then crashes with only
   * "Failed to find group coordinator" (kafkajs' cluster.findGroupCoordinatorMetadata drops the
   * broker's error), so this is how subscribe tells a refused group from a broker not ready yet.
   */
  #groupRefused: { atMs: number; text: string } | undefined;

  constructor(options: KafkaBusOptions) {
    if (options.brokers.length === 0) throw new PulsebridgeError('PB_CONFIG_INVALID', 'KafkaBus needs at least one broker');
    const { consumer, logger, security, socketFactory, logRepeatWindowMs, ...rest } = options;
    this.#options = { ...KAFKA_BUS_DEFAULTS, ...definedOnly(rest), brokers: options.brokers };
    this.#consumerOptions = { ...KAFKA_CONSUMER_DEFAULTS, ...definedOnly(consumer ?? {}) };
    this.#logger = logger ?? createLogger('warn', { component: 'kafka' });
    this.#security = security;
    this.#log = kafkaLogForwarder(this.#logger, security, logRepeatWindowMs === undefined ? {} : { repeatWindowMs: logRepeatWindowMs });
    const o = this.#options;
    this.#kafka = new Kafka({
      clientId: o.clientId,
      brokers: o.brokers,
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      // kafkajs 2.x defaults to enforcing requestTimeout already; written down because it is what
      // stops a half-open connection from hanging a publish.
      enforceRequestTimeout: true,
      retry: { retries: o.retries, initialRetryTime: o.initialRetryTimeMs, maxRetryTime: o.maxRetryTimeMs },
      // kafkajs logs every connection and group event at INFO; warnings and errors are what matter.
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const error: unknown = entry.log.error;
        if (typeof error === 'string' && /Not authorized to access group/.test(error)) this.#groupRefused = { atMs: Date.now(), text: error };
        this.#log.log(entry);
      },
      // TLS and SASL when configured; nothing (PLAINTEXT) otherwise.
      ...kafkaClientSecurity(security),
      ...(socketFactory ? { socketFactory } : {}),
    });
    this.#producer = this.#kafka.producer({
      // Java-client-compatible murmur2 partitioning: other Kafka clients put a key on the same
      // partition. Passing it explicitly also silences kafkajs' v2 partitioner warning.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Streams are created deliberately (ensureStreams) with their partition counts; a typo must
      // fail, not create a one-partition topic.
      allowAutoTopicCreation: false,
      idempotent: true,
      // Required by kafkajs for the idempotent producer; also keeps per-key order across retries.
      maxInFlightRequests: 1,
      retry: { retries: o.retries, initialRetryTime: o.initialRetryTimeMs, maxRetryTime: o.maxRetryTimeMs },
    });
  }

  async publish(stream: string, messages: BusMessage[]): Promise<void> {
    if (this.#closed) throw new PulsebridgeError('PB_BUS_CLOSED', 'the bus is closed');
    if (messages.length === 0) return;
    const send = async () => {
      await this.#connectProducer();
      // One produce request per chunk, in order: a request whose record batch for a partition is
      // larger than the broker's message.max.bytes (1 MiB by default) is refused whole, and kafkajs
      // retries it forever-the-same while every later publish queues behind it (issue 9: the
      // gateway's liveness flush of 10,000 devices blocked telemetry). The idempotent producer
      // keeps the chunks' order per partition.
      for (const chunk of chunksOf(messages, MAX_REQUEST_BYTES)) {
        await this.#producer.send({
          topic: stream,
          acks: -1,
          timeout: this.#options.ackTimeoutMs,
          messages: chunk.map((m) => ({ key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) })),
        });
      }
    };
    try {
      await withTimeout(send(), this.#options.publishTimeoutMs, `no acknowledgement within ${this.#options.publishTimeoutMs} ms`);
    } catch (err) {
      if (err instanceof PulsebridgeError && err.code === 'PB_BUS_CLOSED') throw err;
      throw new PulsebridgeError('PB_BUS_UNAVAILABLE', `kafka did not acknowledge ${messages.length} message(s) on ${stream}: ${(err as Error).message}${kafkaSecurityHint(err, this.#security)}`, {
        cause: err,
        details: { stream, count: messages.length },
      });
    }
  }

  /** Connects the producer once; a failed connect is forgotten so the next publish tries again. */
  #connectProducer(): Promise<void> {
    if (!this.#producerConnected) {
      this.#producerConnected = this.#producer.connect().catch((err: unknown) => {
        this.#producerConnected = undefined;
        throw err;
      });
    }
    return this.#producerConnected;
  }

  async subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new PulsebridgeError('PB_BUS_CLOSED', 'the bus is closed');
    const c = this.#consumerOptions;
    /** Until stop(). */
    let running = true;
    const consumer = this.#kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: c.sessionTimeoutMs,
      heartbeatInterval: c.heartbeatIntervalMs,
      rebalanceTimeout: c.rebalanceTimeoutMs,
      maxBytesPerPartition: c.maxBytesPerPartition,
      maxBytes: c.maxBytes,
      minBytes: 1,
      maxWaitTimeInMs: c.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      readUncommitted: false,
      retry: {
        retries: this.#options.retries,
        initialRetryTime: this.#options.initialRetryTimeMs,
        maxRetryTime: this.#options.maxRetryTimeMs,
        // After the retries a crashed consumer starts over (re-joins the group) instead of
        // silently stopping: a processor with no consumer is a monitoring outage. Not once the
        // subscription was stopped: kafkajs' stop() during a restart's join (the broker still
        // unreachable) lets that join crash afterwards and schedules yet another start, a consumer
        // nobody stops that kept the process alive after SIGTERM, consuming (hardened walk).
        // kafkajs asks this only after a retriable error or exhausted retries; after any other
        // crash the bus starts the consumer over itself (CRASH below, `startOver`).
        restartOnFailure: async () => running,
      },
    });
    /** Batches waiting to be delivered again after a failed handler (one per partition at most). */
    const wakeFromDelay = new Set<() => void>();
    /** The partitions of `stream` the group gave this member last; none while it rebalances or after a crash, until it joined again. */
    let assigned: readonly number[] = [];
    /**
     * An ephemeral group commits nothing, so its position is only here: the next offset of each
     * partition after the last handled batch. kafkajs restarts a crashed consumer (the broker
     * unreachable past the retries: a broker restart) as a new member that starts where the group
     * committed, i.e. from the beginning for `fromBeginning`: every follower folded its whole
     * stream again, and a processor took its own streams' old changelog records for another
     * instance's and dropped them (hardened walk, 2026-12-07). On joining again it seeks here.
     */
    const resumeAt = new Map<number, string>();
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      assigned = [...(event.payload.memberAssignment[stream] ?? [])];
      if (!options.ephemeralGroup) return;
      for (const partition of assigned) {
        const offset = resumeAt.get(partition);
        if (offset !== undefined) consumer.seek({ topic: stream, partition, offset });
      }
    });
    consumer.on(consumer.events.REBALANCING, () => {
      assigned = [];
      notConsuming('rebalancing', 'its consumer group is rebalancing');
    });
    consumer.on(consumer.events.CRASH, (event) => {
      assigned = [];
      const error = event.payload.error;
      const hint = kafkaSecurityHint(error, this.#security);
      if (event.payload.restart) {
        notConsuming('crashed', `its consumer crashed (${error.message}${hint}) and is starting over`);
        // Once per error message per 10 s, whichever subscription: during a broker outage every
        // consumer crashes again at each restart; the health line (consumer-health.ts) names them all.
        // kafkajs starts a crashed consumer over after the error's retry time, else the first one (its "Restarting the consumer in N ms").
        const restartInMs = (error as { retryTime?: number }).retryTime || this.#options.initialRetryTimeMs;
        this.#log.repeatLimited('error', `kafka consumer crashed${hint}`, { stream, groupId: options.groupId, error, restart: true, restartInMs, restartedBy: 'kafkajs' }, error.message);
        return;
      }
      if (!running) {
        // Stopped (restartOnFailure answered false): it stays stopped.
        notConsuming('crashed', `its consumer crashed (${error.message}${hint}) and is not restarted: the subscription was stopped`);
        return;
      }
      // kafkajs left it stopped for good: the error is not retriable (e.g. "Failed to find group
      // coordinator", KafkaJSGroupCoordinatorNotFound, when a lookup fails after the broker
      // connection was made: a broker coming back). The bus starts it over.
      const restartInMs = startOver();
      notConsuming('crashed', `its consumer crashed (${error.message}${hint}); kafkajs does not restart it after this error, the bus starts it over in ${restartInMs} ms`);
      // Once per crash and subscription (repeats of one subscription's crash within 10 s counted).
      this.#log.repeatLimited('error', `kafka consumer crashed${hint}`, { stream, groupId: options.groupId, error, restart: true, restartInMs, restartedBy: 'bus' }, `${error.message}\n${options.groupId}`);
    });
    // Whether the consumer consumes, for /healthz (Subscription.status; consumer-health.ts).
    // kafkajs tells a join, a rebalance and a crash (restarted or not) by events; a fetch that
    // answered, even empty (an idle consumer fetches every maxWaitTimeMs), is progress.
    const health = { state: 'joining' as SubscriptionStatus['state'], sinceMs: Date.now(), reason: 'it has not joined its consumer group yet', lastProgressMs: Date.now(), handling: 0 };
    const notConsuming = (state: SubscriptionStatus['state'], reason: string) => {
      // Not consuming since it last made progress: a crash comes after the retries, ~10 s into an outage.
      if (health.state === 'consuming') health.sinceMs = health.lastProgressMs;
      health.state = state;
      health.reason = reason;
    };
    consumer.on(consumer.events.GROUP_JOIN, () => {
      busRestarts = 0;
      health.state = 'consuming';
      health.lastProgressMs = health.sinceMs = Date.now();
    });
    consumer.on(consumer.events.FETCH, () => {
      health.lastProgressMs = Date.now();
    });
    /** No fetch answered for this long, no batch in a handler, partitions held: the consumer is stuck (a broker that stopped answering rather than refusing). */
    const stalledAfterMs = this.#options.requestTimeoutMs + c.maxWaitTimeMs;
    const status = (): SubscriptionStatus => {
      const common = { stream, groupId: options.groupId };
      if (health.state !== 'consuming') return { ...common, consuming: false, state: health.state, sinceMs: health.sinceMs, reason: health.reason };
      if (health.handling === 0 && assigned.length > 0 && Date.now() - health.lastProgressMs > stalledAfterMs) {
        return { ...common, consuming: false, state: 'stalled', sinceMs: health.lastProgressMs, reason: `no fetch has been answered for ${Math.round((Date.now() - health.lastProgressMs) / 1000)} s` };
      }
      return { ...common, consuming: true, state: 'consuming', sinceMs: health.sinceMs };
    };

    const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
      // A batch in the handler (or waiting to be delivered again) is work, not a stuck consumer.
      health.handling += 1;
      try {
        await handleBatch(payload);
      } finally {
        health.handling -= 1;
        health.lastProgressMs = Date.now();
      }
    };
    const handleBatch = async (payload: EachBatchPayload): Promise<void> => {
      const { batch } = payload;
      // Nothing is handed to a stopped subscription, whatever kafkajs' restarts still have under
      // way (left unresolved and uncommitted: a group's next member gets it).
      if (!running || batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
      const messages = batch.messages.map((m): ConsumedMessage => {
        const headers = decodeHeaders(m.headers);
        return {
          stream: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          timestamp: Number(m.timestamp),
          key: m.key ? m.key.toString('utf8') : '',
          value: m.value ?? Buffer.alloc(0),
          ...(headers ? { headers } : {}),
        };
      });
      // A slow handler must not get the member evicted: heartbeat while it runs (kafkajs throttles
      // heartbeats to heartbeatInterval itself).
      const beat = setInterval(() => void payload.heartbeat().catch(() => {}), c.heartbeatIntervalMs);
      let handled = false;
      try {
        await options.onBatch(messages);
        handled = true;
      } catch (err) {
        this.#logger.warn('bus handler failed; the batch will be delivered again', {
          stream,
          groupId: options.groupId,
          partition: batch.partition,
          firstOffset: messages[0]?.offset,
          count: messages.length,
          error: err,
        });
      } finally {
        clearInterval(beat);
      }
      if (!handled) {
        // Not resolving keeps the fetch position at this batch; the seek makes that explicit and
        // discards any batch of this partition fetched meanwhile.
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            wakeFromDelay.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, c.redeliveryDelayMs);
          wakeFromDelay.add(wake);
        });
        if (running) consumer.seek({ topic: batch.topic, partition: batch.partition, offset: messages[0]!.offset });
        return;
      }
      const last = messages[messages.length - 1]!.offset;
      payload.resolveOffset(last);
      if (options.ephemeralGroup) resumeAt.set(batch.partition, (BigInt(last) + 1n).toString());
      // Kafka stores the offset of the next message to read. An ephemeral group commits nothing:
      // its one member keeps its position in memory, and a group without offsets that its process
      // left without deleting it (a crash) is dropped by the broker's next cleanup (offsets.retention.check.interval.ms, 10 min by default), where
      // committed offsets would keep it for offsets.retention.minutes (7 days): an operator counted
      // 3–4 such groups per SIGKILL.
      if (!options.ephemeralGroup) {
        await payload.commitOffsetsIfNecessary({
          topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }],
        });
      }
      await payload.heartbeat();
    };

    // kafkajs resolves a new group's start position (earliest/latest) on its first fetch, after
    // run() resolved. Waiting for that fetch makes `fromBeginning: false` mean "from the moment
    // subscribe resolved", as in the in-process bus, instead of racing with the next publish.
    let positioned: () => void = () => {};
    const hasPosition = new Promise<void>((resolve) => (positioned = resolve));
    const removeJoinListener = consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if ((event.payload.memberAssignment[stream] ?? []).length === 0) positioned(); // nothing to fetch
    });
    const removeFetchListener = consumer.on(consumer.events.FETCH, () => positioned());
    // Until it has its position, a crash because the broker's ACLs refuse this user the stream or
    // the group fails the subscribe with that reason: no restart can mend it, and subscribe would
    // otherwise wait the session timeout and return a subscription that crashes for ever.
    let refused: (reason: string) => void = () => {};
    const refusal = new Promise<never>((_, reject) => (refused = (reason) => reject(new Error(reason))));
    refusal.catch(() => {});
    const subscribedAtMs = Date.now();
    const removeRefusalListener = consumer.on(consumer.events.CRASH, (event) => {
      const error = event.payload.error;
      const groupRefused = error.name === 'KafkaJSGroupCoordinatorNotFound' && this.#groupRefused && this.#groupRefused.atMs >= subscribedAtMs ? this.#groupRefused.text : undefined;
      const reason = kafkaAuthorizationRefusal(error) ?? groupRefused;
      if (reason) refused(reason);
    });

    const runOptions = {
      // Commits are explicit, after the handler (see eachBatch).
      autoCommit: false,
      eachBatchAutoResolve: false,
      // One batch at a time per subscription unless the subscriber asks for more (SubscribeOptions).
      partitionsConsumedConcurrently: Math.max(1, Math.floor(options.concurrentPartitions ?? 1)),
      eachBatch,
    };
    /**
     * kafkajs starts a crashed consumer over only when the error is KafkaJSNumberOfRetriesExceeded
     * or its original cause is retriable, and asks restartOnFailure only then
     * (kafkajs/src/consumer/index.js, onCrash); after any other error (CRASH with restart false) it
     * has disconnected the consumer and leaves it so. The operator walkthrough (30 s broker outage,
     * SASL_SSL) saw the gateway's liveness follower crash with "Failed to find group coordinator"
     * and stay dead after the broker came back. Here the bus does what kafkajs' restart does —
     * run() again: a new member and runner; a group resumes at its committed offsets, an ephemeral
     * one is seeked to `resumeAt` on joining — after initialRetryTimeMs, doubling per crash without
     * a join in between up to maxRetryTimeMs. Never once stopped (stop() clears the timer).
     */
    let busRestarts = 0;
    let busRestartTimer: NodeJS.Timeout | undefined;
    const startOver = (): number => {
      const delayMs = Math.min(this.#options.initialRetryTimeMs * 2 ** Math.min(busRestarts, 20), Math.max(this.#options.maxRetryTimeMs, this.#options.initialRetryTimeMs));
      busRestarts += 1;
      clearTimeout(busRestartTimer);
      busRestartTimer = setTimeout(() => {
        busRestartTimer = undefined;
        if (!running) return;
        // A failed start crashes (CRASH again); run() itself rejects only if kafkajs could not stop the crashed consumer.
        consumer.run(runOptions).catch((err: unknown) => {
          if (!running) return;
          const error = err as Error;
          const hint = kafkaSecurityHint(error, this.#security);
          const restartInMs = startOver();
          notConsuming('crashed', `its consumer could not be started over (${error.message}${hint}); the bus tries again in ${restartInMs} ms`);
          this.#log.repeatLimited('error', `kafka consumer could not be started over${hint}`, { stream, groupId: options.groupId, error, restartInMs }, `${error.message}\n${options.groupId}`);
        });
      }, delayMs);
      return delayMs;
    };

    try {
      await consumer.connect();
      // A stream just created (by this process or another starting beside it) can still answer
      // "does not host this topic-partition" to the subscription's metadata request, as it can to
      // ensureStreams': seen when dashboard-api started beside a fresh broker (CI, 2026-12-06).
      // kafkajs drops the topic from its targets on that error, so subscribing again is clean.
      await retryTransientMetadata(() => consumer.subscribe({ topics: [stream], fromBeginning: options.fromBeginning }));
      await consumer.run(runOptions);
      await Promise.race([
        withTimeout(hasPosition, c.sessionTimeoutMs, 'no first fetch').catch(() => {
          this.#logger.warn('subscription has no position yet; continuing', { stream, groupId: options.groupId });
        }),
        refusal,
      ]);
    } catch (err) {
      running = false;
      clearTimeout(busRestartTimer);
      await consumer.disconnect().catch(() => {});
      throw new PulsebridgeError('PB_BUS_UNAVAILABLE', `could not subscribe to ${stream} as ${options.groupId}: ${(err as Error).message}${kafkaSecurityHint(err, this.#security)}`, {
        cause: err,
        details: { stream, groupId: options.groupId },
      });
    } finally {
      removeJoinListener();
      removeFetchListener();
      removeRefusalListener();
    }

    const subscription: Subscription = {
      assignedPartitions: () => (running ? assigned : []),
      endOffsets: () => this.#endOffsets(stream),
      status,
      stop: async () => {
        if (!running) return;
        running = false;
        clearTimeout(busRestartTimer);
        for (const wake of [...wakeFromDelay]) wake();
        this.#subscriptions.delete(subscription);
        await consumer.disconnect();
        if (options.ephemeralGroup) await this.#deleteGroup(options.groupId);
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** Every running subscription's status (Bus.subscriptionStatuses; consumer-health.ts reports them). */
  subscriptionStatuses(): SubscriptionStatus[] {
    return [...this.#subscriptions].map((s) => s.status!());
  }

  /**
   * Each partition's high watermark and log start offset (ListOffsets: Describe on the topic). With
   * acks=all the leader acknowledges a publish only once the high watermark has passed it, so every
   * acknowledged message is below `end`.
   */
  async #endOffsets(stream: string): Promise<PartitionEnd[]> {
    if (this.#closed) throw new PulsebridgeError('PB_BUS_CLOSED', 'the bus is closed');
    const admin = (this.#offsetsAdmin ??= this.#connectAdmin());
    try {
      const offsets = await (await admin).fetchTopicOffsets(stream);
      return offsets.map((o) => ({ partition: o.partition, end: o.high, start: o.low }));
    } catch (err) {
      // The next call starts from a new connection (a broker that came back, or moved).
      if (this.#offsetsAdmin === admin) this.#offsetsAdmin = undefined;
      void admin.then((a) => a.disconnect()).catch(() => {});
      throw new PulsebridgeError('PB_BUS_UNAVAILABLE', `could not read where ${stream} ends: ${(err as Error).message}${kafkaSecurityHint(err, this.#security)}`, {
        cause: err,
        details: { stream },
      });
    }
  }

  async #connectAdmin(): Promise<Admin> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
    } catch (err) {
      await admin.disconnect().catch(() => {});
      throw err;
    }
    return admin;
  }

  /** Deletes a consumer group nobody uses any more; a failure leaves it for the broker to expire. */
  async #deleteGroup(groupId: string): Promise<void> {
    const admin: Admin = this.#kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([groupId]);
    } catch {
      // The broker expires an empty group's offsets by itself (offsets.retention.minutes).
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  async ensureStreams(streams: StreamSpec[]): Promise<void> {
    if (this.#closed) throw new PulsebridgeError('PB_BUS_CLOSED', 'the bus is closed');
    await retryTransientMetadata(() => this.#ensureStreamsOnce(streams));
  }

  async #ensureStreamsOnce(streams: StreamSpec[]): Promise<void> {
    const admin: Admin = this.#kafka.admin();
    /** Set when the streams must exist (createStreams false) and some do not: thrown as it is, not as "could not create". */
    let absent: PulsebridgeError | undefined;
    /** Set when pre-created topics (createStreams false) are configured so that they lose data: thrown as it is. */
    let misconfigured: PulsebridgeError | undefined;
    try {
      await admin.connect();
      // The topics this principal may Describe: one it may not is as good as missing to it.
      const existing = new Set(await admin.listTopics());
      const missing = streams.filter((s) => !existing.has(s.name));
      if (missing.length > 0 && !this.#options.createStreams) absent = missingStreamsError(missing, this.#options.replicationFactor);
      else if (missing.length > 0) {
        // Resolves false when another process created them first, which is fine (idempotent).
        await admin.createTopics({
          waitForLeaders: true,
          timeout: this.#options.requestTimeoutMs,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            replicationFactor: this.#options.replicationFactor,
            configEntries: topicConfigEntries(s),
          })),
        });
      }
      const present = streams.filter((s) => existing.has(s.name));
      if (present.length > 0) {
        const metadata = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
        for (const t of metadata.topics) {
          const wanted = present.find((s) => s.name === t.name)?.partitions;
          // Adding partitions moves keys to other partitions (breaks per-patient order), so this
          // is reported, never "fixed" here.
          if (wanted !== undefined && t.partitions.length !== wanted) {
            this.#logger.warn('stream exists with a different partition count', { stream: t.name, partitions: t.partitions.length, wanted });
          }
        }
      }
      if (!this.#options.createStreams && !absent) misconfigured = await this.#checkTopicConfigs(admin, streams);
    } catch (err) {
      const what = this.#options.createStreams ? 'create' : 'check';
      throw new PulsebridgeError('PB_BUS_UNAVAILABLE', `could not ${what} streams ${streams.map((s) => s.name).join(', ')}: ${(err as Error).message}${kafkaSecurityHint(err, this.#security)}`, {
        cause: err,
        details: { streams: streams.map((s) => s.name) },
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (absent) throw absent;
    if (misconfigured) throw misconfigured;
  }

  /**
   * Pre-created topics (createStreams false): compares the configuration of `streams` with what
   * ensureStreams would have created them with (topicConfigEntries) and returns the error for a
   * difference that loses data (topicConfigMismatches). A principal without DescribeConfigs on the
   * topics gets one warning per bus naming that ACL, and the start goes on unchecked.
   */
  async #checkTopicConfigs(admin: Admin, streams: readonly StreamSpec[]): Promise<PulsebridgeError | undefined> {
    const checked = streams.filter((s) => topicConfigEntries(s).length > 0);
    if (checked.length === 0) return undefined;
    let described: Awaited<ReturnType<Admin['describeConfigs']>>;
    try {
      described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: checked.map((s) => ({ type: TOPIC_RESOURCE_TYPE, name: s.name, configNames: [...CHECKED_TOPIC_CONFIGS] })),
      });
    } catch (err) {
      if (!kafkaAuthorizationRefusal(err)) throw err;
      if (!this.#describeConfigsRefusedWarned) {
        this.#describeConfigsRefusedWarned = true;
        this.#logger.warn('cannot check the pre-created topics\' configuration (cleanup.policy, retention): this principal lacks DescribeConfigs on them; grant DescribeConfigs on the topics to check it at start (a topic left at 7 days\' retention or without compaction loses state)', {
          acl: 'DescribeConfigs on Topic (Literal)', topics: checked.map((s) => s.name),
        });
      }
      return undefined;
    }
    const mismatches = checked.flatMap((s) => {
      const resource = described.resources.find((r) => r.resourceName === s.name);
      if (!resource) return [];
      const found: Record<string, string | null> = {};
      for (const e of resource.configEntries) found[e.configName] = e.configValue;
      return topicConfigMismatches(s, found);
    });
    return mismatches.length > 0 ? topicConfigMismatchError(mismatches) : undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#subscriptions].map((s) => s.stop()));
    await this.#producer.disconnect().catch(() => {});
    await this.#offsetsAdmin?.then((a) => a.disconnect()).catch(() => {});
    this.#log.flush();
  }
}

/**
 * The topic configuration ensureStreams creates a stream with: compacted ones `cleanup.policy=compact`;
 * retained-forever ones no deletion by age or size (Kafka's default 7 days would silently delete
 * event-sourced state). Everything else is the broker's default (`cleanup.policy=delete`, its
 * `log.retention.*`).
 */
export function topicConfigEntries(s: StreamSpec): { name: string; value: string }[] {
  return [
    ...(s.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
    ...(s.retainForever ? [{ name: 'retention.ms', value: '-1' }, { name: 'retention.bytes', value: '-1' }] : []),
  ];
}

/**
 * The kafka-topics.sh line that creates `s` as ensureStreams would (partitions, configuration;
 * `replicationFactor` -1: the broker's default, so no --replication-factor). `$BROKERS` and
 * admin.properties are the administrator's.
 */
export function kafkaTopicsCommand(s: StreamSpec, replicationFactor = KAFKA_BUS_DEFAULTS.replicationFactor): string {
  return [
    'kafka-topics.sh --bootstrap-server "$BROKERS" --command-config admin.properties --create',
    `--topic ${s.name} --partitions ${s.partitions}`,
    ...(replicationFactor > 0 ? [`--replication-factor ${replicationFactor}`] : []),
    ...topicConfigEntries(s).map((c) => `--config ${c.name}=${c.value}`),
  ].join(' ');
}

/** kafkajs' ConfigResourceTypes.TOPIC (its enums are not among the names an ES import finds). */
const TOPIC_RESOURCE_TYPE = 2;
/** The keys topicConfigEntries sets, and cleanup.policy's partner retention (compact,delete). */
const CHECKED_TOPIC_CONFIGS = ['cleanup.policy', 'retention.ms', 'retention.bytes'] as const;

/** A pre-created topic's configuration that loses data ensureStreams' configuration would keep. */
export interface TopicConfigMismatch {
  topic: string;
  key: string;
  /** The topic's value (null: the broker did not say). */
  found: string | null;
  expected: string;
  /** The kafka-configs.sh line that sets the expected value. */
  command: string;
}

/**
 * The differences between a pre-created topic's configuration `found` (key → value, as
 * describeConfigs gives it) and topicConfigEntries(s) that lose data: a retention other than -1
 * (unlimited) where `s` retains forever, and a cleanup.policy without `compact` where `s` is
 * compacted, or `compact,delete` with a limited retention (the latest record of a key older than
 * it is deleted too). A key the broker did not report is not judged. Anything stricter than
 * ensureStreams' (e.g. compaction on top of unlimited retention) is left alone.
 */
export function topicConfigMismatches(s: StreamSpec, found: Readonly<Record<string, string | null | undefined>>): TopicConfigMismatch[] {
  const mismatches: TopicConfigMismatch[] = [];
  const mismatch = (key: string, expected: string) => mismatches.push({
    topic: s.name, key, found: found[key] ?? null, expected, command: kafkaConfigsAlterCommand(s.name, key, expected),
  });
  for (const { name, value } of topicConfigEntries(s)) {
    const actual = found[name];
    if (actual === undefined) continue;
    if (name === 'cleanup.policy') {
      const policies = (actual ?? '').split(',').map((p) => p.trim());
      const unlimited = (key: string) => found[key] === '-1' || found[key] === undefined;
      if (!policies.includes('compact') || (policies.includes('delete') && !(unlimited('retention.ms') && unlimited('retention.bytes')))) mismatch(name, value);
    } else if (actual !== value) {
      // retention.ms / retention.bytes: ensureStreams' -1 is unlimited, so any other value keeps less.
      mismatch(name, value);
    }
  }
  return mismatches;
}

/** The kafka-configs.sh line that sets `key=value` on `topic` ($BROKERS and admin.properties as in kafkaTopicsCommand). */
export function kafkaConfigsAlterCommand(topic: string, key: string, value: string): string {
  return `kafka-configs.sh --bootstrap-server "$BROKERS" --command-config admin.properties --alter --entity-type topics --entity-name ${topic} --add-config ${key}=${value}`;
}

/** What ensureStreams rejects with when pre-created topics (createStreams false) are configured to lose data. */
function topicConfigMismatchError(mismatches: readonly TopicConfigMismatch[]): PulsebridgeError {
  return new PulsebridgeError('PB_CONFIG_INVALID', [
    `Kafka topic configuration loses data: ${mismatches.map((m) => `${m.topic} ${m.key}=${m.found ?? '(unknown)'} (expected ${m.expected})`).join(', ')}.`,
    'With PULSEBRIDGE_KAFKA_CREATE_TOPICS=false the topics are pre-created; these must keep what Pulsebridge would create them with',
    '(compacted changelogs keep each key\'s latest record, event-sourced logs every record). Fix them as the cluster\'s administrator:',
    ...mismatches.map((m) => `  ${m.command}`),
  ].join('\n'), { details: { mismatches: mismatches.map(({ topic, key, found, expected }) => ({ topic, key, found, expected })) } });
}

/** What ensureStreams rejects with when streams it may not create (createStreams false) do not exist. */
function missingStreamsError(missing: readonly StreamSpec[], replicationFactor: number): PulsebridgeError {
  const names = missing.map((s) => s.name);
  return new PulsebridgeError('PB_CONFIG_INVALID', [
    `Kafka topic(s) missing: ${names.join(', ')} (or not visible: this principal lacks Describe on them).`,
    'With PULSEBRIDGE_KAFKA_CREATE_TOPICS=false Pulsebridge creates no topics: they must exist before it starts. Create them as the',
    'cluster\'s administrator (README "Kafka ACLs", pre-created topics; every topic: node scripts/kafka-acls.ts topics --commands):',
    ...missing.map((s) => `  ${kafkaTopicsCommand(s, replicationFactor)}`),
  ].join('\n'), { details: { streams: names } });
}

/**
 * Kafka error types a topic's metadata can answer with for a moment after the topic was created,
 * until its partitions' leaders are known to the broker that answers: retriable by Kafka's
 * protocol. kafkajs' createTopics waits only for LEADER_NOT_AVAILABLE (tulios/kafkajs#815). Seen
 * here when components start together on a fresh broker and create the same streams: a processor
 * exited with "This server does not host this topic-partition" (fault case 3b, 2026-12-05).
 */
const TRANSIENT_METADATA_ERRORS = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']);
/** Their messages (kafkajs' texts for codes 3, 5, 6): a KafkaJSNonRetriableError wrapper keeps only the message. */
const TRANSIENT_METADATA_MESSAGES = new Set([
  'This server does not host this topic-partition',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server is not the leader for that topic-partition',
]);

/** Whether a kafkajs error (or an error it wraps) is one of {@link TRANSIENT_METADATA_ERRORS}. */
export function isTransientMetadataError(err: unknown): boolean {
  let e = err as { type?: unknown; message?: unknown; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if (typeof e.type === 'string' && TRANSIENT_METADATA_ERRORS.has(e.type)) return true;
    if (typeof e.message === 'string' && TRANSIENT_METADATA_MESSAGES.has(e.message)) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}

/**
 * Runs `attempt` again after a transient metadata error (back-off 250, 500, 1000, 2000 ms: about
 * 4 s in all, far beyond the moment the broker needs), and rethrows anything else at once.
 */
export async function retryTransientMetadata<T>(attempt: () => Promise<T>, delaysMs: readonly number[] = [250, 500, 1000, 2000]): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= delaysMs.length || !isTransientMetadataError(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, delaysMs[i]));
    }
  }
}

/**
 * Upper bound of the messages' bytes in one produce request: half the broker's default
 * message.max.bytes (1 MiB), leaving room for record overhead and headers.
 */
export const MAX_REQUEST_BYTES = 512 * 1024;

/** Consecutive chunks of at most `maxBytes` (key + value + headers); a larger single message goes alone. */
export function chunksOf(messages: BusMessage[], maxBytes: number): BusMessage[][] {
  const chunks: BusMessage[][] = [];
  let current: BusMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    let size = m.value.length + Buffer.byteLength(m.key) + 64;
    for (const [k, v] of Object.entries(m.headers ?? {})) size += k.length + v.length;
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Drops keys whose value is undefined so they do not override defaults. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  // The abandoned send may still fail later; it must not become an unhandled rejection.
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first === undefined) continue;
    out[k] = typeof first === 'string' ? first : first.toString('utf8');
    any = true;
  }
  return any ? out : undefined;
}

/**
 * Whether a Kafka cluster answers a metadata request (list topics): the readiness probe of
 * scripts/services.sh, the benchmark and the tests. A bare TCP connect is not enough: a KRaft
 * broker accepts connections before its metadata log is loaded.
 */
export async function kafkaAnswers(brokers: string[], clientId = 'pulsebridge-probe', security?: KafkaSecurity): Promise<boolean> {
  const admin = new Kafka({
    clientId, brokers, connectionTimeout: 2_000, requestTimeout: 5_000, retry: { retries: 1, initialRetryTime: 200 }, logLevel: logLevel.NOTHING,
    ...kafkaClientSecurity(security),
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
