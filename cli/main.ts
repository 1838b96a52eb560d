/**
 * `pulsebridge` command line (product.md "Stable surface for automation"). The only place that
 * reads process.env: the configuration is loaded here once, validated, frozen and passed down.
 * Exit 0 on success; errors go to stderr as one clear sentence.
 */
import { userInfo } from 'node:os';
import { openDevIssuer, ROLES, type Role } from '../dashboard-api/dev-issuer.ts';
import { openBus, openLivenessReader, openRegistry, openVitalsStore } from '../platform/adapters.ts';
import { watchBusConsumers, type BusConsumerHealth } from '../platform/bus/index.ts';
import { loadConfig, type PulsebridgeConfig } from '../platform/config.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { startOpsServer } from '../platform/ops-server.ts';
import { assertWritableFolder, warnIfFolderOpenToOthers } from '../platform/sqlite-file.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import { asksForHelp, COMMON_FLAGS, envWithFlags, parse, parseDurationMs, UsageError } from './args.ts';
import { startDashboard, startEhrExporter, startGateway, startProcessor, type Running } from './components.ts';
import { runDemo } from './demo.ts';
import { runDeviceCommand } from './device.ts';
import { runDeadLetterCommand } from './deadletter.ts';
import { normalizeReportFlag, parseFormatFlag, parseSimBehaviour, parseSpeed, runReplayCommand, parseSimEcgFlags, runSimCommand, SIM_BEHAVIOUR_FLAGS, SIM_ECG_FLAGS } from './sim.ts';

const USAGE = `Usage: pulsebridge <command> [options]

Commands:
  demo [--devices N] [--scenario NAME]      everything in one process (embedded mode)
  gateway | processor | dashboard-api | ehr-exporter
                                            run one component (production mode)
  sim [--devices N] [--scenario NAME|FILE] [--duration 10m] [--speed N] [--ground-truth F]
      [--report [FILE]] [--api URL] [--token T] [--report-wait 5s] [--format v1|v2|mix]
      [--url mqtts://HOST:PORT] [--cert-dir DIR --ca F]
      [--disconnect-every D [--disconnect-for D]] [--reboot-every D [--reboot-for D]]
      [--clock-offset [-]D] [--clock-drift-ppm N] [--ecg-only] [--paced]
                                            scenarios: clinical-basics, all-alarms, normal, or a file;
                                            --ecg-only: ECG without firmware beats (the processor finds them);
                                            --paced: paced patients, pulses flagged in ecg.pace (JSON v1);
                                            --report: exit code 1 when the report's result is FAIL
  sim replay --record PATH[,PATH…] --device ID[,ID…] [--speed N|max] [--frame-ms 100..5000]
      [--format v1|v2|mix] [--url mqtts://HOST:PORT] [--cert F --key F --ca F] [--lead N] [--live]
                                            several records at once, one device each;
                                            --lead: the header's signal N as the ECG (default 0);
                                            --live: sample 0 now, at speed 1 (default: the record ends now)
  token --sub USER --role clinician|admin [--patients p1,p2] [--ttl 12h]
  device add <id> --patient <pid> [--json] | device assign <id> --patient <pid> [--from ISO]
  device unassign <id> [--at ISO] | device enable|disable|rekey <id> | device list [--json] | device show|audit <id>
  device command <id> --type ping|config|fw_offer [--json '{...}'] [--ttl 1h] [--timeout 60s] [--wait]
  deadletter list [--source gateway|processor|ehr-exporter] [--reason R] [--device ID] [--since ISO] [--limit 50] [--json]
  deadletter show <id> [--json] | deadletter replay <id> [--timeout 10s]

Common options: --data-dir DIR, --mqtt-port N, --http-port N (override PULSEBRIDGE_* variables).`;

const out = (line: string) => process.stdout.write(line + '\n');

/** Who runs the CLI, for the audit trail: $USER, else the account of the process (containers often set no USER). */
function cliActor(env: NodeJS.ProcessEnv): string {
  let user = env.USER || env.LOGNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = undefined;
    }
  }
  return `cli:${user || 'unknown'}`;
}

/**
 * The components' start-up warning about a data folder open to other users, said once by each
 * command that uses the folder (certificates, registry, token key, dead letters and the PHI audit
 * log, simulator files). Nothing when the folder does not exist yet: it is created 0700.
 */
function warnIfDataFolderOpen(config: Readonly<PulsebridgeConfig>): void {
  warnIfFolderOpenToOthers(config.dataDir, createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { app: 'pulsebridge' }));
}

function shutdownSignal(logger: Logger): AbortSignal {
  const controller = new AbortController();
  const stop = (sig: string) => {
    if (controller.signal.aborted) return;
    logger.info('shutting down', { signal: sig });
    controller.abort();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return controller.signal;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * A standalone gateway's or processor's /healthz and /metrics on PULSEBRIDGE_OPS_PORT (the
 * ehr-exporter's ops server): for the orchestrator's probes and Prometheus, which could scrape
 * neither before (session 32: only the API and the exporter served metrics). It answers from the
 * start — `starting` until the component runs (a processor joins its consumer group first, which
 * took 28 s after a crash) — and the processor reports `degraded` while it holds an infrastructure
 * gap (its operator alarm) or cannot write the vitals store (the points wait on the bus); the
 * gateway while its latest write to the bus failed (`busFailing`: frames are not acknowledged);
 * both while one of their bus subscriptions does not consume (`busSubscriptions`, consumer-health.ts).
 */
async function startComponentOps(name: 'gateway' | 'processor', config: Readonly<PulsebridgeConfig>, metrics: MetricsRegistry, logger: Logger, running: () => boolean, busHealth: BusConsumerHealth): Promise<Running[]> {
  if (config.opsPort === undefined) return [];
  const startedAt = new Date().toISOString();
  const gap = name === 'processor' ? metrics.gauge('pb_processor_infrastructure_gap_streams', '') : undefined;
  const store = name === 'processor' ? metrics.gauge('pb_processor_store_failing', '') : undefined;
  const bus = name === 'gateway' ? metrics.gauge('pb_gateway_bus_failing', '') : undefined;
  const ops = await startOpsServer({
    port: config.opsPort, host: config.bindHost, metrics,
    health: () => {
      const held = gap?.get() ?? 0;
      const storeFailing = (store?.get() ?? 0) > 0;
      const busFailing = (bus?.get() ?? 0) > 0;
      const busSubscriptions = busHealth.problems();
      const status = !running() ? 'starting' : held > 0 || storeFailing || busFailing || busSubscriptions.length > 0 ? 'degraded' : 'ok';
      return { status, component: name, startedAt, ...(gap ? { infrastructureGapStreams: held, storeFailing } : {}), ...(bus ? { busFailing } : {}),
        ...(busSubscriptions.length > 0 ? { busSubscriptions } : {}) };
    },
  });
  logger.info(`${name} /healthz and /metrics listening`, { url: ops.url });
  return [{ name: `${name} ops`, stop: () => ops.close() }];
}

async function runComponent(name: string, config: Readonly<PulsebridgeConfig>, logger: Logger): Promise<void> {
  const signal = shutdownSignal(logger);
  // Embedded adapters keep their databases in the data folder: say so at once when it cannot be written.
  if (config.store.kind === 'sqlite' || config.bus.kind === 'memory') assertWritableFolder(config.dataDir, logger);
  const metrics = new MetricsRegistry();
  const bus = await openBus(config, logger);
  // Whether this process's bus subscriptions consume, for every component's /healthz.
  const busHealth = watchBusConsumers({ bus, logger, metrics });
  const ctx = { config, bus, logger, metrics, busHealth };
  const running: Running[] = [];
  const closers: (() => Promise<void> | void)[] = [() => bus.close(), () => busHealth.close()];
  try {
    if (name === 'gateway') {
      // A gateway never reads the audit trail: on Kafka it folds only the latest states.
      const registry = await openRegistry(config, bus, logger, { auditTrail: false });
      closers.push(() => registry.close());
      let started = false;
      running.push(...(await startComponentOps(name, config, metrics, logger, () => started, busHealth)));
      running.push(await startGateway(ctx, registry));
      started = true;
    } else if (name === 'processor') {
      const store = await openVitalsStore(config, logger);
      closers.push(() => store.close());
      const upstream = await openLivenessReader(config, bus, logger);
      closers.push(() => upstream.close());
      let started = false;
      running.push(...(await startComponentOps(name, config, metrics, logger, () => started, busHealth)));
      running.push(await startProcessor(ctx, store, { upstream: upstream.liveness }));
      started = true;
    } else if (name === 'dashboard-api') {
      // The processor writes the vitals store and prunes it; the API only reads it.
      const store = await openVitalsStore(config, logger, { role: 'reader' });
      const registry = await openRegistry(config, bus, logger);
      closers.push(() => store.close(), () => registry.close());
      running.push(await startDashboard(ctx, store, registry));
    } else {
      const ehr = await startEhrExporter(ctx);
      if (!ehr) throw new PulsebridgeError('PB_CONFIG_INVALID', 'the EHR exporter needs PULSEBRIDGE_FHIR_BASE_URL (FHIR R4) or PULSEBRIDGE_HL7_MLLP (HL7 v2)');
      running.push(ehr);
    }
    await untilAborted(signal);
  } finally {
    for (const r of running.reverse()) await r.stop().catch((err: unknown) => logger.warn(`stopping ${r.name} failed`, { err: err as Error }));
    for (const c of closers.reverse()) await c();
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    // Asked for: stdout, exit 0. No command at all is a usage error: stderr, exit 2.
    if (command) out(USAGE);
    else process.stderr.write(USAGE + '\n');
    return command ? 0 : 2;
  }
  // `pulsebridge gateway --help` must print the usage, not start a gateway (or the demo, or a simulator).
  if (asksForHelp(rest)) {
    out(USAGE);
    return 0;
  }
  const configFrom = (values: Record<string, unknown>) => loadConfig(envWithFlags(env, values));

  switch (command) {
    case 'demo': {
      const { values } = parse(rest, { ...COMMON_FLAGS, devices: { type: 'string' }, scenario: { type: 'string' } });
      const config = configFrom(values);
      const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { app: 'pulsebridge' });
      const devices = Number(values.devices ?? 3);
      if (!Number.isInteger(devices) || devices < 0) throw new UsageError('--devices must be a whole number ≥ 0');
      await runDemo({ config, devices, scenario: values.scenario ?? 'clinical-basics', logger, signal: shutdownSignal(logger), out });
      return 0;
    }
    case 'gateway':
    case 'processor':
    case 'dashboard-api':
    case 'ehr-exporter': {
      const { values } = parse(rest, COMMON_FLAGS);
      const config = configFrom(values);
      await runComponent(command, config, createLogger(config.logLevel, { app: 'pulsebridge', component: command }));
      return 0;
    }
    case 'sim': {
      if (rest[0] === 'replay') {
        const { values } = parse(rest.slice(1), { ...COMMON_FLAGS, record: { type: 'string' }, device: { type: 'string' }, speed: { type: 'string' },
          url: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' }, format: { type: 'string' }, 'frame-ms': { type: 'string' },
          lead: { type: 'string' }, live: { type: 'boolean' } });
        if (!values.record) throw new UsageError('sim replay needs --record PATH');
        if (!values.device) throw new UsageError('sim replay needs --device ID');
        const list = (text: string) => text.split(',').map((x) => x.trim()).filter(Boolean);
        const frameMs = values['frame-ms'] === undefined ? undefined : Number(values['frame-ms']);
        if (frameMs !== undefined && !(Number.isInteger(frameMs) && frameMs >= 100 && frameMs <= 5000)) throw new UsageError('--frame-ms must be a whole number of ms from 100 to 5000 (device-protocol.md "Limits")');
        const lead = values.lead === undefined ? undefined : Number(values.lead);
        if (lead !== undefined && !(Number.isInteger(lead) && lead >= 0)) throw new UsageError('--lead must be a signal number of the record header, 0 for the first');
        const speed = parseSpeed(values.speed, 1);
        if (values.live && speed !== 1) throw new UsageError('--live replays at --speed 1 only: faster, frames would carry device times from the future');
        const config = configFrom(values);
        warnIfDataFolderOpen(config);
        const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { app: 'pulsebridge', component: 'sim' });
        await runReplayCommand({ config, recordPaths: list(values.record), deviceIds: list(values.device), frameMs, speed, lead, live: values.live === true, url: values.url,
          credentials: { cert: values.cert, key: values.key, ca: values.ca }, format: parseFormatFlag(values.format), signal: shutdownSignal(logger), logger, out });
        return 0;
      }
      const { values } = parse(normalizeReportFlag(rest), { ...COMMON_FLAGS, devices: { type: 'string' }, scenario: { type: 'string' }, duration: { type: 'string' },
        speed: { type: 'string' }, url: { type: 'string' }, 'ground-truth': { type: 'string' }, 'cert-dir': { type: 'string' }, ca: { type: 'string' },
        report: { type: 'string' }, api: { type: 'string' }, token: { type: 'string' }, 'report-wait': { type: 'string' }, ...SIM_ECG_FLAGS, ...SIM_BEHAVIOUR_FLAGS });
      const config = configFrom(values);
      warnIfDataFolderOpen(config);
      const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { app: 'pulsebridge', component: 'sim' });
      const devices = Number(values.devices ?? 1);
      if (!Number.isInteger(devices) || devices < 1) throw new UsageError('--devices must be a whole number ≥ 1');
      const { reportPass } = await runSimCommand({ config, devices, scenario: values.scenario, durationMs: values.duration ? parseDurationMs(values.duration) : undefined,
        speed: parseSpeed(values.speed, 1), groundTruthPath: values['ground-truth'], url: values.url,
        credentials: { certDir: values['cert-dir'], ca: values.ca }, behaviour: { ...parseSimBehaviour(values), ...parseSimEcgFlags(values) }, signal: shutdownSignal(logger), logger, out,
        report: values.report === undefined ? undefined : { path: values.report, apiUrl: values.api, token: values.token, waitMs: parseDurationMs(values['report-wait'] ?? '5s') } });
      // A report that says FAIL fails the command (a scripted test run gates on the exit code).
      return reportPass === false ? 1 : 0;
    }
    case 'token': {
      const { values } = parse(rest, { ...COMMON_FLAGS, sub: { type: 'string' }, role: { type: 'string' }, patients: { type: 'string' }, ttl: { type: 'string' } });
      if (!values.sub) throw new UsageError('token needs --sub USER');
      if (!ROLES.includes(values.role as Role)) throw new UsageError('token needs --role clinician or --role admin');
      const config = configFrom(values);
      warnIfDataFolderOpen(config);
      const issuer = await openDevIssuer({ dataDir: config.dataDir });
      const patients = (values.patients ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      out(await issuer.issueToken({ sub: values.sub, role: values.role as Role, patients, ttlSeconds: Math.round(parseDurationMs(values.ttl ?? '12h') / 1000) }));
      return 0;
    }
    case 'device': {
      const flags = { ...COMMON_FLAGS, patient: { type: 'string' }, from: { type: 'string' }, at: { type: 'string' }, type: { type: 'string' },
        ttl: { type: 'string' }, timeout: { type: 'string' }, wait: { type: 'boolean' } } as const;
      // `device command --json '{…}'` carries the command body; elsewhere --json asks for JSON output.
      const { values, positionals } = rest[0] === 'command' ? parse(rest, { ...flags, json: { type: 'string' } }) : parse(rest, { ...flags, json: { type: 'boolean' } });
      const config = configFrom(values);
      warnIfDataFolderOpen(config);
      return runDeviceCommand({ config, action: positionals[0], deviceId: positionals[1], patientId: values.patient, json: values.json === true,
        from: values.from, at: values.at, commandType: values.type, commandJson: typeof values.json === 'string' ? values.json : undefined,
        ttl: values.ttl, timeout: values.timeout, wait: values.wait, signal: values.wait ? shutdownSignal(createLogger('warn', { app: 'pulsebridge' })) : undefined,
        actor: cliActor(env), out, err: (line) => process.stderr.write(line + '\n') });
    }
    case 'deadletter': {
      const { values, positionals } = parse(rest, { ...COMMON_FLAGS, source: { type: 'string' }, reason: { type: 'string' }, device: { type: 'string' },
        since: { type: 'string' }, limit: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } });
      const config = configFrom(values);
      warnIfDataFolderOpen(config);
      return runDeadLetterCommand({ config, action: positionals[0], id: positionals[1], source: values.source, reason: values.reason, deviceId: values.device,
        since: values.since, limit: values.limit, timeout: values.timeout, json: values.json === true, actor: cliActor(env),
        out, err: (line) => process.stderr.write(line + '\n') });
    }
    default:
      throw new UsageError(`unknown command "${command}"; run pulsebridge --help`);
  }
}

const sentence = (message: string) => {
  const m = message.trim();
  return (m.charAt(0).toUpperCase() + m.slice(1)).replace(/([^.!?])$/, '$1.');
};

main(process.argv.slice(2), process.env).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`pulsebridge: ${sentence(err instanceof Error ? err.message : String(err))}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
