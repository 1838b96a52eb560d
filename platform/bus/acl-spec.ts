/**
 * Least privilege on Kafka: what each deployable component may do on the bus, as Kafka ACLs for
 * its own principal (one SASL user per component). The one place these are written down:
 * scripts/kafka-acls.ts applies them to a broker (scripts/services.sh does at every start), the
 * README table is printed from them (`node scripts/kafka-acls.ts markdown`), and
 * test/platform/bus/acl-spec.test.ts runs each component on a bus that records every stream and
 * consumer group it touches and fails when one is not granted here.
 *
 * Kafka semantics the entries rely on (Kafka's authorization docs, "Operations and Resources on
 * Protocols"): a consumer needs Read on the topic and Read on its group; deleting a group
 * (ephemeral groups, below) needs Delete on it; producing needs Write on the topic, and the
 * idempotent producer's InitProducerId is allowed with Write on any topic (KIP-679, Kafka 3.0+), so
 * no Cluster IdempotentWrite is granted; creating a topic needs Create on it; Read, Write and
 * Delete imply Describe. No component uses transactions (no TransactionalId ACL).
 */
import { STREAMS } from '../../contracts/topics.ts';
import { DEFAULT_TELEMETRY_PARTITIONS, streamPartitions } from '../adapters.ts';
import type { StreamSpec } from './bus.ts';
import { DEAD_LETTER_READER_GROUP_PREFIX } from '../dead-letters/read-kafka.ts';
import { DEVICE_COMMANDS_STREAM } from '../registry/commands-bus.ts';
import { DEVICE_EVENTS_STREAM } from '../registry/directory-bus.ts';
import { DEVICE_LIVENESS_STREAM } from '../registry/liveness-bus.ts';
import { followerGroupPrefix } from './follower.ts';

export const BUS_COMPONENTS = ['gateway', 'processor', 'ehr-exporter', 'dashboard-api', 'cli'] as const;
export type BusComponent = (typeof BUS_COMPONENTS)[number];

export type AclResourceType = 'Topic' | 'Group';
export type AclPatternType = 'Literal' | 'Prefixed';
export type AclOperation = 'Read' | 'Write' | 'Describe' | 'Create' | 'Delete' | 'DescribeConfigs';

/** One ACL resource pattern and the operations allowed on it (ALLOW, any host). */
export interface BusAcl {
  resourceType: AclResourceType;
  name: string;
  patternType: AclPatternType;
  operations: AclOperation[];
}

/**
 * Default consumer groups. The processor's is PULSEBRIDGE_PROCESSOR_GROUP's default
 * (platform/config.ts); the exporters' are ehr-exporter/exporter.ts's and
 * ehr-exporter/hl7-exporter.ts's defaults. Each component derives its other groups from its own by
 * a suffix (`<group>-store`, `<group>-strips`, …), hence the Prefixed patterns.
 */
export const DEFAULT_PROCESSOR_GROUP = 'pulsebridge-processor';
export const FHIR_EXPORTER_GROUP = 'ehr-exporter';
export const HL7_EXPORTER_GROUP = 'hl7-exporter';
/** processor/processor.ts: the per-instance groups of its criteria and state tables and its alert reader, whatever PULSEBRIDGE_PROCESSOR_GROUP is. */
export const PROCESSOR_INSTANCE_GROUP_PREFIX = 'pulsebridge-processor-';
/** dashboard-api: the alert projection's `dashboard-api-<uuid>` and the criteria table's `dashboard-api-criteria-<uuid>`. */
export const DASHBOARD_GROUP_PREFIX = 'dashboard-api-';
/** dashboard-api/live-vitals.ts: the board's live telemetry and derived-vitals readers. */
export const DASHBOARD_LIVE_GROUP_PREFIX = 'pulsebridge-dashboard-live-';
/** dashboard-api/operator-alarms.ts: the gateway heartbeats' reader (clock skew). */
export const DASHBOARD_CLOCKS_GROUP_PREFIX = 'pb-dashboard-clocks-';

/**
 * Streams a dead letter can name for `pulsebridge deadletter replay` (its `stream` field, or the
 * gateway's telemetry): the processor dead-letters telemetry records, the EHR exporters alert
 * snapshots and ECG strips (platform/dead-letters/record.ts).
 */
export const DEAD_LETTER_REPLAY_STREAMS: readonly string[] = [STREAMS.telemetry, STREAMS.alerts, STREAMS.ecgStrips];

/** The device registry's three logs (platform/registry/*-bus.ts), each folded by a BusFollower. */
export const REGISTRY_STREAMS: readonly string[] = [DEVICE_EVENTS_STREAM, DEVICE_COMMANDS_STREAM, DEVICE_LIVENESS_STREAM];

// ---- the building blocks: what one use of the bus needs -----------------------------------

const topic = (name: string, ...operations: AclOperation[]): BusAcl => ({ resourceType: 'Topic', name, patternType: 'Literal', operations });
const groupPrefix = (name: string, ...operations: AclOperation[]): BusAcl => ({ resourceType: 'Group', name, patternType: 'Prefixed', operations });

/** Bus.publish. */
const produce = (...streams: readonly string[]): BusAcl[] => streams.map((s) => topic(s, 'Write'));
/**
 * Bus.ensureStreams: lists (Describe) and creates the missing ones (Create). Under
 * PULSEBRIDGE_KAFKA_CREATE_TOPICS=false it lists and reads the topics' configuration instead
 * (kafka.ts topicConfigMismatches: a pre-created topic left at 7 days' retention or without
 * compaction loses state): busAclUses({ createTopics: false }) turns the Create into DescribeConfigs
 * (Create comes from here only).
 */
const ensure = (...streams: readonly string[]): BusAcl[] => streams.map((s) => topic(s, 'Describe', 'Create'));
/** Bus.subscribe under groups starting with `prefix`; `ephemeral`: the bus deletes the group when it stops (Delete). */
const consume = (stream: string, prefix: string, ephemeral: boolean): BusAcl[] =>
  [topic(stream, 'Read'), groupPrefix(prefix, ...(ephemeral ? ['Read', 'Delete'] as const : ['Read'] as const))];
/**
 * BusFollower.open: ensures the stream and reads it under its own deleted-at-stop group. Its sync
 * reads the partitions' end offsets (Describe, implied by Read) and writes nothing: a component
 * that follows a stream writes it only when it publishes there itself (produce, beside).
 */
const follow = (stream: string): BusAcl[] => [...ensure(stream), ...consume(stream, followerGroupPrefix(stream), true)];
/** openBus (platform/adapters.ts) ensures every stream of streamPartitions() at each start. */
const openBusStreams = (): BusAcl[] => ensure(...streamPartitions().map((s) => s.name));
/** BusRegistry.open (Kafka mode's openRegistry / withRegistry): follows the three registry logs; what each component writes there is granted beside. */
const registry = (): BusAcl[] => REGISTRY_STREAMS.flatMap(follow);

export interface BusAclOptions {
  /** PULSEBRIDGE_PROCESSOR_GROUP, when a deployment sets one. */
  processorGroup?: string;
  /**
   * PULSEBRIDGE_KAFKA_CREATE_TOPICS (default true). false: the topics are pre-created by the
   * cluster's administrators (busTopics()), the components only check that they exist and are
   * configured not to lose data, and no component is granted Create, DescribeConfigs in its place
   * (scripts/kafka-acls.ts apply --no-create).
   */
  createTopics?: boolean;
}

/** Which part of each component's code each group of entries comes from (README table, tests). */
export function busAclUses(options: BusAclOptions = {}): Record<BusComponent, { what: string; acls: BusAcl[] }[]> {
  const uses = busAclUsesCreating(options);
  if (options.createTopics !== false) return uses;
  const withoutCreate = (acls: BusAcl[]): BusAcl[] => acls.map((a) => ({ ...a, operations: a.operations.map((o) => (o === 'Create' ? 'DescribeConfigs' : o)) }));
  return Object.fromEntries(BUS_COMPONENTS.map((c) => [c, uses[c].map((u) => ({ what: u.what, acls: withoutCreate(u.acls) }))])) as ReturnType<typeof busAclUses>;
}

function busAclUsesCreating(options: BusAclOptions): Record<BusComponent, { what: string; acls: BusAcl[] }[]> {
  const processorGroup = options.processorGroup ?? DEFAULT_PROCESSOR_GROUP;
  return {
    gateway: [
      { what: 'start (openBus)', acls: openBusStreams() },
      { what: 'device registry; its devices\' liveness, and their commands delivered, answered or expired (gateway/command-dispatcher.ts)', acls: [
        ...registry(),
        ...produce(DEVICE_LIVENESS_STREAM, DEVICE_COMMANDS_STREAM),
      ] },
      { what: 'frames and refusals', acls: produce(STREAMS.telemetry, STREAMS.deadLetter) },
    ],
    processor: [
      { what: 'start (openBus, processor.start)', acls: [...openBusStreams(), ...ensure(STREAMS.operatorAlarms)] },
      { what: 'device liveness (openLivenessReader)', acls: follow(DEVICE_LIVENESS_STREAM) },
      { what: 'telemetry and its store sink', acls: [
        ...consume(STREAMS.telemetry, processorGroup, false),
        ...consume(STREAMS.derivedVitals, processorGroup, false),
        ...consume(STREAMS.ecgStrips, processorGroup, false),
      ] },
      // The tables catch up by reading where the streams end (processor/changelog-table.ts): no
      // Write on the criteria, which only clinicians change (through the dashboard-api). Its state
      // stream it writes itself (outputs).
      { what: 'criteria and state tables, clinicians\' alert changes', acls: [
        ...consume(STREAMS.criteria, PROCESSOR_INSTANCE_GROUP_PREFIX, true),
        ...consume(STREAMS.processorState, PROCESSOR_INSTANCE_GROUP_PREFIX, true),
        ...consume(STREAMS.alerts, PROCESSOR_INSTANCE_GROUP_PREFIX, true),
      ] },
      { what: 'outputs', acls: produce(STREAMS.alerts, STREAMS.ecgStrips, STREAMS.derivedVitals, STREAMS.deadLetter, STREAMS.processorState, STREAMS.operatorAlarms, STREAMS.processorHeartbeats) },
    ],
    'ehr-exporter': [
      { what: 'start (openBus)', acls: openBusStreams() },
      { what: 'FHIR export: alerts, strips, parked retries, HR summaries', acls: [
        ...consume(STREAMS.alerts, FHIR_EXPORTER_GROUP, false),
        ...consume(STREAMS.ecgStrips, FHIR_EXPORTER_GROUP, false),
        ...consume(STREAMS.ehrRetry, FHIR_EXPORTER_GROUP, false),
        ...consume(STREAMS.telemetry, FHIR_EXPORTER_GROUP, false),
        ...produce(STREAMS.ehrRetry, STREAMS.deadLetter),
      ] },
      // The HL7 exporter rebuilds its ledger under `hl7-exporter-rebuild-<uuid>`, deleted afterwards.
      { what: 'HL7 v2 export', acls: [...consume(STREAMS.alerts, HL7_EXPORTER_GROUP, true), ...produce(STREAMS.deadLetter)] },
    ],
    'dashboard-api': [
      { what: 'start (openBus)', acls: openBusStreams() },
      { what: 'device registry (devices API: device changes, commands sent)', acls: [...registry(), ...produce(DEVICE_EVENTS_STREAM, DEVICE_COMMANDS_STREAM)] },
      { what: 'alerts board and acknowledgements, criteria', acls: [
        ...consume(STREAMS.alerts, DASHBOARD_GROUP_PREFIX, true),
        ...produce(STREAMS.alerts),
        ...consume(STREAMS.criteria, DASHBOARD_GROUP_PREFIX, true),
        ...produce(STREAMS.criteria),
      ] },
      { what: 'live vitals', acls: [...consume(STREAMS.telemetry, DASHBOARD_LIVE_GROUP_PREFIX, true), ...consume(STREAMS.derivedVitals, DASHBOARD_LIVE_GROUP_PREFIX, true)] },
      { what: 'operator alarms, processor heartbeats, gateway clocks', acls: [
        ...follow(STREAMS.operatorAlarms),
        ...follow(STREAMS.processorHeartbeats),
        ...ensure(DEVICE_LIVENESS_STREAM),
        ...consume(DEVICE_LIVENESS_STREAM, DASHBOARD_CLOCKS_GROUP_PREFIX, true),
      ] },
    ],
    cli: [
      { what: '`deadletter list|show` (platform/dead-letters/read-kafka.ts)', acls: consume(STREAMS.deadLetter, DEAD_LETTER_READER_GROUP_PREFIX, true) },
      { what: '`deadletter replay`, `device …` (openBus, registry: device changes, commands sent)', acls: [
        ...openBusStreams(),
        ...registry(),
        ...produce(DEVICE_EVENTS_STREAM, DEVICE_COMMANDS_STREAM),
        ...produce(...DEAD_LETTER_REPLAY_STREAMS),
      ] },
    ],
  };
}

/**
 * Every Kafka topic the components ensure (openBus, processor.start, the followers of the registry,
 * operator alarms and heartbeats), as they would create it: what a cluster's administrators
 * create beforehand under PULSEBRIDGE_KAFKA_CREATE_TOPICS=false (README "Kafka ACLs", printed by
 * `node scripts/kafka-acls.ts topics`). Sorted by name. test/platform/bus/acl-spec.test.ts checks it
 * against every ensureStreams the components call.
 */
export function busTopics(telemetryPartitions = DEFAULT_TELEMETRY_PARTITIONS): StreamSpec[] {
  return [
    ...streamPartitions(telemetryPartitions),
    // processor/processor.ts start; followed by the dashboard-api (dashboard-api/operator-alarms.ts).
    { name: STREAMS.operatorAlarms, partitions: 1, compacted: true },
    // The registry's entity logs (platform/registry/entity-log.ts): event-sourced, never deleted.
    { name: DEVICE_EVENTS_STREAM, partitions: 1, retainForever: true },
    { name: DEVICE_COMMANDS_STREAM, partitions: 1, retainForever: true },
    // platform/registry/liveness-bus.ts: the latest state per device or gateway.
    { name: DEVICE_LIVENESS_STREAM, partitions: 1, compacted: true },
  ].sort((x, y) => x.name.localeCompare(y.name));
}

/**
 * Each component's ACLs, one entry per resource pattern with the union of its operations,
 * sorted (topics, then groups; by name): what scripts/kafka-acls.ts applies.
 */
export function busAclSpec(options: BusAclOptions = {}): Record<BusComponent, BusAcl[]> {
  const uses = busAclUses(options);
  return Object.fromEntries(BUS_COMPONENTS.map((c) => [c, mergeAcls(uses[c].flatMap((u) => u.acls))])) as Record<BusComponent, BusAcl[]>;
}

const OPERATION_ORDER: readonly AclOperation[] = ['Read', 'Write', 'Create', 'Delete', 'Describe', 'DescribeConfigs'];

/** Merges entries of one resource pattern; drops Describe where Read, Write or Delete implies it. */
export function mergeAcls(acls: readonly BusAcl[]): BusAcl[] {
  const byResource = new Map<string, BusAcl>();
  for (const a of acls) {
    const key = `${a.resourceType}\n${a.patternType}\n${a.name}`;
    const known = byResource.get(key);
    byResource.set(key, { ...a, operations: [...new Set([...(known?.operations ?? []), ...a.operations])] });
  }
  return [...byResource.values()]
    .map((a) => {
      const implied = a.operations.some((o) => o === 'Read' || o === 'Write' || o === 'Delete');
      return { ...a, operations: OPERATION_ORDER.filter((o) => a.operations.includes(o) && !(o === 'Describe' && implied)) };
    })
    .sort((x, y) => x.resourceType.localeCompare(y.resourceType) || x.name.localeCompare(y.name) || x.patternType.localeCompare(y.patternType));
}

/** Whether `acls` allow `operation` on a resource, as Kafka's authorizer decides it (ALLOW entries only). */
export function aclAllows(acls: readonly BusAcl[], resourceType: AclResourceType, name: string, operation: AclOperation): boolean {
  return acls.some((a) => a.resourceType === resourceType
    && (a.patternType === 'Literal' ? a.name === name : name.startsWith(a.name))
    && (a.operations.includes(operation) || (operation === 'Describe' && a.operations.some((o) => o === 'Read' || o === 'Write' || o === 'Delete'))));
}

/** The SASL user of a component on a broker set up by scripts/services.sh (a hospital picks its own names). */
export const busUserOf = (component: BusComponent): string => `pulsebridge-${component}`;
