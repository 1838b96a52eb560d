/**
 * The per-component Kafka ACLs (platform/bus/acl-spec.ts) cannot drift from the code: each
 * component is started the way `pulsebridge <component>` starts it on Kafka (cli/main.ts
 * runComponent: openBus, the bus registry, the component) and does its work, on an in-process bus
 * that checks every publish, subscription and ensureStreams against that component's ACLs. A stream
 * or consumer group a component starts using without its entry in the spec fails here; so does an
 * entry that no component exercises (least privilege: nothing granted "just in case").
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startDashboard, startEhrExporter, startGateway, startProcessor } from '../../../cli/components.ts';
import { replayDeadLetter } from '../../../cli/dead-letter-replay.ts';
import { deviceTopics, STREAMS } from '../../../contracts/topics.ts';
import { openLivenessReader, openRegistry, streamPartitions } from '../../../platform/adapters.ts';
import {
  aclAllows, BUS_COMPONENTS, busAclSpec, busAclUses, busTopics, DEFAULT_PROCESSOR_GROUP, mergeAcls,
  type AclOperation, type AclResourceType, type BusAcl, type BusComponent,
} from '../../../platform/bus/acl-spec.ts';
import { InProcessBus, kafkaAuthorizationRefusal, kafkaLogSecurityHint, kafkaSecurityHint, kafkaTopicsCommand, type Bus, type BusMessage, type SubscribeOptions, type StreamSpec } from '../../../platform/bus/index.ts';
import { loadConfig } from '../../../platform/config.ts';
import { DEAD_LETTER_READER_GROUP_PREFIX } from '../../../platform/dead-letters/read-kafka.ts';
import { DEVICE_COMMANDS_STREAM } from '../../../platform/registry/commands-bus.ts';
import { createLogger, silentLogger } from '../../../platform/log.ts';
import { MetricsRegistry } from '../../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../../platform/store/index.ts';
import { describeEntry, entriesOf, markdownTable, parseOptions, specOptions, topicsTable } from '../../../scripts/kafka-acls.ts';
import { encodeV1 } from '../../../device-sim/frames.ts';
import { beats, frames, messages } from '../../processor/helpers.ts';
import { waitFor } from '../../helpers/wait.ts';

type Use = `${AclResourceType} ${string} ${AclOperation}`;

/** One component's view of a shared in-process bus: every call is checked against its ACLs and noted. */
class CheckedBus implements Bus {
  readonly used = new Set<Use>();
  /** Every stream ensureStreams was asked for, as asked (partitions, compaction, retention). */
  readonly ensured: StreamSpec[] = [];
  readonly refused: string[] = [];
  readonly inner: InProcessBus;
  readonly acls: readonly BusAcl[];
  constructor(inner: InProcessBus, acls: readonly BusAcl[]) {
    this.inner = inner;
    this.acls = acls;
  }

  #use(type: AclResourceType, name: string, op: AclOperation, why: string): void {
    this.used.add(`${type} ${name} ${op}`);
    if (!aclAllows(this.acls, type, name, op)) this.refused.push(`${op} on ${type} ${name} (${why})`);
  }

  publish(stream: string, batch: BusMessage[]): Promise<void> {
    this.#use('Topic', stream, 'Write', 'publish');
    return this.inner.publish(stream, batch);
  }

  async subscribe(stream: string, options: SubscribeOptions) {
    this.#use('Topic', stream, 'Read', `subscribe as ${options.groupId}`);
    this.#use('Group', options.groupId, 'Read', `subscribe to ${stream}`);
    if (options.ephemeralGroup) this.#use('Group', options.groupId, 'Delete', `ephemeral group on ${stream}`);
    const subscription = await this.inner.subscribe(stream, options);
    // A follower's sync asks where the stream ends (Kafka ListOffsets): Describe, no Write.
    return { ...subscription, endOffsets: () => { this.#use('Topic', stream, 'Describe', 'endOffsets'); return subscription.endOffsets(); } };
  }

  ensureStreams(streams: StreamSpec[]): Promise<void> {
    for (const s of streams) {
      this.ensured.push(s);
      this.#use('Topic', s.name, 'Describe', 'ensureStreams');
      this.#use('Topic', s.name, 'Create', 'ensureStreams');
    }
    return this.inner.ensureStreams(streams);
  }

  subscriptionStatuses() {
    return this.inner.subscriptionStatuses();
  }

  /** The shared bus stays open for the other components. */
  async close(): Promise<void> {}
}

/** Whether a use noted on the bus exercises `acl`'s operation `op` (a group's use is by a name under its prefix). */
function exercised(used: ReadonlySet<Use>, acl: BusAcl, op: AclOperation): boolean {
  return [...used].some((u) => {
    const [type, name, usedOp] = u.split(' ') as [AclResourceType, string, AclOperation];
    return type === acl.resourceType && usedOp === op && (acl.patternType === 'Literal' ? name === acl.name : name.startsWith(acl.name));
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-acl-spec-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Kafka ACL spec against what each component does on the bus', () => {
  const inner = new InProcessBus();
  const spec = busAclSpec();
  const buses = Object.fromEntries(BUS_COMPONENTS.map((c) => [c, new CheckedBus(inner, spec[c])])) as Record<BusComponent, CheckedBus>;
  // Kafka mode: the registry and liveness live on the bus. The brokers are never dialled (the bus is in-process).
  const config = loadConfig({
    PULSEBRIDGE_DATA_DIR: tmp, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: '127.0.0.1:1', PULSEBRIDGE_MQTT_PLAINTEXT: 'true', PULSEBRIDGE_MQTT_PORT: '0',
    PULSEBRIDGE_HTTP_PORT: '0', PULSEBRIDGE_EHR_HTTP_PORT: '0', PULSEBRIDGE_FHIR_BASE_URL: 'http://127.0.0.1:1/fhir', PULSEBRIDGE_HL7_MLLP: 'mllp://127.0.0.1:1',
    PULSEBRIDGE_EHR_HR_SUMMARY_MIN: '5',
  });
  const stops: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await inner.close();
  });
  const ctx = (c: BusComponent) => ({ config, bus: buses[c], logger: process.env.H4DBG ? createLogger('info') : silentLogger, metrics: new MetricsRegistry() });
  /** openBus' ensureStreams (platform/adapters.ts) on the component's bus. */
  const openBus = (c: BusComponent) => buses[c].ensureStreams(streamPartitions(config.streams.telemetryPartitions));

  it('the processor\'s default group in the spec is PULSEBRIDGE_PROCESSOR_GROUP\'s default', () => {
    expect(config.processor.groupId).toBe(DEFAULT_PROCESSOR_GROUP);
  });

  it('the dead-letter reader\'s groups are under the prefix the cli is granted', () => {
    expect(aclAllows(spec.cli, 'Group', `${DEAD_LETTER_READER_GROUP_PREFIX}x`, 'Read')).toBe(true);
    expect(aclAllows(spec.cli, 'Group', `${DEAD_LETTER_READER_GROUP_PREFIX}x`, 'Delete')).toBe(true);
    expect(aclAllows(spec.cli, 'Topic', STREAMS.deadLetter, 'Read')).toBe(true);
    // platform/dead-letters/read-kafka.ts reads the stream with kafkajs directly, not through the bus: noted here by hand.
    for (const u of [`Topic ${STREAMS.deadLetter} Read`, `Group ${DEAD_LETTER_READER_GROUP_PREFIX}x Read`, `Group ${DEAD_LETTER_READER_GROUP_PREFIX}x Delete`] as Use[]) buses.cli.used.add(u);
  });

  it('the dashboard-api starts with its registry, and its users acknowledge alerts, change criteria and send a device a command', async () => {
    await openBus('dashboard-api');
    const store = new SqliteVitalsStore(path.join(tmp, 'vitals.sqlite'));
    stops.push(() => store.close());
    const registry = await openRegistry(config, buses['dashboard-api'], silentLogger);
    stops.push(() => registry.close());
    const dashboard = await startDashboard(ctx('dashboard-api'), store, registry);
    stops.push(() => dashboard.stop());
    await registry.add('d1', 'p1', 'test', Date.now() - 3_600_000);
    const token = (await import('../../../dashboard-api/dev-issuer.ts')).openDevIssuer({ dataDir: tmp });
    const bearer = await (await token).issueToken({ sub: 'admin', role: 'admin', patients: [], ttlSeconds: 600 });
    const res = await fetch(`${dashboard.url}/v1/patients/p1/criteria`, {
      method: 'PUT', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ alarms: {}, reason: 'ACL spec test' }),
    });
    expect(res.status, await res.text()).toBe(200);
    // Delivered by the gateway below, once d1 subscribes to its command topic.
    const command = await fetch(`${dashboard.url}/v1/devices/d1/commands`, {
      method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'ping' }),
    });
    expect(command.status, await command.text()).toBe(201);
    expect(buses['dashboard-api'].refused).toEqual([]);
  });

  it('the gateway starts with its registry, publishes a device\'s frames and refusals, and delivers its command', async () => {
    await openBus('gateway');
    const registry = await openRegistry(config, buses.gateway, silentLogger, { auditTrail: false });
    stops.push(() => registry.close());
    const gateway = await startGateway(ctx('gateway'), registry);
    stops.push(() => gateway.stop());
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.port}`, { clientId: 'd1', protocolVersion: 4, reconnectPeriod: 0 });
    try {
      await client.subscribeAsync(deviceTopics('d1').cmd, { qos: 1 });
      const [frame] = frames(beats(Date.now() - 2_000, [{ rrMs: 800, count: 3 }]), 1_000, { t0Ms: Date.now() - 1_000 });
      await client.publishAsync('pb/v1/dev/d1/telemetry', encodeV1(frame!), { qos: 1 });
      await client.publishAsync('pb/v1/dev/d1/telemetry', 'not a frame', { qos: 1 });
      await waitFor('a telemetry record, a dead letter and the dashboard\'s command delivered', () => [STREAMS.telemetry, STREAMS.deadLetter, DEVICE_COMMANDS_STREAM].every((s) => buses.gateway.used.has(`Topic ${s} Write`)) ? true : undefined, 10_000);
    } finally {
      await client.endAsync();
    }
    expect(buses.gateway.refused).toEqual([]);
  });

  it('the processor starts beside its liveness reader and analyses a patient\'s telemetry', async () => {
    await openBus('processor');
    const store = new SqliteVitalsStore(path.join(tmp, 'processor-vitals.sqlite'));
    stops.push(() => store.close());
    const upstream = await openLivenessReader(config, buses.processor, silentLogger);
    stops.push(() => upstream.close());
    const processor = await startProcessor(ctx('processor'), store, { upstream: upstream.liveness });
    stops.push(() => processor.stop());
    // 200/min for a minute: an extreme tachycardia alarm.
    const t0 = Date.now() - 70_000;
    await inner.publish(STREAMS.telemetry, messages(frames(beats(t0, [{ rrMs: 300, count: 220 }]), 66_000, { t0Ms: t0 }), 'p2', 'd2'));
    // A new patient stream catches up on criteria and state (their end offsets: Describe), then derives and stores.
    const wrote = (stream: string) => buses.processor.used.has(`Topic ${stream} Write`);
    await waitFor('the processor\'s outputs', () => [STREAMS.processorState, STREAMS.alerts].every(wrote) ? true : undefined, 30_000);
    expect(buses.processor.used).toContain(`Topic ${STREAMS.criteria} Describe`);
    expect(buses.processor.used).toContain(`Topic ${STREAMS.processorState} Describe`);
    // The catch-up writes nothing: the criteria are the clinicians' (dashboard-api) alone.
    expect(wrote(STREAMS.criteria)).toBe(false);
    expect(buses.processor.refused).toEqual([]);
  });

  it('the ehr-exporter starts its FHIR and HL7 exports; HL7 rebuilds its ledger from the alerts before its position', async () => {
    await openBus('ehr-exporter');
    const ehr = (await startEhrExporter(ctx('ehr-exporter'), { fromBeginning: false }))!;
    stops.push(() => ehr.stop());
    expect(ehr.exporter).toBeDefined();
    expect(ehr.hl7).toBeDefined();
    // The processor's alarm above is before the new groups' position: the HL7 exporter reads it back under a deleted group.
    await waitFor('the HL7 ledger rebuild', () => [...buses['ehr-exporter'].used].some((u) => u.startsWith('Group hl7-exporter-rebuild-') && u.endsWith(' Delete')) ? true : undefined, 10_000);
    expect(buses['ehr-exporter'].refused).toEqual([]);
  });

  it('the cli replays dead letters of every stream the spec names and changes the registry', async () => {
    await openBus('cli');
    const registry = await openRegistry(config, buses.cli, silentLogger);
    try {
      await registry.add('d9', 'p9', 'cli', Date.now() - 60_000);
      await registry.commands.create('d9', { type: 'ping' }, 'cli');
      for (const stream of [STREAMS.telemetry, STREAMS.alerts, STREAMS.ecgStrips]) {
        const record = { schema: 'pb.deadletter.v1', deviceId: 'd9', topic: stream, reason: 'test', detail: '', payloadBase64: Buffer.from('{}').toString('base64'), receivedAt: Date.now(), source: 'ehr-exporter', stream, key: 'p9' } as const;
        expect(await replayDeadLetter({ id: '0:1', record }, { bus: buses.cli, registry })).toMatchObject({ ok: true });
      }
    } finally {
      await registry.close();
    }
    expect(buses.cli.refused).toEqual([]);
  });

  /**
   * Writes that need a situation this test does not make (each is its component's own tests'
   * subject); listed so that an entry granted for nothing still fails below.
   */
  const NOT_MADE_HERE: Record<string, string> = {
    'processor: Write on Topic Literal pb.derived-vitals.v1': 'beats the processor detects in ECG, for devices that send none (processor/outputs.ts)',
    'processor: Write on Topic Literal pb.ecg-strips.v1': 'an ECG strip, once the ECG after an alarm has come (processor/outputs.ts)',
    'processor: Write on Topic Literal pb.operator-alarms.v1': 'telemetry not reaching the processor (processor/infrastructure-gap.ts)',
    'ehr-exporter: Write on Topic Literal pb.ehr-retry.v1': 'an alert of a patient the EHR does not know yet, parked (ehr-exporter/exporter.ts)',
    'dashboard-api: Write on Topic Literal pb.alerts.v1': 'a clinician acknowledging an alert (dashboard-api/server.ts)',
  };

  it('every ACL of the spec is used by its component (nothing is granted that the code does not do)', () => {
    const unused: string[] = [];
    for (const c of BUS_COMPONENTS) {
      for (const acl of spec[c]) {
        for (const op of acl.operations) {
          if (!exercised(buses[c].used, acl, op)) unused.push(`${c}: ${op} on ${acl.resourceType} ${acl.patternType} ${acl.name}`);
        }
      }
    }
    expect(unused.sort()).toEqual(Object.keys(NOT_MADE_HERE).sort());
  });

  it('busTopics() (the topics an administrator pre-creates) is every stream the components ensure, with the partitions and configuration they ensure it with', () => {
    const asked = new Map<string, Set<string>>();
    for (const c of BUS_COMPONENTS) {
      for (const s of buses[c].ensured) {
        const spec = JSON.stringify({ name: s.name, partitions: s.partitions, compacted: s.compacted ?? false, retainForever: s.retainForever ?? false });
        asked.set(s.name, (asked.get(s.name) ?? new Set()).add(spec));
      }
    }
    // Each stream is ensured the same way wherever it is ensured.
    expect([...asked].filter(([, specs]) => specs.size > 1).map(([name]) => name)).toEqual([]);
    const listed = busTopics(config.streams.telemetryPartitions).map((s) => JSON.stringify({ name: s.name, partitions: s.partitions, compacted: s.compacted ?? false, retainForever: s.retainForever ?? false }));
    expect(listed).toEqual([...asked.keys()].sort().map((name) => [...asked.get(name)!][0]));
  });

  it('without Create (PULSEBRIDGE_KAFKA_CREATE_TOPICS=false) each component is still allowed everything it did here but creating topics, and creating none', () => {
    const noCreate = busAclSpec({ createTopics: false });
    for (const c of BUS_COMPONENTS) {
      const missing = [...buses[c].used].filter((u) => !u.endsWith(' Create')).filter((u) => {
        const [type, name, op] = u.split(' ') as [AclResourceType, string, AclOperation];
        return !aclAllows(noCreate[c], type, name, op);
      });
      expect(missing, c).toEqual([]);
      // The Describe that checking a topic's existence needs, on every topic the component ensures.
      for (const s of buses[c].ensured) expect(aclAllows(noCreate[c], 'Topic', s.name, 'Describe'), `${c} ${s.name}`).toBe(true);
    }
  });

  it('a component does not get another\'s rights: the gateway reads no alerts or EHR streams, the dashboard writes no telemetry, the processor no criteria', () => {
    expect(aclAllows(spec.gateway, 'Topic', STREAMS.alerts, 'Read')).toBe(false);
    expect(aclAllows(spec.gateway, 'Topic', STREAMS.ehrRetry, 'Read')).toBe(false);
    expect(aclAllows(spec.gateway, 'Topic', STREAMS.telemetry, 'Read')).toBe(false);
    expect(aclAllows(spec['dashboard-api'], 'Topic', STREAMS.telemetry, 'Write')).toBe(false);
    expect(aclAllows(spec['ehr-exporter'], 'Topic', 'pb.device-events.v1', 'Read')).toBe(false);
    expect(aclAllows(spec.processor, 'Group', 'ehr-exporter', 'Read')).toBe(false);
    // The processor reads patients' alarm criteria; only the dashboard-api (clinicians) writes them.
    expect(aclAllows(spec.processor, 'Topic', STREAMS.criteria, 'Write')).toBe(false);
    expect(aclAllows(spec.processor, 'Topic', STREAMS.criteria, 'Read')).toBe(true);
    expect(aclAllows(spec.processor, 'Topic', STREAMS.processorState, 'Write')).toBe(true);
  });
});

describe('scripts/kafka-acls.ts apply', () => {
  it('names what it adds and removes (it printed `4 on 2 3 pb.alerts.v1 (3, host *)`: kafkajs\' enums have no reverse mapping)', () => {
    const [entry] = entriesOf('User:pulsebridge-dashboard-api', { resourceType: 'Topic', name: STREAMS.processorHeartbeats, patternType: 'Literal', operations: ['Write'] });
    expect(describeEntry(entry!)).toBe('WRITE on TOPIC LITERAL pb.processor-heartbeats.v1 (ALLOW, host *)');
  });
});

describe('README "Kafka ACLs"', () => {
  const readme = () => fs.readFileSync(path.resolve(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
  it('holds the table printed from the spec (node scripts/kafka-acls.ts markdown)', () => {
    const m = /<!-- kafka-acls:begin[^\n]*-->\n([\s\S]*?)\n<!-- kafka-acls:end -->/.exec(readme());
    expect(m, 'README.md has no kafka-acls:begin/end markers').not.toBeNull();
    expect(m![1]).toBe(markdownTable());
  });

  it('holds the list of topics to pre-create printed from busTopics() (node scripts/kafka-acls.ts topics)', () => {
    const m = /<!-- kafka-topics:begin[^\n]*-->\n([\s\S]*?)\n<!-- kafka-topics:end -->/.exec(readme());
    expect(m, 'README.md has no kafka-topics:begin/end markers').not.toBeNull();
    expect(m![1]).toBe(topicsTable());
  });
});

describe('PULSEBRIDGE_KAFKA_CREATE_TOPICS and the ACL spec without Create', () => {
  const kafka = { PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: '127.0.0.1:1' };
  it('is read as a switch: default true (components create missing topics, as before), false/0/no turns creation off, anything else is refused', () => {
    expect(loadConfig(kafka).streams.createTopics).toBe(true);
    expect(loadConfig({ ...kafka, PULSEBRIDGE_KAFKA_CREATE_TOPICS: 'true' }).streams.createTopics).toBe(true);
    for (const off of ['false', '0', 'no']) expect(loadConfig({ ...kafka, PULSEBRIDGE_KAFKA_CREATE_TOPICS: off }).streams.createTopics, off).toBe(false);
    expect(() => loadConfig({ ...kafka, PULSEBRIDGE_KAFKA_CREATE_TOPICS: 'off' })).toThrow(/PULSEBRIDGE_KAFKA_CREATE_TOPICS/);
  });

  it('the spec without Create grants no Create, Describe and DescribeConfigs on every topic it granted Create on, and otherwise exactly the default spec', () => {
    const withCreate = busAclSpec();
    const without = busAclSpec({ createTopics: false });
    for (const c of BUS_COMPONENTS) {
      expect(without[c].filter((a) => a.operations.includes('Create')), c).toEqual([]);
      for (const a of withCreate[c].filter((x) => x.operations.includes('Create'))) {
        expect(aclAllows(without[c], 'Topic', a.name, 'Describe'), `${c} ${a.name}`).toBe(true);
        // Reading the pre-created topic's configuration (retention, compaction) at start.
        expect(aclAllows(without[c], 'Topic', a.name, 'DescribeConfigs'), `${c} ${a.name}`).toBe(true);
      }
      // DescribeConfigs nowhere else, and not in the default spec.
      expect(without[c].filter((a) => a.operations.includes('DescribeConfigs')).map((a) => a.name), c).toEqual(withCreate[c].filter((a) => a.operations.includes('Create')).map((a) => a.name));
      expect(withCreate[c].some((a) => a.operations.includes('DescribeConfigs')), c).toBe(false);
      // Create replaced by DescribeConfigs in the default spec gives the variant (Describe kept where nothing implies it).
      expect(without[c], c).toEqual(mergeAcls(withCreate[c].map((a) => {
        const ops = a.operations.filter((o) => o !== 'Create');
        return { ...a, operations: a.operations.includes('Create') ? [...ops, 'Describe', 'DescribeConfigs'] : ops };
      })));
    }
    // Every component ensures streams at start: the default spec grants Create to each of them.
    for (const c of BUS_COMPONENTS) expect(withCreate[c].some((a) => a.operations.includes('Create')), c).toBe(true);
  });

  it('scripts/kafka-acls.ts apply|commands --no-create use that spec; without the flag the default one', () => {
    expect(busAclSpec(specOptions(parseOptions(['--no-create'])))).toEqual(busAclSpec({ createTopics: false }));
    expect(busAclSpec(specOptions(parseOptions(['--processor-group', 'g', '--no-create'])))).toEqual(busAclSpec({ processorGroup: 'g', createTopics: false }));
    expect(busAclSpec(specOptions(parseOptions([])))).toEqual(busAclSpec());
  });

  it('the kafka-topics.sh line of a topic carries the partitions and configuration ensureStreams creates it with', () => {
    expect(kafkaTopicsCommand({ name: 'pb.x', partitions: 6 })).toBe('kafka-topics.sh --bootstrap-server "$BROKERS" --command-config admin.properties --create --topic pb.x --partitions 6');
    expect(kafkaTopicsCommand({ name: 'pb.c', partitions: 1, compacted: true }, 3)).toBe('kafka-topics.sh --bootstrap-server "$BROKERS" --command-config admin.properties --create --topic pb.c --partitions 1 --replication-factor 3 --config cleanup.policy=compact');
    expect(kafkaTopicsCommand({ name: 'pb.r', partitions: 1, retainForever: true })).toContain('--config retention.ms=-1 --config retention.bytes=-1');
  });
});

describe('an ACL refusal names itself and the user', () => {
  const security = { sasl: { mechanism: 'scram-sha-512' as const, username: 'pulsebridge-gateway', password: 'x' } };
  it('in an error, also inside kafkajs\' "Topic creation errors", and in a logged line', () => {
    const createTopics = Object.assign(new Error('Topic creation errors'), { errors: [Object.assign(new Error('Not authorized to access topics: [Topic authorization failed]'), { type: 'TOPIC_AUTHORIZATION_FAILED' })] });
    expect(kafkaAuthorizationRefusal(createTopics)).toBe('Not authorized to access topics: [Topic authorization failed]');
    expect(kafkaSecurityHint(createTopics, security)).toContain('the broker\'s ACLs do not allow this to KAFKA_SASL_USERNAME pulsebridge-gateway');
    expect(kafkaLogSecurityHint('Response GroupCoordinator(key: 10, version: 2)', 'Not authorized to access group: Group authorization failed', security)).toContain('README "Kafka ACLs"');
    expect(kafkaAuthorizationRefusal(new Error('Failed to find group coordinator'))).toBeUndefined();
  });
});

describe('mergeAcls', () => {
  it('unites the operations of one resource pattern and leaves out a Describe that Read, Write or Delete implies', () => {
    const merged = mergeAcls([
      { resourceType: 'Topic', name: 't', patternType: 'Literal', operations: ['Describe', 'Create'] },
      { resourceType: 'Topic', name: 't', patternType: 'Literal', operations: ['Write'] },
      { resourceType: 'Topic', name: 'u', patternType: 'Literal', operations: ['Describe', 'Create'] },
    ]);
    expect(merged).toEqual([
      { resourceType: 'Topic', name: 't', patternType: 'Literal', operations: ['Write', 'Create'] },
      { resourceType: 'Topic', name: 'u', patternType: 'Literal', operations: ['Create', 'Describe'] },
    ]);
  });

  it('the spec is the merge of its uses', () => {
    const uses = busAclUses();
    for (const c of BUS_COMPONENTS) expect(busAclSpec()[c]).toEqual(mergeAcls(uses[c].flatMap((u) => u.acls)));
  });
});
