/**
 * The bus port: an ordered, partitioned, durable log (Apache Kafka in production, an in-process
 * log in embedded mode). Producers await the bus's strongest acknowledgement; consumers get
 * batches and commit only after their handler resolved (at-least-once).
 */

export interface BusMessage {
  /** Partitioning key: all messages with one key keep their order. */
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

export interface ConsumedMessage extends BusMessage {
  stream: string;
  partition: number;
  /** Position in the partition, as a decimal string (Kafka offsets exceed 2^53 in theory). */
  offset: string;
  /** Bus append time, ms since epoch. */
  timestamp: number;
}

export interface SubscribeOptions {
  /** Consumers with the same group share the work and the committed position. */
  groupId: string;
  /** Where a group without a committed position starts. */
  fromBeginning: boolean;
  /** Called with each batch in partition order; commit happens after it resolves. */
  onBatch: (messages: ConsumedMessage[]) => Promise<void>;
  /**
   * Batches of up to this many partitions may be handled at once (Kafka; default 1: onBatch calls
   * never overlap). Each partition's batches stay in order. For handlers that wait on something
   * another partition's batch may bring. The in-process bus has one partition per stream.
   */
  concurrentPartitions?: number;
  /**
   * The group exists for this subscription alone (a reader that folds a stream from the beginning
   * under a random group): Kafka deletes it when the subscription stops, so CLI runs and restarts
   * do not pile up groups on the broker (an operator counted 104 after 35 minutes). Best effort.
   */
  ephemeralGroup?: boolean;
}

/** Where one partition of a stream stands (Subscription.endOffsets), offsets as decimal strings. */
export interface PartitionEnd {
  partition: number;
  /** The offset its next message will get: every acknowledged message is below it (Kafka: the high watermark). */
  end: string;
  /** The first offset it still holds (Kafka: the log start offset; retention may have dropped the ones before). */
  start: string;
}

export interface Subscription {
  stop(): Promise<void>;
  /**
   * Where each partition of the subscribed stream ends now. A reader has seen everything
   * acknowledged before the call once it has handled the message below each `end` (or the
   * partition holds nothing: `start` = `end`): how BusFollower.sync catches up without writing to
   * the stream (Kafka: ListOffsets, which needs only Describe on the topic, implied by Read).
   */
  endOffsets(): Promise<PartitionEnd[]>;
  /**
   * The partitions of the stream this subscriber holds now (Kafka: its latest group assignment,
   * none while the group rebalances; the in-process bus: its one partition). For work that must not
   * touch what another member of the group has taken over (the processor's hand-over at a stop).
   */
  assignedPartitions?(): readonly number[];
  /** Whether it consumes now (Kafka: its consumer's state; the in-process bus: always). */
  status?(): SubscriptionStatus;
}

/**
 * Whether a subscription consumes: for the components' /healthz (platform/bus/consumer-health.ts).
 * Idle is consuming: a consumer with nothing to read still fetches (Kafka) or waits (in-process).
 */
export interface SubscriptionStatus {
  stream: string;
  groupId: string;
  consuming: boolean;
  /**
   * `joining`: it has not joined its consumer group yet; `rebalancing`: the group is rebalancing;
   * `crashed`: its consumer crashed (Kafka unreachable past the retries, say) and starts over or
   * not (the reason says which) until it joins again; `stalled`: no fetch was answered for longer
   * than a request may take, with no batch in the handler.
   */
  state: 'consuming' | 'joining' | 'rebalancing' | 'crashed' | 'stalled';
  /** Since when, ms since the epoch: when it last made progress before it stopped consuming, or when it joined. */
  sinceMs: number;
  /** What is wrong, when it does not consume. */
  reason?: string;
}

export interface StreamSpec { name: string; partitions: number; compacted?: boolean; retainForever?: boolean }

export interface Bus {
  /** Resolves once the bus durably holds every message (Kafka: acks=all); rejects otherwise. */
  publish(stream: string, messages: BusMessage[]): Promise<void>;
  subscribe(stream: string, options: SubscribeOptions): Promise<Subscription>;
  /**
   * Creates streams that do not exist yet (idempotent). `compacted`: the log may drop all but the
   * latest message per key (Kafka cleanup.policy=compact); readers must only need the latest.
   * `retainForever`: the log never drops messages by age or size (Kafka retention.ms = -1,
   * retention.bytes = -1); for event-sourced state such as the device registry and its audit trail.
   */
  ensureStreams(streams: StreamSpec[]): Promise<void>;
  /** The status of each running subscription (stopped ones are left out). */
  subscriptionStatuses?(): SubscriptionStatus[];
  close(): Promise<void>;
}
