/**
 * Least privilege on a real broker: scripts/services.sh enables KRaft's StandardAuthorizer and gives
 * each component its own SCRAM user with exactly its ACLs from platform/bus/acl-spec.ts (applied by
 * scripts/kafka-acls.ts; settings in <state>/kafka/sasl-ssl/users/<component>.env). Each component
 * is started here as the product starts it, over SASL_SSL as its own user, and does its work; then
 * each user is refused what its component must not do, with an error that names the refusal and
 * the user, not a hang (the test timeout is the only bound). Skipped without the listener's users,
 * failing instead under PULSEBRIDGE_REQUIRE_SERVICES=1 (CI).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDashboard, startEhrExporter, startGateway, type ComponentContext } from '../../../cli/components.ts';
import { STREAMS } from '../../../contracts/topics.ts';
import { encodeV1 } from '../../../device-sim/frames.ts';
import { openBus, openLivenessReader, openRegistry } from '../../../platform/adapters.ts';
import { BUS_COMPONENTS, busTopics, busUserOf, type BusComponent } from '../../../platform/bus/acl-spec.ts';
import { BusFollower, followerGroupPrefix, kafkaAnswers, kafkaClientSecurity, watchBusConsumers, type Bus } from '../../../platform/bus/index.ts';
import { loadConfig, type PulsebridgeConfig } from '../../../platform/config.ts';
import { scanKafkaDeadLetters } from '../../../platform/dead-letters/index.ts';
import { PulsebridgeError } from '../../../platform/errors.ts';
import { createLogger, silentLogger } from '../../../platform/log.ts';
import { DEVICE_EVENTS_STREAM } from '../../../platform/registry/directory-bus.ts';
import { MetricsRegistry } from '../../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../../platform/store/index.ts';
import type { AlertEnvelope } from '../../../contracts/alert.ts';
import { openDevIssuer } from '../../../dashboard-api/dev-issuer.ts';
import { createProcessor } from '../../../processor/processor.ts';
import { readEnvFile } from '../../../scripts/kafka-acls.ts';
import { describeWithService, kafkaSaslSslEnvFile, kafkaSaslSslSettings } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';
import { beats, frames, messages } from '../../processor/helpers.ts';

// kafkajs' enums are not among the names Node finds in its CommonJS exports for an ES import.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ConfigResourceTypes, ResourcePatternTypes } = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs');

/** scripts/services.sh writes one settings file per component user beside sasl-ssl.env. */
const usersDir = path.join(path.dirname(kafkaSaslSslEnvFile), 'users');
const envFile = (c: BusComponent) => path.join(usersDir, `${c}.env`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-kafka-acl-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The product's configuration of a component running as its own user: environment → loadConfig. */
function configOf(c: BusComponent, extra: Record<string, string> = {}): PulsebridgeConfig {
  const env = readEnvFile(envFile(c));
  return loadConfig({ ...env, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: env.KAFKA_SASL_SSL_BROKERS!, PULSEBRIDGE_DATA_DIR: path.join(tmp, c), ...extra });
}

/** Every component user's settings exist and its login works (a broker without them: skip, or fail in CI). */
async function componentUsersAvailable(): Promise<boolean> {
  for (const c of BUS_COMPONENTS) {
    if (!fs.existsSync(envFile(c))) return false;
    const config = configOf(c);
    if (config.bus.kind !== 'kafka' || !(await kafkaAnswers([...config.bus.brokers], 'pulsebridge-test-probe', config.bus.security))) return false;
  }
  return true;
}

/** How an operation the user may not do fails: the bus's error. */
async function refused(what: Promise<unknown>): Promise<PulsebridgeError> {
  const outcome = await what.then(() => undefined, (err: unknown) => err);
  if (outcome === undefined) throw new Error('the broker allowed it, but the ACLs should have refused it');
  expect(outcome).toBeInstanceOf(PulsebridgeError);
  return outcome as PulsebridgeError;
}

await describeWithService('per-component Kafka users and ACLs (StandardAuthorizer) against a real broker', componentUsersAvailable, () => {
  const run = randomUUID().slice(0, 8);
  const deviceId = `acl-dev-${run}`;
  const patientId = `acl-pat-${run}`;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });
  const buses = {} as Record<BusComponent, Bus>;
  /** openBus as the component's user: its start-up ensureStreams (Describe, Create) must pass. */
  async function busOf(c: BusComponent, extra: Record<string, string> = {}): Promise<{ config: PulsebridgeConfig; bus: Bus }> {
    const config = configOf(c, extra);
    const bus = await openBus(config, silentLogger);
    closers.push(() => bus.close());
    buses[c] = bus;
    return { config, bus };
  }
  const ctx = (config: PulsebridgeConfig, bus: Bus): ComponentContext => ({ config, bus, logger: silentLogger, metrics: new MetricsRegistry(), busHealth: watchBusConsumers({ bus, logger: silentLogger, metrics: new MetricsRegistry() }) });
  const processorMetrics = new MetricsRegistry();
  let dashboard: { url: string; dataDir: string } | undefined;

  it('the cli user registers a device on the bus registry', async () => {
    const { config, bus } = await busOf('cli');
    const registry = await openRegistry(config, bus, silentLogger);
    try {
      await registry.add(deviceId, patientId, 'acl-test', Date.now() - 3_600_000);
    } finally {
      await registry.close();
    }
  });

  it('the processor user starts the processor (criteria and state tables, alerts, store sink, liveness) and it consumes', async () => {
    const { config, bus } = await busOf('processor');
    const store = new SqliteVitalsStore(path.join(tmp, 'processor-vitals.sqlite'));
    closers.push(() => store.close());
    const upstream = await openLivenessReader(config, bus, silentLogger);
    closers.push(() => upstream.close());
    // A group of this run under the processor's prefix, from now on (not the shared broker's whole telemetry).
    const groupId = `pulsebridge-processor-acl-${run}`;
    const processor = createProcessor({ bus, store, logger: silentLogger, metrics: processorMetrics, groupId, instanceId: `${groupId}:${randomUUID()}`, fromBeginning: false, upstream: upstream.liveness });
    await processor.start();
    closers.push(() => processor.stop());
  });

  it('the dashboard-api user starts the API (registry, criteria, operator alarms, alerts, live vitals)', async () => {
    const { config, bus } = await busOf('dashboard-api', { PULSEBRIDGE_HTTP_PORT: '0' });
    const store = new SqliteVitalsStore(path.join(tmp, 'dashboard-vitals.sqlite'));
    closers.push(() => store.close());
    const registry = await openRegistry(config, bus, silentLogger);
    closers.push(() => registry.close());
    const api = await startDashboard(ctx(config, bus), store, registry);
    closers.push(() => api.stop());
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    dashboard = { url: api.url, dataDir: config.dataDir };
  });

  it('the ehr-exporter user starts the FHIR and HL7 exports', async () => {
    const { config, bus } = await busOf('ehr-exporter', { PULSEBRIDGE_FHIR_BASE_URL: 'http://127.0.0.1:1/fhir', PULSEBRIDGE_HL7_MLLP: 'mllp://127.0.0.1:1', PULSEBRIDGE_EHR_HTTP_PORT: '0', PULSEBRIDGE_EHR_HR_SUMMARY_MIN: '5' });
    const ehr = (await startEhrExporter(ctx(config, bus), { groupId: `ehr-exporter-acl-${run}`, hl7GroupId: `hl7-exporter-acl-${run}`, fromBeginning: false }))!;
    closers.push(() => ehr.stop());
    expect(ehr.exporter).toBeDefined();
    expect(ehr.hl7).toBeDefined();
  });

  it('the gateway user starts the gateway; a device\'s frame reaches the processor, its refused payload the dead letters the cli user reads', async () => {
    const { config, bus } = await busOf('gateway', { PULSEBRIDGE_MQTT_PLAINTEXT: 'true', PULSEBRIDGE_MQTT_PORT: '0' });
    const registry = await openRegistry(config, bus, silentLogger, { auditTrail: false });
    closers.push(() => registry.close());
    const gateway = await startGateway(ctx(config, bus), registry);
    closers.push(() => gateway.stop());
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.port}`, { clientId: deviceId, protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const t0 = Date.now() - 3_000;
      for (const frame of frames(beats(t0, [{ rrMs: 800, count: 4 }]), 2_000, { t0Ms: t0 })) await client.publishAsync(`pb/v1/dev/${deviceId}/telemetry`, encodeV1(frame), { qos: 1 });
      await client.publishAsync(`pb/v1/dev/${deviceId}/telemetry`, `not a frame ${run}`, { qos: 1 });
    } finally {
      await client.endAsync();
    }
    // Published as the gateway, consumed as the processor (its store sink wrote the frames' points).
    await waitFor('the processor to store the frames\' points', () => /pb_processor_store_points_total\{kind="heart_rate"\} [1-9]/.test(processorMetrics.render()) ? true : undefined, 60_000);
    // `pulsebridge deadletter list` as the cli user (its own deleted-afterwards group).
    const cli = configOf('cli');
    if (cli.bus.kind !== 'kafka') throw new Error('unreachable');
    const found: string[] = [];
    await scanKafkaDeadLetters({ brokers: [...cli.bus.brokers], clientId: 'pulsebridge-cli', ...(cli.bus.security ? { security: cli.bus.security } : {}) }, (entry) => {
      if (entry.record.deviceId === deviceId) found.push(entry.record.reason);
    });
    expect(found.length).toBeGreaterThan(0);
  });

  it('every component\'s subscriptions consume as its own user', () => {
    for (const c of ['processor', 'dashboard-api', 'ehr-exporter', 'gateway'] as const) {
      const statuses = buses[c].subscriptionStatuses!();
      expect(statuses.length, c).toBeGreaterThan(0);
      expect(statuses.filter((s) => !s.consuming).map((s) => `${c}: ${s.stream} ${s.groupId} ${s.state} ${s.reason ?? ''}`)).toEqual([]);
    }
  });

  const expectAclRefusal = (err: PulsebridgeError, component: BusComponent, kind: 'topics' | 'group' | undefined) => {
    expect(err.code).toBe('PB_BUS_UNAVAILABLE');
    if (kind) expect(err.message).toContain(`Not authorized to access ${kind}`);
    expect(err.message).toContain(`the broker's ACLs do not allow this to KAFKA_SASL_USERNAME ${busUserOf(component)}`);
  };
  const noop = { onBatch: async () => {} };

  it('the gateway user may not read alerts, EHR retries or telemetry (subscribe fails at once with the ACL refusal)', async () => {
    const bus = buses.gateway;
    // A group the gateway may use (its registry followers' prefix): what is refused is the stream.
    for (const stream of [STREAMS.alerts, STREAMS.ehrRetry, STREAMS.telemetry]) {
      const err = await refused(bus.subscribe(stream, { groupId: `${followerGroupPrefix('pb.device-events.v1')}acl-${run}`, fromBeginning: true, ephemeralGroup: true, ...noop }));
      expectAclRefusal(err, 'gateway', 'topics');
      expect(err.message).toContain(`could not subscribe to ${stream}`);
    }
  });

  it('the dashboard-api user may not produce telemetry, and the ehr-exporter user may not produce alerts', async () => {
    const telemetry = await refused(buses['dashboard-api'].publish(STREAMS.telemetry, [{ key: patientId, value: Buffer.from('{}') }]));
    expectAclRefusal(telemetry, 'dashboard-api', 'topics');
    expect(telemetry.message).toContain(`kafka did not acknowledge 1 message(s) on ${STREAMS.telemetry}`);
    expectAclRefusal(await refused(buses['ehr-exporter'].publish(STREAMS.alerts, [{ key: patientId, value: Buffer.from('{}') }])), 'ehr-exporter', 'topics');
  });

  it('the dashboard-api user may not write processor heartbeats, yet follows them: its sync sees what the processor published before it', async () => {
    const stream = { name: STREAMS.processorHeartbeats, partitions: 1, compacted: true };
    // A leaked dashboard password cannot fake a processor's heartbeat (and hide "processor silent").
    const fake = await refused(buses['dashboard-api'].publish(stream.name, [{ key: `acl-test-${run}`, value: Buffer.from('{}') }]));
    expectAclRefusal(fake, 'dashboard-api', 'topics');
    const seen: unknown[] = [];
    const follower = await BusFollower.open({ bus: buses['dashboard-api'], stream, logger: silentLogger, onMessage: (value) => seen.push(value) });
    closers.push(() => follower.close());
    // Not a heartbeat (every reader of the stream skips it), under a key of its own.
    const record = { schema: 'pb.test.acl-follow.v1', run };
    await buses.processor.publish(stream.name, [{ key: `acl-test-${run}`, value: Buffer.from(JSON.stringify(record)) }]);
    await follower.sync();
    expect(seen).toContainEqual(record);
  });

  it('the processor user may not write patients\' criteria, yet a processor started as it catches up on and applies the criteria the dashboard user wrote', async () => {
    // A leaked processor password cannot change a patient's alarm limits (its tables catch up by
    // reading the streams' end offsets, not by writing a barrier: processor/changelog-table.ts).
    const forged = await refused(buses.processor.publish(STREAMS.criteria, [{ key: `acl-crit-${run}`, value: Buffer.from('{}') }]));
    expectAclRefusal(forged, 'processor', 'topics');
    expect(forged.message).toContain(`kafka did not acknowledge 1 message(s) on ${STREAMS.criteria}`);

    // A clinician sets the patient's tachycardia limit through the API (dashboard user): above 100/min for 3 beats, no delay (default 120/min, delayed).
    const critPatient = `acl-crit-pat-${run}`;
    const t0 = Date.now() - 20_000;
    const bearer = await (await openDevIssuer({ dataDir: dashboard!.dataDir })).issueToken({ sub: 'admin', role: 'admin', patients: [], ttlSeconds: 600 });
    const put = await fetch(`${dashboard!.url}/v1/patients/${critPatient}/criteria`, {
      method: 'PUT', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ alarms: { tachy: { limitBpm: 100, consecutiveBeats: 3, sustainMs: 0 } }, effectiveFrom: t0 - 60_000, reason: 'Kafka ACL test' }),
    });
    expect(put.status, await put.text()).toBe(200);

    // The processor's alerts, read as the dashboard user (its board's groups).
    const alerts: AlertEnvelope[] = [];
    const reader = await buses['dashboard-api'].subscribe(STREAMS.alerts, {
      groupId: `dashboard-api-acl-alerts-${run}`, ephemeralGroup: true, fromBeginning: true,
      onBatch: async (batch) => { for (const m of batch) alerts.push(JSON.parse(m.value.toString('utf8')) as AlertEnvelope); },
    });
    closers.push(() => reader.stop());
    // A processor started now as the processor user: the first batch of the patient's partition
    // waits for its criteria table to catch up on what the API published before.
    const groupId = `pulsebridge-processor-acl-criteria-${run}`;
    const store = new SqliteVitalsStore(':memory:');
    closers.push(() => store.close());
    const processor = createProcessor({ bus: buses.processor, store, logger: silentLogger, metrics: new MetricsRegistry(), groupId, instanceId: `${groupId}:${randomUUID()}`, fromBeginning: false });
    await processor.start();
    closers.push(() => processor.stop());
    // 110/min, published as the gateway.
    await buses.gateway.publish(STREAMS.telemetry, messages(frames(beats(t0, [{ rrMs: 545, count: 30 }]), 18_000, { t0Ms: t0 }), critPatient, `acl-crit-dev-${run}`));
    const tachy = await waitFor('the patient\'s tachycardia alarm', () => alerts.find((e) => e.source === 'processor' && e.alert.patientId === critPatient && e.alert.kind === 'tachy'), 60_000);
    expect(tachy.alert.evidence.thresholds).toMatchObject({ limitBpm: 100, consecutiveBeats: 3, sustainMs: 0 });
  });

  it('the ehr-exporter user may not read the device registry, and the processor user may not use another component\'s group', async () => {
    expectAclRefusal(await refused(buses['ehr-exporter'].subscribe('pb.device-events.v1', { groupId: `ehr-exporter-acl-registry-${run}`, fromBeginning: true, ...noop })), 'ehr-exporter', 'topics');
    // Its own stream under the EHR exporter's group: the group is refused.
    const group = await refused(buses.processor.subscribe(STREAMS.telemetry, { groupId: `ehr-exporter-acl-${run}`, fromBeginning: false, ...noop }));
    expectAclRefusal(group, 'processor', 'group');
  });

  it('the cli user may not create a stream outside the spec', async () => {
    const err = await refused(buses.cli.ensureStreams([{ name: `pb.test.acl.${run}`, partitions: 1 }]));
    // kafkajs says only "Topic creation errors" (the per-topic TOPIC_AUTHORIZATION_FAILED is inside): the hint says what it is.
    expectAclRefusal(err, 'cli', undefined);
    expect(err.message).toContain(`could not create streams pb.test.acl.${run}: Topic creation errors (the broker's ACLs do not allow this`);
  });
});

/**
 * PULSEBRIDGE_KAFKA_CREATE_TOPICS=false on a cluster whose administrators create the topics: the
 * topics of busTopics() exist (created here as the listener's super user `pulsebridge`, as an
 * administrator would), every component user gets the ACLs of `scripts/kafka-acls.ts apply
 * --no-create` (restored to the default spec afterwards; services.sh applies that at every start
 * too), and the components start and work as their users without Create. A topic a component cannot
 * see fails its start with the topic's name and the command that creates it, and is not created,
 * not even by a principal that may create anything.
 */
await describeWithService('pre-created topics: PULSEBRIDGE_KAFKA_CREATE_TOPICS=false with component users without Create', componentUsersAvailable, () => {
  const run = randomUUID().slice(0, 8);
  const deviceId = `acl-nc-dev-${run}`;
  const patientId = `acl-nc-pat-${run}`;
  const off = { PULSEBRIDGE_KAFKA_CREATE_TOPICS: 'false' };
  const closers: (() => Promise<unknown> | unknown)[] = [];
  /** The listener's super user, as the cluster's administrator. */
  const adminSettings = () => kafkaSaslSslSettings();
  const kafkaAcls = (...args: string[]) => execFileSync(process.execPath, ['scripts/kafka-acls.ts', 'apply', ...args], {
    cwd: path.resolve(import.meta.dirname, '..', '..', '..'), env: { ...process.env, ...adminSettings() }, encoding: 'utf8',
  });
  const kafkaOf = (config: PulsebridgeConfig) => {
    if (config.bus.kind !== 'kafka') throw new Error('unreachable');
    return new Kafka({ clientId: 'pulsebridge-test-admin', brokers: [...config.bus.brokers], logLevel: logLevel.NOTHING, retry: { retries: 1 }, ...kafkaClientSecurity(config.bus.security) });
  };
  beforeAll(async () => {
    // The administrator creates the topics (as ensureStreams would: same partitions and configuration).
    const admin = await openBus({ ...loadConfig(adminSettings()) }, silentLogger);
    await admin.ensureStreams(busTopics());
    await admin.close();
    kafkaAcls('--no-create');
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    kafkaAcls();
  });
  const ctx = (config: PulsebridgeConfig, bus: Bus): ComponentContext => ({ config, bus, logger: silentLogger, metrics: new MetricsRegistry(), busHealth: watchBusConsumers({ bus, logger: silentLogger, metrics: new MetricsRegistry() }) });
  async function busOf(c: BusComponent, extra: Record<string, string> = {}): Promise<{ config: PulsebridgeConfig; bus: Bus }> {
    const config = configOf(c, { ...off, ...extra });
    const bus = await openBus(config, silentLogger);
    closers.push(() => bus.close());
    return { config, bus };
  }

  it('no component user may create a topic any more, not even one it ensures (the broker refuses Create; with it, an existing topic is only "already exists")', async () => {
    for (const c of BUS_COMPONENTS) {
      const admin = kafkaOf(configOf(c)).admin();
      await admin.connect();
      try {
        const outcome = await admin.createTopics({ topics: [{ topic: STREAMS.deadLetter, numPartitions: 1 }] }).then((created) => `allowed (created: ${created})`, (err: unknown) => JSON.stringify((err as { errors?: { type?: string }[] }).errors?.map((e) => e.type)));
        expect(outcome, c).toBe('["TOPIC_AUTHORIZATION_FAILED"]');
      } finally {
        await admin.disconnect();
      }
    }
  });

  it('every component starts as its user without Create and works: a device\'s frame through the gateway reaches the processor\'s store', async () => {
    const cli = await busOf('cli');
    const cliRegistry = await openRegistry(cli.config, cli.bus, silentLogger);
    try {
      await cliRegistry.add(deviceId, patientId, 'acl-test', Date.now() - 3_600_000);
    } finally {
      await cliRegistry.close();
    }

    const p = await busOf('processor');
    const metrics = new MetricsRegistry();
    const upstream = await openLivenessReader(p.config, p.bus, silentLogger);
    closers.push(() => upstream.close());
    const store = new SqliteVitalsStore(':memory:');
    closers.push(() => store.close());
    const groupId = `pulsebridge-processor-acl-nc-${run}`;
    const processor = createProcessor({ bus: p.bus, store, logger: silentLogger, metrics, groupId, instanceId: `${groupId}:${randomUUID()}`, fromBeginning: false, upstream: upstream.liveness });
    await processor.start();
    closers.push(() => processor.stop());

    const d = await busOf('dashboard-api', { PULSEBRIDGE_HTTP_PORT: '0' });
    const dashboardStore = new SqliteVitalsStore(':memory:');
    closers.push(() => dashboardStore.close());
    const dashboardRegistry = await openRegistry(d.config, d.bus, silentLogger);
    closers.push(() => dashboardRegistry.close());
    const api = await startDashboard(ctx(d.config, d.bus), dashboardStore, dashboardRegistry);
    closers.push(() => api.stop());
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);

    const e = await busOf('ehr-exporter', { PULSEBRIDGE_FHIR_BASE_URL: 'http://127.0.0.1:1/fhir', PULSEBRIDGE_HL7_MLLP: 'mllp://127.0.0.1:1', PULSEBRIDGE_EHR_HTTP_PORT: '0' });
    const ehr = (await startEhrExporter(ctx(e.config, e.bus), { groupId: `ehr-exporter-acl-nc-${run}`, hl7GroupId: `hl7-exporter-acl-nc-${run}`, fromBeginning: false }))!;
    closers.push(() => ehr.stop());

    const g = await busOf('gateway', { PULSEBRIDGE_MQTT_PLAINTEXT: 'true', PULSEBRIDGE_MQTT_PORT: '0' });
    const gatewayRegistry = await openRegistry(g.config, g.bus, silentLogger, { auditTrail: false });
    closers.push(() => gatewayRegistry.close());
    const gateway = await startGateway(ctx(g.config, g.bus), gatewayRegistry);
    closers.push(() => gateway.stop());
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.port}`, { clientId: deviceId, protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const t0 = Date.now() - 3_000;
      for (const frame of frames(beats(t0, [{ rrMs: 800, count: 4 }]), 2_000, { t0Ms: t0 })) await client.publishAsync(`pb/v1/dev/${deviceId}/telemetry`, encodeV1(frame), { qos: 1 });
    } finally {
      await client.endAsync();
    }
    await waitFor('the processor to store the frames\' points', () => /pb_processor_store_points_total\{kind="heart_rate"\} [1-9]/.test(metrics.render()) ? true : undefined, 60_000);
    for (const bus of [p.bus, d.bus, e.bus, g.bus]) expect(bus.subscriptionStatuses!().filter((st) => !st.consuming).map((st) => `${st.stream} ${st.groupId} ${st.state}`)).toEqual([]);
    // Each component's bus only checks: a stream it does not find is reported, not created.
    for (const bus of [cli.bus, p.bus, d.bus, e.bus, g.bus]) expect((await refused(bus.ensureStreams([{ name: `pb.test.absent.${run}`, partitions: 1 }]))).code).toBe('PB_CONFIG_INVALID');
  });

  it('a topic the component cannot find fails its start (openBus) with the topic\'s name and the kafka-topics.sh line that creates it', async () => {
    // The administrator forgot the gateway's Describe on the alerts topic (it only checks that it exists): to the gateway it is missing.
    const gatewayConfig = configOf('gateway', off);
    const admin = kafkaOf(loadConfig(adminSettings())).admin();
    await admin.connect();
    try {
      await admin.deleteAcls({ filters: [{
        resourceType: AclResourceTypes.TOPIC, resourceName: STREAMS.alerts, resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: `User:${busUserOf('gateway')}`, host: '*', operation: AclOperationTypes.DESCRIBE, permissionType: AclPermissionTypes.ALLOW,
      }] });
    } finally {
      await admin.disconnect();
    }
    const err = await refused(openBus(gatewayConfig, silentLogger));
    expect(err.code).toBe('PB_CONFIG_INVALID');
    expect(err.message).toContain(`Kafka topic(s) missing: ${STREAMS.alerts} (or not visible`);
    expect(err.message).toContain('PULSEBRIDGE_KAFKA_CREATE_TOPICS=false');
    expect(err.message).toContain(`kafka-topics.sh --bootstrap-server "$BROKERS" --command-config admin.properties --create --topic ${STREAMS.alerts} --partitions 1`);
    // Only the one it cannot see.
    expect(err.message).not.toContain(`--topic ${STREAMS.telemetry}`);
    kafkaAcls('--no-create');
  });

  it('a pre-created topic configured to lose data (no compaction, 7 days\' retention) fails the start with topic, key, values and the kafka-configs.sh line, also for a component user (the spec without Create grants DescribeConfigs); a user without DescribeConfigs is warned once and starts', async () => {
    const admin = kafkaOf(loadConfig(adminSettings())).admin();
    await admin.connect();
    // alterConfigs replaces a topic's whole set of overrides: each call gives all of them.
    const setConfigs = (name: string, entries: Record<string, string>) => admin.alterConfigs({ validateOnly: false, resources: [{
      type: ConfigResourceTypes.TOPIC, name, configEntries: Object.entries(entries).map(([k, v]) => ({ name: k, value: v })),
    }] });
    try {
      // The administrator left the criteria changelog at delete and the device events at the broker's 7 days.
      await setConfigs(STREAMS.criteria, { 'cleanup.policy': 'delete' });
      await setConfigs(DEVICE_EVENTS_STREAM, { 'retention.ms': '604800000', 'retention.bytes': '-1' });
      const asSuper = loadConfig({ ...adminSettings(), ...off });
      const err = await refused(openBus(asSuper, silentLogger));
      expect(err.code).toBe('PB_CONFIG_INVALID');
      expect(err.message).toContain(`Kafka topic configuration loses data: ${STREAMS.criteria} cleanup.policy=delete (expected compact)`);
      expect(err.message).toContain(`kafka-configs.sh --bootstrap-server "$BROKERS" --command-config admin.properties --alter --entity-type topics --entity-name ${STREAMS.criteria} --add-config cleanup.policy=compact`);
      await setConfigs(STREAMS.criteria, { 'cleanup.policy': 'compact' });
      const superBus = await openBus(asSuper, silentLogger);
      closers.push(() => superBus.close());
      const events = busTopics().filter((t) => t.name === DEVICE_EVENTS_STREAM);
      const eventsErr = await refused(superBus.ensureStreams(events));
      expect(eventsErr.code).toBe('PB_CONFIG_INVALID');
      expect(eventsErr.message).toContain(`${DEVICE_EVENTS_STREAM} retention.ms=604800000 (expected -1)`);
      expect(eventsErr.message).toContain(`--entity-name ${DEVICE_EVENTS_STREAM} --add-config retention.ms=-1`);
      expect(eventsErr.message).not.toContain('retention.bytes');

      // A component user under the spec without Create may read the configuration: the same refusal.
      const lines: string[] = [];
      const cliConfig = configOf('cli', off);
      const cliBus = await openBus(cliConfig, createLogger('warn', {}, (l) => lines.push(l)));
      closers.push(() => cliBus.close());
      expect((await refused(cliBus.ensureStreams(events))).message).toContain(`${DEVICE_EVENTS_STREAM} retention.ms=604800000 (expected -1)`);
      // Without DescribeConfigs (a cluster whose administrators did not grant it) the check is skipped with one warning, not a failed start.
      await admin.deleteAcls({ filters: [{
        resourceType: AclResourceTypes.TOPIC, resourceName: DEVICE_EVENTS_STREAM, resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: `User:${busUserOf('cli')}`, host: '*', operation: AclOperationTypes.DESCRIBE_CONFIGS, permissionType: AclPermissionTypes.ALLOW,
      }] });
      await cliBus.ensureStreams(events);
      const warnings = lines.map((l) => JSON.parse(l) as { msg: string; acl?: string }).filter((l) => l.msg.includes('DescribeConfigs'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.acl).toBe('DescribeConfigs on Topic (Literal)');
      expect(lines.filter((l) => (JSON.parse(l) as { level: string }).level === 'error')).toEqual([]);
    } finally {
      await setConfigs(STREAMS.criteria, { 'cleanup.policy': 'compact' }).catch(() => {});
      await setConfigs(DEVICE_EVENTS_STREAM, { 'retention.ms': '-1', 'retention.bytes': '-1' }).catch(() => {});
      await admin.disconnect();
      kafkaAcls('--no-create');
    }
  });

  it('a missing topic is never created, not even by a principal that may create anything: the error names it with its partitions and configuration', async () => {
    const stream = { name: `pb.test.precreated.${run}`, partitions: 3, compacted: true };
    const cli = await busOf('cli');
    const asCli = await refused(cli.bus.ensureStreams([stream]));
    expect(asCli.code).toBe('PB_CONFIG_INVALID');
    expect(asCli.message).toContain(`Kafka topic(s) missing: ${stream.name} (or not visible`);
    expect(asCli.message).toContain(`--create --topic ${stream.name} --partitions 3 --config cleanup.policy=compact`);
    // The super user with the switch off: the same refusal, and no topic.
    const superBus = await openBus(loadConfig({ ...adminSettings(), ...off }), silentLogger);
    closers.push(() => superBus.close());
    expect((await refused(superBus.ensureStreams([stream]))).message).toContain(`Kafka topic(s) missing: ${stream.name} (or not visible`);
    const admin = kafkaOf(loadConfig(adminSettings())).admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).not.toContain(stream.name);
    } finally {
      await admin.disconnect();
    }
  });
});
