/**
 * `pulsebridge demo`: every component in one process on the embedded adapters (in-process bus,
 * SQLite store), a development PKI and token issuer in the data folder, and simulated devices.
 */
import { openDevIssuer } from '../dashboard-api/dev-issuer.ts';
import { resolveScenario, runSim, SIM_STAGGER_MS, simDeviceIds } from '../device-sim/index.ts';
import { sleep } from '../device-sim/pacing.ts';
import { openBus, openRegistry, openVitalsStore } from '../platform/adapters.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import { devPkiPaths, ensureDevPki } from '../platform/security/index.ts';
import { assertWritableFolder } from '../platform/sqlite-file.ts';
import type { Logger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import { startDashboard, startEhrExporter, startGateway, startProcessor, type Running, type RunningEhrExporter } from './components.ts';
import { provisionSimDevices, simPatientFor } from './sim.ts';
import { startDeadLetterArchiver } from './dead-letter-replay.ts';
import { DeadLetterArchive, deadLetterArchivePath } from '../platform/dead-letters/index.ts';
import fs from 'node:fs';
import path from 'node:path';

export interface DemoInput {
  config: Readonly<PulsebridgeConfig>;
  devices: number;
  scenario: string;
  logger: Logger;
  signal: AbortSignal;
  out: (line: string) => void;
  /** How long a stop waits for the EHR export to deliver what it holds, ms (default 5 s; tests shorten it). */
  ehrSettleMs?: number;
}

export async function runDemo(input: DemoInput): Promise<void> {
  const { config, logger, signal } = input;
  // A scenario that does not exist fails the start, not the simulator minutes later in a log line.
  if (input.devices > 0) await resolveScenario(input.scenario);
  assertWritableFolder(config.dataDir, logger);
  ensureDevPki(config.dataDir);
  const running: Running[] = [];
  const metrics = new MetricsRegistry();
  const bus = await openBus(config, logger);
  const store = await openVitalsStore(config, logger);
  const registry = await openRegistry(config, bus, logger);
  const ctx = { config, bus, logger, metrics };
  let deadLetters: DeadLetterArchive | undefined;
  let ehr: RunningEhrExporter | undefined;
  try {
    running.push(await startProcessor(ctx, store, { upstream: registry.liveness }));
    ehr = await startEhrExporter(ctx);
    if (ehr) running.push(ehr);
    const dashboard = await startDashboard(ctx, store, registry);
    running.push(dashboard);
    const gateway = await startGateway(ctx, registry);
    running.push(gateway);
    if (config.bus.kind === 'memory') {
      // The in-process bus dies with this process: keep dead letters readable by `pulsebridge deadletter`.
      deadLetters = new DeadLetterArchive(deadLetterArchivePath(config.dataDir));
      running.push(await startDeadLetterArchiver({ bus, registry, archive: deadLetters, logger: logger.child({ component: 'dead-letters' }) }));
    }

    const ids = simDeviceIds(input.devices);
    await provisionSimDevices(config, registry, ids, 'demo');
    const issuer = await openDevIssuer({ dataDir: config.dataDir });
    const patients = ids.map(simPatientFor);
    const token = await issuer.issueToken({ sub: 'demo-clinician', role: 'clinician', patients, ttlSeconds: 12 * 3600 });
    input.out(`Pulsebridge demo is running (${config.bus.kind === 'kafka' ? 'on Kafka' : 'embedded mode'}, data in ${config.dataDir}).`);
    input.out(`  Dashboard:     ${dashboard.url}/#token=${token}`);
    // PULSEBRIDGE_MQTT_PLAINTEXT (local development, loopback only): plain MQTT, client ids believed.
    const gatewayUrl = `${config.gateway.plaintext ? 'mqtt' : 'mqtts'}://localhost:${gateway.port}`;
    input.out(`  MQTT gateway:  ${gatewayUrl} (${config.gateway.plaintext ? 'plain MQTT: no device is authenticated' : `device CA: ${devPkiPaths(config.dataDir).deviceCaCert}`})`);
    input.out(`  Simulated devices: ${ids.length}${ids.length ? ` (${ids[0]}…, scenario ${input.scenario})` : ''}`);
    // The hints name this data folder unless it is the default one: run elsewhere, the CLI would make its own keys.
    const dataDirFlag = path.resolve(config.dataDir) === path.resolve('data') ? '' : ` --data-dir ${config.dataDir}`;
    input.out(`  Another clinician token: bin/pulsebridge token --sub <user> --role clinician --patients ${patients.slice(0, 2).join(',') || 'patient-0001'}${dataDirFlag}`);
    input.out(`  Add a device:  bin/pulsebridge device add <id> --patient <pid> --json${dataDirFlag}`);
    input.out('Press Ctrl+C to stop.');

    const sim = ids.length === 0 ? Promise.resolve() : runSim({
      devices: ids,
      scenario: input.scenario,
      speed: 1,
      staggerMs: SIM_STAGGER_MS,
      groundTruthPath: path.join(config.dataDir, 'sim', 'demo-ground-truth.json'),
      connect: {
        url: gatewayUrl,
        ca: fs.readFileSync(devPkiPaths(config.dataDir).serverCaCert),
        certFor: (id) => fs.readFileSync(path.join(devPkiPaths(config.dataDir).dir, 'devices', `${id}.crt`)),
        keyFor: (id) => fs.readFileSync(path.join(devPkiPaths(config.dataDir).dir, 'devices', `${id}.key`)),
      },
      signal,
      logger: logger.child({ component: 'sim' }),
    }).then(
      () => undefined,
      // A simulated device refused by the gateway (e.g. disabled with `device disable`) ends the
      // simulation; the demo's components keep running.
      (err: unknown) => { logger.warn('simulator stopped with an error; the demo keeps running', { err: err as Error }); },
    );
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await sim;
  } finally {
    if (ehr) await settleEhrExport(ehr, logger, input.ehrSettleMs ?? EHR_SETTLE_MS);
    for (const r of running.reverse()) {
      await r.stop().catch((err: unknown) => logger.warn(`stopping ${r.name} failed`, { err: err as Error }));
    }
    deadLetters?.close();
    await store.close();
    await registry.close();
    await bus.close();
  }
}

/** How long a stopping demo gives its EHR export to deliver what it holds, ms. */
const EHR_SETTLE_MS = 5000;

/**
 * Embedded, the bus is this process's memory: what the EHR exporter has not delivered when the demo
 * stops is gone — alerts the chart never gets, or whose end it never learns. So a stop first gives
 * the export a few seconds (unless it waits for an EHR that is down), and then says on stderr how
 * much is lost. Found by a hospital-integration walkthrough: a clean restart while the EHR answered
 * 503 lost two asystole alerts without a word. On Kafka nothing is lost: it waits on the bus.
 */
export async function settleEhrExport(ehr: Pick<RunningEhrExporter, 'undelivered' | 'paused'>, logger: Logger, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while ((ehr.undelivered() ?? 0) > 0 && !ehr.paused() && Date.now() < deadline) await sleep(100);
  const left = ehr.undelivered() ?? 0;
  if (left > 0) {
    logger.warn(`${left} message(s) were not delivered to the EHR${ehr.paused() ? ' (it does not answer)' : ''} and are lost: embedded mode keeps nothing across a restart (PULSEBRIDGE_BUS=kafka keeps them)`, { undelivered: left });
  }
}

