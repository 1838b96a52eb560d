/**
 * The bus: an ordered, partitioned, durable log (bus.ts is the port) with its two adapters —
 * in-process (embedded) and Apache Kafka (production) — and a follower that folds a stream into
 * memory. Code outside this folder imports only this file.
 */
export type { Bus, BusMessage, ConsumedMessage, PartitionEnd, SubscribeOptions, Subscription, SubscriptionStatus, StreamSpec } from './bus.ts';
export * from './memory.ts';
export * from './kafka.ts';
export * from './kafka-security.ts';
export * from './follower.ts';
export * from './consumer-health.ts';
export * from './catch-up.ts';
