/**
 * Configuration: read from the environment once at start-up (in cli/main.ts), validated with
 * zod with every problem reported at once, then frozen and passed down. Nothing below `main`
 * reads process.env.
 */
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';
import { PulsebridgeError } from './errors.ts';
import { describeZodIssues } from './zod-issues.ts';
import type { KafkaSecurity } from './bus/kafka-security.ts';

const port = z.coerce.number().int().min(0).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const csv = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const envObject = z.object({
  PULSEBRIDGE_DATA_DIR: z.string().min(1).default('./data'),
  PULSEBRIDGE_MQTT_PORT: port.default(8883),
  PULSEBRIDGE_HTTP_PORT: port.default(8080),
  /** Host/interface the servers bind to. */
  PULSEBRIDGE_BIND_HOST: z.string().min(1).default('127.0.0.1'),
  /** `memory` = in-process bus (embedded), `kafka` = Apache Kafka. */
  PULSEBRIDGE_BUS: z.enum(['memory', 'kafka']).default('memory'),
  /** `sqlite` = node:sqlite file in the data folder (embedded), `influxdb` = InfluxDB v1 HTTP API. */
  PULSEBRIDGE_STORE: z.enum(['sqlite', 'influxdb']).default('sqlite'),
  KAFKA_BROKERS: csv.default(['127.0.0.1:9092']),
  KAFKA_CLIENT_ID: z.string().min(1).default('pulsebridge'),
  /**
   * The broker drops a consumer that sent no heartbeat for this long and hands its partitions to
   * the rest of its group: how long a SIGKILLed processor's patients wait for another instance.
   * The broker allows 6 s–5 min by default (group.min/max.session.timeout.ms). Unset: 30 s
   * (platform/bus-kafka.ts), which a machine stalled for seconds under load does not trip.
   */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(300_000).optional(),
  /**
   * TLS to every broker (Kafka's security.protocol SSL, or SASL_SSL with KAFKA_SASL_MECHANISM).
   * One setting for the cluster, as in Kafka's own clients: KAFKA_BROKERS stays `host:port`.
   */
  KAFKA_SSL: bool.default(false),
  /** PEM CA trusted besides the default ones (the hospital's private CA), and a client certificate + key for mutual TLS. */
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  KAFKA_SSL_CLIENT_CERT: z.string().min(1).optional(),
  KAFKA_SSL_CLIENT_KEY: z.string().min(1).optional(),
  /** SASL login to the brokers (Kafka's sasl.mechanism, any case); with it a username and one of the password settings. */
  KAFKA_SASL_MECHANISM: z.string().transform((s) => s.toLowerCase()).pipe(z.enum(['scram-sha-256', 'scram-sha-512', 'plain'])).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  /** The password in a file (a mounted secret; trailing line breaks ignored), or KAFKA_SASL_PASSWORD itself. */
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /**
   * Partitions of the telemetry stream when Pulsebridge creates it: the most processor instances
   * that can share the work. Changing it later moves patients between partitions (per-patient
   * order), so an existing stream is left as it is (a warning names the difference).
   */
  PULSEBRIDGE_TELEMETRY_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(6),
  /**
   * Kafka: whether the components create the topics they need that do not exist (Create ACL).
   * false: the cluster's administrators create them beforehand (platform/bus/acl-spec.ts busTopics);
   * each component then only checks they exist and refuses to start, naming the missing ones.
   */
  PULSEBRIDGE_KAFKA_CREATE_TOPICS: bool.default(true),
  /** Consumer group of the processor instances that share the telemetry stream (and their state). */
  PULSEBRIDGE_PROCESSOR_GROUP: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits and . _ - (1–128)').default('pulsebridge-processor'),
  /**
   * How long the stored time series (heart rate, RR intervals, ECG strips) are kept, whole days;
   * unset (or empty): forever. SQLite: older rows deleted at start and hourly; InfluxDB 1.x: the
   * retention policy's duration; 2.x/3.x: the bucket's retention is the setting (README "Data retention").
   */
  PULSEBRIDGE_VITALS_RETENTION_DAYS: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce.number({ error: 'must be a whole number of days >= 1 (unset: kept forever)' })
      .int('must be a whole number of days >= 1 (unset: kept forever)')
      .min(1, 'must be a whole number of days >= 1 (unset: kept forever)')
      .max(36_500, 'must be at most 36500 days (100 years; unset: kept forever)')
      .optional(),
  ),
  INFLUX_URL: z.url().default('http://127.0.0.1:8086'),
  INFLUX_DATABASE: z.string().min(1).default('pulsebridge'),
  /** InfluxDB 2.x/3.x v1-compatibility token (sent as `Authorization: Token …`). */
  INFLUX_TOKEN: z.string().optional(),
  INFLUX_USERNAME: z.string().optional(),
  INFLUX_PASSWORD: z.string().optional(),
  /** Gateway TLS: server certificate, key, and the CA that issues device certificates. */
  PULSEBRIDGE_TLS_CERT: z.string().optional(),
  PULSEBRIDGE_TLS_KEY: z.string().optional(),
  PULSEBRIDGE_DEVICE_CA: z.string().optional(),
  /**
   * PEM CRL file (one or more CRLs) of the device CA, followed while running (gateway/gateway.ts).
   * Default: the development PKI's CRL when PULSEBRIDGE_DEVICE_CA is not set, else none.
   */
  PULSEBRIDGE_DEVICE_CRL: z.string().min(1).optional(),
  /** Plain MQTT over TCP, for local development only (device-protocol.md). */
  PULSEBRIDGE_MQTT_PLAINTEXT: bool.default(false),
  /** This gateway instance's name in device liveness and the audit trail (default host:port). */
  PULSEBRIDGE_GATEWAY_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1–128)').optional(),
  /**
   * Per-device telemetry rate limit of the gateway (gateway/rate-limiter.ts). Devices in the field
   * keep the contract's 20 frames/s (device-protocol.md "Limits"); a testers' gateway that replays
   * recordings at full speed (`sim replay --speed max`) may allow more.
   */
  PULSEBRIDGE_GATEWAY_FRAMES_PER_S: z.coerce.number().int().min(1).max(100_000).default(20),
  /** Frames a device may send at once before the sustained rate applies (default: an hour of 1 s frames). */
  PULSEBRIDGE_GATEWAY_BURST_FRAMES: z.coerce.number().int().min(1).max(1_000_000).default(3600),
  /** External OpenID Connect issuer (production). Without it the development issuer is used. */
  PULSEBRIDGE_OIDC_ISSUER: z.url().optional(),
  /** Reverse proxies in front of the dashboard API (IP addresses, comma-separated): X-Forwarded-For is believed from these only. */
  PULSEBRIDGE_TRUSTED_PROXIES: csv.default([]).refine((list) => list.every((a) => isIP(a) !== 0), 'must be IP addresses, comma-separated (no host names, no ranges)'),
  PULSEBRIDGE_OIDC_JWKS_URL: z.url().optional(),
  PULSEBRIDGE_OIDC_AUDIENCE: z.string().default('pulsebridge'),
  /** The web page's public client id at the issuer: the page signs in with Authorization Code + PKCE. */
  PULSEBRIDGE_OIDC_CLIENT_ID: z.string().min(1).optional(),
  /**
   * The hospital's patient directory for the board: a JSON file `{"<patient id>": {"name": "…",
   * "mrn": "<MRN>" or {"system","value"}}}` (plain MRNs in PULSEBRIDGE_EHR_MRN_SYSTEM), re-read
   * when it changes. Without it: demo identities embedded, the patient id alone on Kafka.
   */
  PULSEBRIDGE_PATIENT_DIRECTORY: z.string().min(1).optional(),
  /** FHIR R4 base URL of the EHR. Without it the EHR exporter does not run. */
  PULSEBRIDGE_FHIR_BASE_URL: z.url().optional(),
  PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM: z.string().default('urn:pulsebridge:observation'),
  /** TLS to the EHR (ehr-exporter/fhir-client.ts readFhirTls): a PEM CA trusted besides the default ones, and a client certificate + key for mutual TLS. */
  PULSEBRIDGE_FHIR_CA_FILE: z.string().min(1).optional(),
  PULSEBRIDGE_FHIR_CLIENT_CERT: z.string().min(1).optional(),
  PULSEBRIDGE_FHIR_CLIENT_KEY: z.string().min(1).optional(),
  /**
   * How long the FHIR export waits for the EHR's answer to one request before it gives that attempt
   * up and retries (ehr-exporter/fhir-client.ts requestTimeoutMs), ms; also when /healthz turns
   * `degraded` for a request left unanswered. Was fixed at 10 s: an EHR slower than that failed every
   * attempt, and an operator wanting faster failure detection could not shorten it (EHR walk).
   */
  PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(300_000).default(10_000),
  /** SMART Backend Services (ehr-exporter/smart-auth.ts): without a client id the exporter sends no token. */
  PULSEBRIDGE_SMART_CLIENT_ID: z.string().min(1).optional(),
  /** PKCS#8 PEM private key file whose public half the EHR registered (JWKS). */
  PULSEBRIDGE_SMART_KEY_FILE: z.string().min(1).optional(),
  PULSEBRIDGE_SMART_KEY_ID: z.string().min(1).optional(),
  PULSEBRIDGE_SMART_ALG: z.enum(['RS384', 'ES384']).default('RS384'),
  /** Communication: technical alarms, conditional create only (`c` + `s` for its If-None-Exist search). */
  PULSEBRIDGE_SMART_SCOPES: z.string().min(1).default('system/Observation.crus system/Patient.rs system/Device.crs system/Communication.cs'),
  /** Token URL, when the EHR publishes no .well-known/smart-configuration. */
  PULSEBRIDGE_SMART_TOKEN_URL: z.url().optional(),
  /** Identifier system of the MRN strings in PULSEBRIDGE_EHR_PATIENT_MRNS: the exporter finds each Patient with `Patient?identifier=<system>|<mrn>`. */
  PULSEBRIDGE_EHR_MRN_SYSTEM: z.string().min(1).default('urn:pulsebridge:mrn'),
  /** JSON file `{ "<our patient id>": "<mrn>" | {"system", "value"} }`; without it, the demo identity of the patient directory. */
  PULSEBRIDGE_EHR_PATIENT_MRNS: z.string().min(1).optional(),
  /** Identifier system of the Device resources (value = our device id, the certificate CN). */
  PULSEBRIDGE_EHR_DEVICE_SYSTEM: z.string().min(1).default('urn:pulsebridge:device'),
  /** How long a raised alert waits for its ECG strip before it is exported without one, ms after detection. */
  PULSEBRIDGE_EHR_ECG_WAIT_MS: z.coerce.number().int().min(0).default(20_000),
  /** Periodic HR summary Observations from the telemetry, window in minutes (0 = none). */
  PULSEBRIDGE_EHR_HR_SUMMARY_MIN: z.coerce.number().min(0).max(1440).default(0),
  /**
   * At most one evidence-only update of an alert's rhythm Observation per this many minutes
   * (ehr-exporter/exporter.ts evidenceUpdateIntervalMs); 0: every change is written. Default 5:
   * the processor refreshes an open alarm's rate every 10 s, so an hour of AF made 360 versions
   * of one Observation (EHR walk); the chart needs the episode, the time series is in the store.
   */
  PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN: z.coerce.number().min(0).max(1440).default(5),
  /** The ehr-exporter process's /healthz and /metrics port (0 = any free port). */
  PULSEBRIDGE_EHR_HTTP_PORT: port.default(8081),
  /**
   * The gateway's or processor's /healthz and /metrics, when it runs as its own process
   * (`pulsebridge gateway` / `processor`); unset: none (embedded, the dashboard API serves them).
   */
  PULSEBRIDGE_OPS_PORT: port.optional(),
  /**
   * HL7 v2 over MLLP (IHE PCD-01/PCD-04) instead of, or next to, FHIR: the interface engine,
   * `mllps://host:port` for MLLP over TLS, `host:port` (or `mllp://host:port`) for plain TCP.
   */
  PULSEBRIDGE_HL7_MLLP: z.string().regex(/^(mllps?:\/\/)?[^:/\s]+:\d{1,5}$/, 'must be mllps://host:port (MLLP over TLS) or host:port').optional(),
  /** MLLP over TLS (ehr-exporter/mllp.ts readHl7Tls): a PEM CA trusted besides the default ones, and a client certificate + key for mutual TLS. */
  PULSEBRIDGE_HL7_CA_FILE: z.string().min(1).optional(),
  PULSEBRIDGE_HL7_CLIENT_CERT: z.string().min(1).optional(),
  PULSEBRIDGE_HL7_CLIENT_KEY: z.string().min(1).optional(),
  /**
   * How long the HL7 export waits for the engine's ACK before it sends the same message again
   * (same MSH-10), ms. An engine slower than this under load got every message again and again
   * and never counted one as delivered (EHR walk, /work/notes/ehr-walk.md #6).
   */
  PULSEBRIDGE_HL7_ACK_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(300_000).default(10_000),
  /**
   * At most one evidence-only ORU^R40 (phase `update`, only the rate/duration changed) per alarm
   * per this many minutes; start, escalate, end, acknowledgement go at once (ehr-exporter/hl7-exporter.ts
   * evidenceOnly). 0: every change is sent. Default 5 (EHR walk: a 7 min alarm sent 43 ORU^R40,
   * 40 of them only a new rate; 4 with 5 min).
   */
  PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN: z.coerce.number().min(0).max(1_440).default(5),
  PULSEBRIDGE_HL7_SENDING_FACILITY: z.string().min(1).default('PULSEBRIDGE'),
  PULSEBRIDGE_HL7_RECEIVING_APPLICATION: z.string().min(1).default('EHR'),
  /** Where the simulator connects (default mqtts://localhost:<PULSEBRIDGE_MQTT_PORT>). */
  PULSEBRIDGE_GATEWAY_URL: z.string().regex(/^mqtts?:\/\/.+/, 'must be an mqtts:// or mqtt:// URL').optional(),
  PULSEBRIDGE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

/** Environment variables understood by Pulsebridge, with their defaults, and the rules that span several. */
export const envSchema = envObject.superRefine((e, ctx) => {
  if (e.PULSEBRIDGE_SMART_CLIENT_ID) {
    for (const name of ['PULSEBRIDGE_SMART_KEY_FILE', 'PULSEBRIDGE_SMART_KEY_ID'] as const) {
      if (!e[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required when PULSEBRIDGE_SMART_CLIENT_ID is set' });
    }
  }
  if (!e.PULSEBRIDGE_FHIR_CLIENT_CERT !== !e.PULSEBRIDGE_FHIR_CLIENT_KEY) {
    const missing = e.PULSEBRIDGE_FHIR_CLIENT_CERT ? 'PULSEBRIDGE_FHIR_CLIENT_KEY' : 'PULSEBRIDGE_FHIR_CLIENT_CERT';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'PULSEBRIDGE_FHIR_CLIENT_CERT and PULSEBRIDGE_FHIR_CLIENT_KEY go together' });
  }
  if (!e.PULSEBRIDGE_HL7_CLIENT_CERT !== !e.PULSEBRIDGE_HL7_CLIENT_KEY) {
    const missing = e.PULSEBRIDGE_HL7_CLIENT_CERT ? 'PULSEBRIDGE_HL7_CLIENT_KEY' : 'PULSEBRIDGE_HL7_CLIENT_CERT';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'PULSEBRIDGE_HL7_CLIENT_CERT and PULSEBRIDGE_HL7_CLIENT_KEY go together' });
  }
  kafkaSecurityIssues(e, ctx);
  // TLS files next to a plain-TCP address: the operator meant TLS; never send PID in plain text instead.
  for (const name of ['PULSEBRIDGE_HL7_CA_FILE', 'PULSEBRIDGE_HL7_CLIENT_CERT', 'PULSEBRIDGE_HL7_CLIENT_KEY'] as const) {
    if (e[name] && !e.PULSEBRIDGE_HL7_MLLP?.startsWith('mllps://')) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'is for MLLP over TLS: set PULSEBRIDGE_HL7_MLLP=mllps://host:port' });
    }
  }
});

/** The rules between the KAFKA_SSL* and KAFKA_SASL_* settings: refused at start, never a silent PLAINTEXT. */
function kafkaSecurityIssues(e: z.infer<typeof envObject>, ctx: z.RefinementCtx): void {
  if (e.KAFKA_BROKERS.some((b) => b.includes('://'))) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_BROKERS'], message: 'is host:port[,host:port…] without a scheme: for TLS set KAFKA_SSL=true, for SASL KAFKA_SASL_MECHANISM' });
  }
  // TLS files without TLS: the operator meant TLS; never connect in plain text instead.
  for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CLIENT_CERT', 'KAFKA_SSL_CLIENT_KEY'] as const) {
    if (e[name] && !e.KAFKA_SSL) ctx.addIssue({ code: 'custom', path: [name], message: 'is for TLS to Kafka: set KAFKA_SSL=true' });
  }
  if (!e.KAFKA_SSL_CLIENT_CERT !== !e.KAFKA_SSL_CLIENT_KEY) {
    const missing = e.KAFKA_SSL_CLIENT_CERT ? 'KAFKA_SSL_CLIENT_KEY' : 'KAFKA_SSL_CLIENT_CERT';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'KAFKA_SSL_CLIENT_CERT and KAFKA_SSL_CLIENT_KEY go together' });
  }
  if (!e.KAFKA_SASL_MECHANISM) {
    for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_PASSWORD_FILE'] as const) {
      if (e[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'needs KAFKA_SASL_MECHANISM (scram-sha-512, scram-sha-256 or plain)' });
    }
    return;
  }
  if (!e.KAFKA_SASL_USERNAME) ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_USERNAME'], message: 'required when KAFKA_SASL_MECHANISM is set' });
  if (!e.KAFKA_SASL_PASSWORD && !e.KAFKA_SASL_PASSWORD_FILE) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_PASSWORD_FILE'], message: 'KAFKA_SASL_PASSWORD_FILE (or KAFKA_SASL_PASSWORD) is required when KAFKA_SASL_MECHANISM is set' });
  }
  if (e.KAFKA_SASL_PASSWORD && e.KAFKA_SASL_PASSWORD_FILE) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_PASSWORD'], message: 'set KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD, not both' });
  }
  // SASL/PLAIN sends the password itself to the broker: only inside TLS. (SCRAM never sends it.)
  if (e.KAFKA_SASL_MECHANISM === 'plain' && !e.KAFKA_SSL) {
    ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_MECHANISM'], message: 'plain sends the password in clear without TLS: set KAFKA_SSL=true (SASL_SSL), or use scram-sha-512' });
  }
}

/** KAFKA_SSL* and KAFKA_SASL_* as the Kafka adapter takes them; undefined for PLAINTEXT (nothing set). */
function kafkaSecurity(e: z.infer<typeof envObject>): KafkaSecurity | undefined {
  if (!e.KAFKA_SSL && !e.KAFKA_SASL_MECHANISM) return undefined;
  return {
    ...(e.KAFKA_SSL
      ? {
          tls: {
            ...(e.KAFKA_SSL_CA_FILE ? { caFile: e.KAFKA_SSL_CA_FILE } : {}),
            ...(e.KAFKA_SSL_CLIENT_CERT ? { certFile: e.KAFKA_SSL_CLIENT_CERT } : {}),
            ...(e.KAFKA_SSL_CLIENT_KEY ? { keyFile: e.KAFKA_SSL_CLIENT_KEY } : {}),
          },
        }
      : {}),
    ...(e.KAFKA_SASL_MECHANISM
      ? {
          sasl: {
            mechanism: e.KAFKA_SASL_MECHANISM,
            username: e.KAFKA_SASL_USERNAME!,
            ...(e.KAFKA_SASL_PASSWORD_FILE ? { passwordFile: e.KAFKA_SASL_PASSWORD_FILE } : { password: e.KAFKA_SASL_PASSWORD! }),
          },
        }
      : {}),
  };
}

export type EnvConfig = z.infer<typeof envSchema>;

export interface PulsebridgeConfig {
  dataDir: string;
  bindHost: string;
  /** PULSEBRIDGE_OPS_PORT: a standalone gateway's or processor's /healthz and /metrics. */
  opsPort: number | undefined;
  logLevel: EnvConfig['PULSEBRIDGE_LOG_LEVEL'];
  /** `security`: TLS and SASL (KAFKA_SSL*, KAFKA_SASL_*), absent for PLAINTEXT; its files are read when the bus is opened. */
  bus: { kind: 'memory' } | { kind: 'kafka'; brokers: string[]; clientId: string; security?: KafkaSecurity };
  /** Kafka consumer tuning (every consumer of this process). */
  kafkaConsumer: { sessionTimeoutMs: number | undefined };
  /** Partition counts of streams Pulsebridge creates; `createTopics` false (Kafka): it creates none, they must exist. */
  streams: { telemetryPartitions: number; createTopics: boolean };
  processor: { groupId: string };
  /** `retentionDays`: PULSEBRIDGE_VITALS_RETENTION_DAYS, absent for forever. */
  store:
    | { kind: 'sqlite'; path: string; retentionDays?: number }
    | { kind: 'influxdb'; url: string; database: string; token?: string; username?: string; password?: string; retentionDays?: number };
  gateway: {
    mqttPort: number;
    plaintext: boolean;
    /**
     * Instance name. Unique per running gateway: a gateway starting under a name marks that
     * name's devices disconnected (its crashed predecessor could not). Default host:port, so a
     * restart on the same port takes over and two gateways on one host do not collide.
     */
    instanceId: string;
    tlsCertPath: string;
    tlsKeyPath: string;
    deviceCaPath: string;
    /** The device CA's CRL file; undefined: no revocation lists (a hospital CA without PULSEBRIDGE_DEVICE_CRL). */
    deviceCrlPath: string | undefined;
    /** Per-device rate limit (frames/s sustained, burst depth). */
    rateLimit: { framesPerSecond: number; burstFrames: number };
  };
  dashboard: {
    httpPort: number;
    oidc: { issuer: string; jwksUrl?: string; audience: string; clientId?: string } | undefined;
    patientDirectoryFile: string | undefined;
    /** PULSEBRIDGE_TRUSTED_PROXIES. */
    trustedProxies: string[];
  };
  ehr: {
    fhirBaseUrl: string | undefined;
    identifierSystem: string;
    /** PEM files for TLS to the EHR; read and checked when the exporter starts. */
    tls: { caFile?: string; certFile?: string; keyFile?: string };
    smart: { clientId: string; keyFile: string; keyId: string; alg: 'RS384' | 'ES384'; scope: string; tokenUrl?: string } | undefined;
    mrnSystem: string;
    patientMrnsFile: string | undefined;
    deviceSystem: string;
    ecgWaitMs: number;
    hrSummaryWindowMs: number;
    /** FHIR: per-attempt request timeout (PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS), also the /healthz `degraded` threshold. */
    fhirRequestTimeoutMs: number;
    /** FHIR: at most one evidence-only rhythm Observation update per alert per this many ms (0 = every change). */
    evidenceUpdateIntervalMs: number;
    httpPort: number;
    /** `tls`: MLLP over TLS (`mllps://`), with the PEM files read and checked when the exporter starts. */
    hl7: { host: string; port: number; tls: { caFile?: string; certFile?: string; keyFile?: string } | undefined; sendingFacility: string; receivingApplication: string; ackTimeoutMs: number; evidenceUpdateIntervalMs: number } | undefined;
  };
  registryPath: string;
  sim: { gatewayUrl: string };
}


/**
 * Validates an environment (process.env or a docker-compose service's `environment`) and returns
 * the frozen configuration. Throws PB_CONFIG_INVALID listing every problem.
 */
export function loadConfig(env: Record<string, string | undefined>): Readonly<PulsebridgeConfig> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new PulsebridgeError('PB_CONFIG_INVALID', `invalid configuration: ${describeZodIssues(parsed.error)}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.PULSEBRIDGE_DATA_DIR);
  const pki = path.join(dataDir, 'pki');
  const config: PulsebridgeConfig = {
    dataDir,
    bindHost: e.PULSEBRIDGE_BIND_HOST,
    opsPort: e.PULSEBRIDGE_OPS_PORT,
    logLevel: e.PULSEBRIDGE_LOG_LEVEL,
    bus: e.PULSEBRIDGE_BUS === 'kafka' ? kafkaBus(e) : { kind: 'memory' },
    kafkaConsumer: { sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS },
    streams: { telemetryPartitions: e.PULSEBRIDGE_TELEMETRY_PARTITIONS, createTopics: e.PULSEBRIDGE_KAFKA_CREATE_TOPICS },
    processor: { groupId: e.PULSEBRIDGE_PROCESSOR_GROUP },
    store: {
      ...(e.PULSEBRIDGE_STORE === 'influxdb'
        ? { kind: 'influxdb' as const, url: e.INFLUX_URL, database: e.INFLUX_DATABASE, token: e.INFLUX_TOKEN, username: e.INFLUX_USERNAME, password: e.INFLUX_PASSWORD }
        : { kind: 'sqlite' as const, path: path.join(dataDir, 'vitals.sqlite') }),
      ...(e.PULSEBRIDGE_VITALS_RETENTION_DAYS !== undefined ? { retentionDays: e.PULSEBRIDGE_VITALS_RETENTION_DAYS } : {}),
    },
    gateway: {
      mqttPort: e.PULSEBRIDGE_MQTT_PORT,
      plaintext: e.PULSEBRIDGE_MQTT_PLAINTEXT,
      instanceId: e.PULSEBRIDGE_GATEWAY_ID ?? `${os.hostname()}:${e.PULSEBRIDGE_MQTT_PORT}`,
      tlsCertPath: e.PULSEBRIDGE_TLS_CERT ?? path.join(pki, 'gateway.crt'),
      tlsKeyPath: e.PULSEBRIDGE_TLS_KEY ?? path.join(pki, 'gateway.key'),
      deviceCaPath: e.PULSEBRIDGE_DEVICE_CA ?? path.join(pki, 'device-ca.crt'),
      deviceCrlPath: e.PULSEBRIDGE_DEVICE_CRL ?? (e.PULSEBRIDGE_DEVICE_CA ? undefined : path.join(pki, 'device-ca.crl')),
      rateLimit: { framesPerSecond: e.PULSEBRIDGE_GATEWAY_FRAMES_PER_S, burstFrames: e.PULSEBRIDGE_GATEWAY_BURST_FRAMES },
    },
    dashboard: {
      httpPort: e.PULSEBRIDGE_HTTP_PORT,
      oidc: e.PULSEBRIDGE_OIDC_ISSUER
        ? { issuer: e.PULSEBRIDGE_OIDC_ISSUER, jwksUrl: e.PULSEBRIDGE_OIDC_JWKS_URL, audience: e.PULSEBRIDGE_OIDC_AUDIENCE, clientId: e.PULSEBRIDGE_OIDC_CLIENT_ID }
        : undefined,
      patientDirectoryFile: e.PULSEBRIDGE_PATIENT_DIRECTORY,
      trustedProxies: e.PULSEBRIDGE_TRUSTED_PROXIES,
    },
    ehr: {
      fhirBaseUrl: e.PULSEBRIDGE_FHIR_BASE_URL,
      identifierSystem: e.PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM,
      tls: { caFile: e.PULSEBRIDGE_FHIR_CA_FILE, certFile: e.PULSEBRIDGE_FHIR_CLIENT_CERT, keyFile: e.PULSEBRIDGE_FHIR_CLIENT_KEY },
      fhirRequestTimeoutMs: e.PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS,
      smart: e.PULSEBRIDGE_SMART_CLIENT_ID
        ? {
            clientId: e.PULSEBRIDGE_SMART_CLIENT_ID,
            keyFile: e.PULSEBRIDGE_SMART_KEY_FILE!,
            keyId: e.PULSEBRIDGE_SMART_KEY_ID!,
            alg: e.PULSEBRIDGE_SMART_ALG,
            scope: e.PULSEBRIDGE_SMART_SCOPES,
            ...(e.PULSEBRIDGE_SMART_TOKEN_URL ? { tokenUrl: e.PULSEBRIDGE_SMART_TOKEN_URL } : {}),
          }
        : undefined,
      mrnSystem: e.PULSEBRIDGE_EHR_MRN_SYSTEM,
      patientMrnsFile: e.PULSEBRIDGE_EHR_PATIENT_MRNS,
      deviceSystem: e.PULSEBRIDGE_EHR_DEVICE_SYSTEM,
      ecgWaitMs: e.PULSEBRIDGE_EHR_ECG_WAIT_MS,
      hrSummaryWindowMs: Math.round(e.PULSEBRIDGE_EHR_HR_SUMMARY_MIN * 60_000),
      evidenceUpdateIntervalMs: Math.round(e.PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN * 60_000),
      httpPort: e.PULSEBRIDGE_EHR_HTTP_PORT,
      hl7: e.PULSEBRIDGE_HL7_MLLP ? hl7Target(e) : undefined,
    },
    registryPath: path.join(dataDir, 'registry.sqlite'),
    sim: { gatewayUrl: e.PULSEBRIDGE_GATEWAY_URL ?? `${e.PULSEBRIDGE_MQTT_PLAINTEXT ? 'mqtt' : 'mqtts'}://localhost:${e.PULSEBRIDGE_MQTT_PORT}` },
  };
  return deepFreeze(config);
}

/** The Kafka bus; `security` only when TLS or SASL is set, so a PLAINTEXT configuration is what it was. */
function kafkaBus(e: EnvConfig): PulsebridgeConfig['bus'] {
  const security = kafkaSecurity(e);
  return { kind: 'kafka', brokers: e.KAFKA_BROKERS, clientId: e.KAFKA_CLIENT_ID, ...(security ? { security } : {}) };
}

/** PULSEBRIDGE_HL7_MLLP (`[mllp://|mllps://]host:port`) and its TLS files. */
function hl7Target(e: EnvConfig): PulsebridgeConfig['ehr']['hl7'] {
  const address = e.PULSEBRIDGE_HL7_MLLP!;
  const secure = address.startsWith('mllps://');
  const hostPort = address.replace(/^mllps?:\/\//, '');
  return {
    host: hostPort.slice(0, hostPort.lastIndexOf(':')),
    port: Number(hostPort.slice(hostPort.lastIndexOf(':') + 1)),
    tls: secure ? { caFile: e.PULSEBRIDGE_HL7_CA_FILE, certFile: e.PULSEBRIDGE_HL7_CLIENT_CERT, keyFile: e.PULSEBRIDGE_HL7_CLIENT_KEY } : undefined,
    sendingFacility: e.PULSEBRIDGE_HL7_SENDING_FACILITY,
    receivingApplication: e.PULSEBRIDGE_HL7_RECEIVING_APPLICATION,
    ackTimeoutMs: e.PULSEBRIDGE_HL7_ACK_TIMEOUT_MS,
    evidenceUpdateIntervalMs: e.PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN * 60_000,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
