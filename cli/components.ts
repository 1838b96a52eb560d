/**
 * Starts each deployable component from the frozen configuration and already-open adapters.
 * `demo` starts them all in one process; `pulsebridge gateway|processor|…` starts one.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createGateway, type Gateway } from '../gateway/gateway.ts';
import { InProcessBus, type Bus, type BusConsumerHealth } from '../platform/bus/index.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import type { Registry } from '../platform/registry/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import type { VitalsStore } from '../platform/store/index.ts';
import { createProcessor, type Processor } from '../processor/processor.ts';
import type { UpstreamLiveness } from '../processor/silence-cause.ts';
import { JsonlAuditSink } from '../dashboard-api/audit.ts';
import { createTokenVerifier } from '../dashboard-api/auth.ts';
import { openDevIssuer } from '../dashboard-api/dev-issuer.ts';
import { demoPatientIdentity, directoryFileIdentities, registryPatientDirectory, unlistedIdentity, type PatientIdentity } from '../dashboard-api/patient-directory.ts';
import { devTokenRenewer } from '../dashboard-api/session-renewal.ts';
import { createDashboardApi, type DashboardApi } from '../dashboard-api/server.ts';
import { openOperatorAlarmBoard } from '../dashboard-api/operator-alarms.ts';
import { watchStoreHealth } from '../dashboard-api/store-health.ts';
import { deviceRoutes } from '../dashboard-api/routes-devices.ts';
import { criteriaRoutes } from '../dashboard-api/routes-criteria.ts';
import { createEhrExporter, type EhrExporter, type EhrExporterOptions } from '../ehr-exporter/exporter.ts';
import { createHttpFhirClient, fetchWithTls, readFhirTls, type FhirClient } from '../ehr-exporter/fhir-client.ts';
import { createHl7Exporter, type Hl7Exporter } from '../ehr-exporter/hl7-exporter.ts';
import { readHl7Tls } from '../ehr-exporter/mllp.ts';
import { configuredMrns, createPatientResolver, followedMrnFile } from '../ehr-exporter/identity.ts';
import { startOpsServer } from '../platform/ops-server.ts';
import { isLoopbackHost } from '../platform/loopback.ts';
import { createSmartBackendAuth } from '../ehr-exporter/smart-auth.ts';
import { fhirDestination, type EhrAuditEntry } from '../ehr-exporter/audit.ts';
import { createFutureDatedCheck } from '../ehr-exporter/future-dated.ts';
import { JsonlAuditSink as JsonlFileAuditSink } from '../platform/audit.ts';
import { devPkiPaths, ensureDevCrl, followDeviceCrl, type DeviceCrl } from '../platform/security/index.ts';

export interface ComponentContext {
  config: Readonly<PulsebridgeConfig>;
  bus: Bus;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Whether the process's bus subscriptions consume (a standalone component's; the demo has none): each component's /healthz reports it. */
  busHealth?: BusConsumerHealth;
}

export interface Running {
  name: string;
  stop(): Promise<void>;
}

function readTls(config: Readonly<PulsebridgeConfig>, logger: Logger) {
  const read = (p: string, what: string) => {
    try {
      return fs.readFileSync(p);
    } catch (err) {
      // The default paths are the development PKI's, which `demo` and `device add` create; a
      // standalone gateway creates nothing (a production CA is the hospital's): say both ways.
      throw new PulsebridgeError('PB_CONFIG_INVALID', `cannot read the gateway ${what} at ${p}: point PULSEBRIDGE_TLS_CERT, PULSEBRIDGE_TLS_KEY and PULSEBRIDGE_DEVICE_CA at your certificates, or create the development PKI in the data folder with \`pulsebridge device add <device id> --patient <patient id>\``, { cause: err });
    }
  };
  const cert = read(config.gateway.tlsCertPath, 'TLS certificate');
  const key = read(config.gateway.tlsKeyPath, 'TLS key');
  const deviceCa = read(config.gateway.deviceCaPath, 'device CA certificate');
  return { cert, key, deviceCa, ...deviceCrl(config, deviceCa, logger) };
}

/**
 * The device CRL file, followed while the gateway runs (PULSEBRIDGE_DEVICE_CRL). With the
 * development PKI (no PULSEBRIDGE_DEVICE_CA) it is the dev CA's, created here when a data folder
 * from before revocation lists has none; a bad file fails the start.
 */
function deviceCrl(config: Readonly<PulsebridgeConfig>, deviceCa: Buffer, logger: Logger): { crl?: () => DeviceCrl } {
  const file = config.gateway.deviceCrlPath;
  if (!file) {
    // Only with a hospital CA (PULSEBRIDGE_DEVICE_CA) and no PULSEBRIDGE_DEVICE_CRL: say so once.
    logger.warn('no device CRL (PULSEBRIDGE_DEVICE_CRL): device certificates are not checked for revocation, so a leaked device key stays valid until its certificate expires; `device disable` still blocks a whole device');
    return {};
  }
  const dev = devPkiPaths(config.dataDir);
  if (file === dev.deviceCrl && fs.existsSync(dev.deviceCaKey)) ensureDevCrl(config.dataDir);
  return { crl: followDeviceCrl(file, deviceCa, logger) };
}

export async function startGateway(ctx: ComponentContext, registry: Registry): Promise<Running & { gateway: Gateway; port: number }> {
  const { config } = ctx;
  const gateway = await createGateway({
    bus: ctx.bus, registry, liveness: registry.liveness, commands: registry.commands, gatewayId: config.gateway.instanceId, logger: ctx.logger.child({ component: 'gateway' }), metrics: ctx.metrics,
    plaintext: config.gateway.plaintext,
    rateLimit: { ...config.gateway.rateLimit },
    tls: config.gateway.plaintext ? undefined : readTls(config, ctx.logger.child({ component: 'gateway' })),
  });
  let port: number;
  try {
    ({ port } = await gateway.listen(config.gateway.mqttPort, config.bindHost));
  } catch (err) {
    // The gateway's pollers (registry, commands, liveness) already run: stop them, or they keep the
    // process alive after the error (the demo did not exit when the MQTT port was taken).
    await gateway.close().catch(() => undefined);
    throw err;
  }
  ctx.logger.info('gateway listening', { port, tls: !config.gateway.plaintext });
  return { name: 'gateway', gateway, port, stop: () => gateway.close() };
}

/**
 * `groupId`: the telemetry consumer group (default: PULSEBRIDGE_PROCESSOR_GROUP, `pulsebridge-processor`);
 * instances in one group split the partitions. Tests isolate themselves with their own.
 * `upstream`: the gateways' liveness, so a bus or gateway outage is one operator alarm, not patient signal-loss alarms.
 */
export async function startProcessor(ctx: ComponentContext, store: VitalsStore, options: { groupId?: string; upstream?: UpstreamLiveness } = {}): Promise<Running & { processor: Processor }> {
  const groupId = options.groupId ?? ctx.config.processor.groupId;
  const processor = createProcessor({ bus: ctx.bus, store, logger: ctx.logger.child({ component: 'processor' }), metrics: ctx.metrics,
    groupId,
    // Named after its group: alert headers and changelog owners then say which deployment wrote them.
    instanceId: `${groupId}:${randomUUID()}`, ...(options.upstream ? { upstream: options.upstream } : {}) });
  await processor.start();
  ctx.logger.info('processor consuming telemetry');
  return { name: 'processor', processor, stop: () => processor.stop() };
}

/**
 * How the board names patients: the hospital's directory file when configured; without it the
 * demo identities embedded, and on Kafka (production) the patient id alone, with a warning — a
 * made-up name on a ward could be taken for the patient's.
 */
function patientIdentities(ctx: ComponentContext): (patientId: string) => PatientIdentity {
  const { config, logger } = ctx;
  const file = config.dashboard.patientDirectoryFile;
  if (file) return directoryFileIdentities(file, config.ehr.mrnSystem, logger.child({ component: 'dashboard-api' }));
  if (config.bus.kind !== 'kafka') return demoPatientIdentity;
  logger.warn('no patient directory (PULSEBRIDGE_PATIENT_DIRECTORY): the board shows patient ids without names or MRNs');
  return unlistedIdentity;
}

export async function startDashboard(ctx: ComponentContext, store: VitalsStore, registry: Registry): Promise<Running & { url: string; api: DashboardApi }> {
  const { config } = ctx;
  const criteria = criteriaRoutes({ bus: ctx.bus, logger: ctx.logger.child({ component: 'dashboard-api' }) });
  const operatorAlarms = await openOperatorAlarmBoard({ bus: ctx.bus, logger: ctx.logger.child({ component: 'dashboard-api' }), metrics: ctx.metrics });
  const storeHealth = watchStoreHealth({ store, logger: ctx.logger.child({ component: 'dashboard-api' }), metrics: ctx.metrics });
  if (config.bus.kind === 'kafka' && !config.dashboard.oidc) {
    // product.md: the development issuer is for embedded mode; on Kafka it still works (tests,
    // trials), but an operator must know that tokens are minted from a key in the data folder.
    ctx.logger.warn('no OIDC issuer (PULSEBRIDGE_OIDC_ISSUER): clinician tokens come from the development issuer, whose signing key is in the data folder — anyone who can read it can sign in as anyone; for development and trials only', { dataDir: config.dataDir });
  }
  const api = createDashboardApi({
    bus: ctx.bus,
    vitalsStore: store,
    patients: registryPatientDirectory(registry, patientIdentities(ctx)),
    auth: await createTokenVerifier({ dataDir: config.dataDir, oidc: config.dashboard.oidc }),
    audit: new JsonlAuditSink({ dataDir: config.dataDir }),
    logger: ctx.logger.child({ component: 'dashboard-api' }),
    metrics: ctx.metrics,
    // Embedded (development issuer): the page renews its token before expiry. With OIDC that is the issuer's job.
    ...(config.dashboard.oidc ? {} : { tokenRenewer: devTokenRenewer(await openDevIssuer({ dataDir: config.dataDir })) }),
    // With an external issuer and a client id, the page signs in there (Authorization Code + PKCE).
    ...(config.dashboard.oidc?.clientId ? { browserLogin: { issuer: config.dashboard.oidc.issuer, clientId: config.dashboard.oidc.clientId } } : {}),
    routeModules: [deviceRoutes({ directory: registry, liveness: registry.liveness, commands: registry.commands }), criteria],
    operatorAlarms,
    storeHealth,
    ...(ctx.busHealth ? { busHealth: ctx.busHealth } : {}),
    trustedProxies: config.dashboard.trustedProxies,
  });
  const address = await api.listen(config.dashboard.httpPort, config.bindHost);
  ctx.logger.info('dashboard-api listening', { url: address.url });
  return { name: 'dashboard-api', api, url: address.url, stop: async () => { await api.close(); await criteria.close(); await operatorAlarms.close(); storeHealth.close(); } };
}

/**
 * One warning at start for an EHR reached in clear text off this machine: what the exporter sends
 * names the patient (PID-3 and PID-5 in HL7, the MRN in FHIR searches). Not refused: a hospital may
 * run the link through its own tunnel (stunnel, IPsec) — the warning says to check it is one.
 */
function warnAboutPlainTextEhr(fhirBaseUrl: string | undefined, hl7: { host: string; tls?: unknown } | undefined, logger: Logger): void {
  if (hl7 && !hl7.tls && !isLoopbackHost(hl7.host)) {
    logger.warn(`HL7 v2 goes to ${hl7.host} over plain MLLP: patient identities cross the network in clear unless the link is a tunnel; use PULSEBRIDGE_HL7_MLLP=mllps://… (README "HL7 v2")`);
  }
  if (fhirBaseUrl?.startsWith('http:')) {
    const host = new URL(fhirBaseUrl).hostname;
    if (!isLoopbackHost(host)) logger.warn(`the FHIR EHR at ${host} is reached over plain http: patient data crosses the network in clear unless the link is a tunnel; use https://`);
  }
}

/** The FHIR client, with SMART Backend Services when a client id is configured and the EHR's TLS settings. */
function fhirClientFor(config: Readonly<PulsebridgeConfig>, baseUrl: string, logger: Logger): FhirClient {
  const smart = config.ehr.smart;
  const tls = readFhirTls(config.ehr.tls);
  const fetchOption = tls ? { fetch: fetchWithTls(tls) } : {};
  // Per attempt; the client's stalled() (/healthz `degraded`) counts from the same value.
  const requestTimeoutMs = config.ehr.fhirRequestTimeoutMs;
  if (!smart) return createHttpFhirClient({ baseUrl, requestTimeoutMs, ...fetchOption });
  let privateKey: string;
  try {
    privateKey = fs.readFileSync(smart.keyFile, 'utf8');
  } catch (err) {
    throw new PulsebridgeError('PB_CONFIG_INVALID', `cannot read the SMART private key at ${smart.keyFile}`, { cause: err });
  }
  const tokenProvider = createSmartBackendAuth({ fhirBaseUrl: baseUrl, clientId: smart.clientId, privateKey, keyId: smart.keyId, alg: smart.alg, scope: smart.scope, ...(smart.tokenUrl ? { tokenUrl: smart.tokenUrl } : {}), ...fetchOption, logger });
  return createHttpFhirClient({ baseUrl, tokenProvider, requestTimeoutMs, ...fetchOption });
}

export interface RunningEhrExporter extends Running {
  /** The FHIR exporter, when PULSEBRIDGE_FHIR_BASE_URL is set. */
  exporter: EhrExporter | undefined;
  /** The HL7 v2 exporter, when PULSEBRIDGE_HL7_MLLP is set. */
  hl7: Hl7Exporter | undefined;
  /** The /healthz + /metrics endpoint (PULSEBRIDGE_EHR_HTTP_PORT). */
  opsUrl: string;
  /**
   * On the in-process bus: messages the exporters have not delivered yet (alerts, strips, parked
   * ones), which die with the process; undefined on Kafka, where they wait on the bus.
   */
  undelivered(): number | undefined;
  /** Whether an export waits for the EHR (its /healthz says paused). */
  paused(): boolean;
}

/**
 * The EHR export runs when a FHIR base URL (FHIR R4, SMART when configured) or an HL7 v2 MLLP
 * target is configured, or both. `options` isolate tests (group ids, where a new group starts)
 * and shorten waits.
 */
export async function startEhrExporter(
  ctx: ComponentContext,
  options: Pick<EhrExporterOptions, 'groupId' | 'fromBeginning' | 'ecgWaitMs' | 'pauseBackoff'> & { hl7GroupId?: string } = {},
): Promise<RunningEhrExporter | undefined> {
  const { config } = ctx;
  const baseUrl = config.ehr.fhirBaseUrl;
  const hl7Target = config.ehr.hl7;
  if (!baseUrl && !hl7Target) return undefined;
  // MLLP over TLS (mllps://): the PEM files are read and checked before anything starts, so a wrong one stops the start.
  const hl7Tls = hl7Target?.tls ? readHl7Tls(hl7Target.tls) : undefined;
  const logger = ctx.logger.child({ component: 'ehr-exporter' });
  warnAboutPlainTextEhr(baseUrl, hl7Target, logger);
  const mrns = config.ehr.patientMrnsFile ? followedMrnFile(config.ehr.mrnSystem, config.ehr.patientMrnsFile, { logger }) : configuredMrns(config.ehr.mrnSystem);
  const { hl7GroupId, ...fhirOptions } = options;
  // What is sent to the EHR goes into the PHI audit trail of the exporter's data folder
  // (PULSEBRIDGE_DATA_DIR): in `demo` the dashboard's own file, so one trail covers both.
  const auditSink = new JsonlFileAuditSink<EhrAuditEntry>({ dataDir: config.dataDir });
  // One check for both protocols: one warning per device per hour, not one per protocol.
  const futureDated = createFutureDatedCheck({ logger, metrics: ctx.metrics });
  let exporter: EhrExporter | undefined;
  if (baseUrl) {
    const fhir = fhirClientFor(config, baseUrl, logger);
    exporter = createEhrExporter({
      bus: ctx.bus,
      fhir,
      patients: createPatientResolver({ fhir, mrns }),
      identifierSystem: config.ehr.identifierSystem,
      deviceSystem: config.ehr.deviceSystem,
      ecgWaitMs: config.ehr.ecgWaitMs,
      hrSummaryWindowMs: config.ehr.hrSummaryWindowMs,
      evidenceUpdateIntervalMs: config.ehr.evidenceUpdateIntervalMs,
      audit: { sink: auditSink, destination: fhirDestination(baseUrl), ...(config.ehr.smart ? { actor: config.ehr.smart.clientId } : {}) },
      futureDated,
      logger,
      metrics: ctx.metrics,
      ...fhirOptions,
    });
    await exporter.start();
  }
  let hl7: Hl7Exporter | undefined;
  if (hl7Target) {
    hl7 = createHl7Exporter({
      bus: ctx.bus, host: hl7Target.host, port: hl7Target.port, mrns, logger: logger.child({ protocol: 'hl7v2' }), metrics: ctx.metrics,
      ...(hl7Tls ? { tls: hl7Tls } : {}),
      message: { sendingApplication: 'PULSEBRIDGE', sendingFacility: hl7Target.sendingFacility, receivingApplication: hl7Target.receivingApplication },
      ackTimeoutMs: hl7Target.ackTimeoutMs,
      evidenceUpdateIntervalMs: hl7Target.evidenceUpdateIntervalMs,
      audit: { sink: auditSink },
      futureDated,
      ...(hl7GroupId ? { groupId: hl7GroupId } : {}),
      ...(options.fromBeginning !== undefined ? { fromBeginning: options.fromBeginning } : {}),
    });
    await hl7.start();
  }
  const health = () => {
    const fhirHealth = exporter?.health();
    const hl7Health = hl7?.health();
    const paused = fhirHealth?.status === 'paused' || hl7Health?.status === 'paused';
    // A subscription not consuming (a Kafka outage): nothing reaches the exporters. `paused` (the
    // EHR) keeps its word when both hold; busSubscriptions says the rest.
    const busSubscriptions = ctx.busHealth?.problems() ?? [];
    // `degraded` too while the EHR leaves a request unanswered past the request timeout (before the FHIR lane pauses).
    const degraded = busSubscriptions.length > 0 || fhirHealth?.status === 'degraded';
    return { component: 'ehr-exporter', status: paused ? 'paused' : degraded ? 'degraded' : 'ok', ...(fhirHealth ? { fhir: fhirHealth } : {}), ...(hl7Health ? { hl7: hl7Health } : {}),
      ...(busSubscriptions.length > 0 ? { busSubscriptions } : {}) };
  };
  const ops = await startOpsServer({ port: config.ehr.httpPort, host: config.bindHost, health, metrics: ctx.metrics });
  logger.info('ehr-exporter exporting alerts', { fhirBaseUrl: baseUrl, smart: config.ehr.smart !== undefined, hl7: hl7Target ? `${hl7Target.tls ? 'mllps' : 'mllp'}://${hl7Target.host}:${hl7Target.port}` : undefined, opsUrl: ops.url });
  const undelivered = () => {
    const bus = ctx.bus;
    if (!(bus instanceof InProcessBus)) return undefined;
    return [...(exporter?.deliveries ?? []), ...(hl7?.deliveries ?? [])].reduce((sum, d) => sum + bus.uncommitted(d.groupId, d.stream), 0);
  };
  return {
    name: 'ehr-exporter',
    exporter,
    hl7,
    opsUrl: ops.url,
    undelivered,
    paused: () => health().status === 'paused',
    stop: async () => {
      await exporter?.stop();
      await hl7?.stop();
      await ops.close();
    },
  };
}
