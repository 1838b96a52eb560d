/**
 * The fault suite's stack: every component a `bin/pulsebridge` process of its own (production
 * mode, Kafka + InfluxDB), so a fault hits one process the way it would in a deployment, plus the
 * throw-away Kafka and InfluxDB that scripts/faults.sh started for this suite (never the shared
 * ones on 9092/8086: stopping those would break every other test on the machine).
 *
 * Each component's stderr (JSON log lines) goes to `test-results/faults/logs/<case>-<name>-<n>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureDevPki, issueDeviceCertificate } from '../../platform/security/index.ts';
import { KafkaBus } from '../../platform/bus/index.ts';
import { BusRegistry } from '../../platform/registry/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { freePort, sleep, waitFor } from '../helpers/wait.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const RESULTS_DIR = path.join(ROOT, 'test-results/faults');
const LOG_DIR = path.join(RESULTS_DIR, 'logs');

/** The suite's own services, from the environment scripts/faults.sh sets. */
export const faultServices = {
  stateDir: process.env.SERVICES_STATE_DIR ?? '',
  kafkaPort: Number(process.env.SERVICES_KAFKA_PORT ?? 0),
  influxPort: Number(process.env.SERVICES_INFLUX_PORT ?? 0),
  get kafkaBrokers() { return `127.0.0.1:${this.kafkaPort}`; },
  get influxUrl() { return `http://127.0.0.1:${this.influxPort}`; },
};

/**
 * True when scripts/faults.sh set up throw-away services: the suite refuses to run against the
 * shared default ports, where stopping a service would hurt everyone else.
 */
export function ownServicesConfigured(): boolean {
  const s = faultServices;
  return s.stateDir !== '' && !s.stateDir.endsWith('/.services') && s.kafkaPort > 0 && s.kafkaPort !== 9092 && s.influxPort > 0 && s.influxPort !== 8086;
}

/**
 * Runs scripts/services.sh for the suite's own services (`start|stop`, one service), without
 * blocking the event loop: the simulated devices in this process keep streaming meanwhile.
 */
export async function services(action: 'start' | 'stop', service: 'kafka' | 'influxdb'): Promise<void> {
  if (!ownServicesConfigured()) throw new Error('refusing to touch services: scripts/faults.sh did not configure throw-away ones');
  const child = spawn('bash', [path.join(ROOT, 'scripts/services.sh'), action, service], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`services.sh ${action} ${service} failed (${code}): ${output}`);
}

export async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

export type ComponentName = 'gateway' | 'processor' | 'dashboard-api' | 'ehr-exporter';

export class ComponentProcess {
  readonly name: ComponentName;
  child: ChildProcess;
  readonly logPath: string;
  #exited: Promise<number | null>;

  constructor(name: ComponentName, child: ChildProcess, logPath: string) {
    this.name = name;
    this.child = child;
    this.logPath = logPath;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The component's log so far (JSON lines). */
  log(): string {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  /** Parsed log lines with `msg` (and level) matching. */
  logLines(match: (line: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const text of this.log().split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (match(line)) out.push(line);
      } catch { /* a partial last line */ }
    }
    return out;
  }

  async waitForLog(what: string, match: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${this.name}: ${what}`, () => {
      if (!this.alive) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}); log ${this.logPath}:\n${this.log().slice(-3000)}`);
      return this.logLines(match).length > 0 ? true : undefined;
    }, timeoutMs);
  }

  /** SIGTERM (clean stop), or SIGKILL; resolves when the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

export interface StackOptions {
  caseName: string;
  /** FHIR base URL of the EHR test server; without it no exporter runs. */
  fhirBaseUrl?: string;
  identifierSystem?: string;
  /** InfluxDB database of this case (one per case, so counts never mix). */
  influxDatabase: string;
  /** Environment of every component process. */
  env?: Record<string, string>;
}

/** One case's processes, data folder and ports. */
export class FaultStack {
  readonly o: StackOptions;
  readonly dataDir: string;
  readonly mqttPort: number;
  readonly httpPort: number;
  readonly components = new Map<string, ComponentProcess>();
  #starts = 0;

  private constructor(o: StackOptions, dataDir: string, mqttPort: number, httpPort: number) {
    this.o = o;
    this.dataDir = dataDir;
    this.mqttPort = mqttPort;
    this.httpPort = httpPort;
  }

  static async create(o: StackOptions): Promise<FaultStack> {
    fs.mkdirSync(LOG_DIR, { recursive: true });
    const dataDir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), `pb-faults-${o.caseName}-`));
    ensureDevPki(dataDir);
    return new FaultStack(o, dataDir, await freePort(), await freePort());
  }

  get dashboardUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const base: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PULSEBRIDGE_DATA_DIR: this.dataDir,
      PULSEBRIDGE_BUS: 'kafka',
      PULSEBRIDGE_STORE: 'influxdb',
      KAFKA_BROKERS: faultServices.kafkaBrokers,
      INFLUX_URL: faultServices.influxUrl,
      INFLUX_DATABASE: this.o.influxDatabase,
      PULSEBRIDGE_MQTT_PORT: String(this.mqttPort),
      PULSEBRIDGE_HTTP_PORT: String(this.httpPort),
      // The exporter's own /healthz and /metrics: any free port (several stacks and other runs share the machine).
      PULSEBRIDGE_EHR_HTTP_PORT: '0',
      PULSEBRIDGE_LOG_LEVEL: 'info',
      ...(this.o.fhirBaseUrl ? { PULSEBRIDGE_FHIR_BASE_URL: this.o.fhirBaseUrl } : {}),
      ...(this.o.identifierSystem ? { PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM: this.o.identifierSystem } : {}),
    };
    return { ...base, ...this.o.env, ...extra };
  }

  /** Starts one component process and waits until it serves. `key` names a second instance. */
  async start(name: ComponentName, options: { key?: string; env?: Record<string, string> } = {}): Promise<ComponentProcess> {
    const key = options.key ?? name;
    const logPath = path.join(LOG_DIR, `${this.o.caseName}-${key}-${++this.#starts}.log`);
    const fd = fs.openSync(logPath, 'w');
    const child = spawn(path.join(ROOT, 'bin/pulsebridge'), [name], { env: this.env(options.env), stdio: ['ignore', fd, fd], cwd: ROOT });
    fs.closeSync(fd);
    // scripts/faults.sh ends any of these still alive after the run (a timed-out vitest cannot).
    fs.appendFileSync(path.join(RESULTS_DIR, 'pids'), `${child.pid}\n`);
    const proc = new ComponentProcess(name, child, logPath);
    this.components.set(key, proc);
    const ready: Record<ComponentName, string> = {
      gateway: 'gateway listening',
      processor: 'processor consuming telemetry',
      'dashboard-api': 'dashboard-api listening',
      'ehr-exporter': 'ehr-exporter exporting alerts',
    };
    await proc.waitForLog('ready', (l) => l.msg === ready[name], 90_000);
    return proc;
  }

  get(key: string): ComponentProcess {
    const c = this.components.get(key);
    if (!c) throw new Error(`no component ${key}`);
    return c;
  }

  /** Registers devices in the registry on the bus and issues their certificates. */
  async addDevices(devices: { deviceId: string; patientId: string }[]): Promise<void> {
    const bus = new KafkaBus({ brokers: [faultServices.kafkaBrokers], clientId: `faults-registry-${this.o.caseName}`, logger: silentLogger });
    const registry = await BusRegistry.open({ bus, logger: silentLogger });
    for (const d of devices) {
      await registry.add(d.deviceId, d.patientId, 'faults', Date.now() - 3_600_000);
      issueDeviceCertificate(this.dataDir, d.deviceId);
    }
    await registry.close();
    await bus.close();
  }

  credentials(deviceId: string) {
    return issueDeviceCertificate(this.dataDir, deviceId);
  }

  /** Stops every process (SIGTERM, then SIGKILL after a while). */
  async close(): Promise<void> {
    await Promise.all([...this.components.values()].map((c) => c.stop('SIGTERM', 10_000)));
    await sleep(100);
  }
}
