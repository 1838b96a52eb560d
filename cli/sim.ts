/**
 * `pulsebridge sim` and `pulsebridge sim replay`: simulated devices against a running gateway.
 * Credentials: in embedded mode from the development PKI of the data folder (devices are
 * registered on the fly, each to its own patient); otherwise from --cert-dir (`<id>.crt`,
 * `<id>.key`) or --cert/--key, with --ca.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runReplay, runSim, simDeviceIds, type SimSpeed } from '../device-sim/index.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import { devPkiPaths, issueDeviceCertificate } from '../platform/dev-pki.ts';
import { DeviceRegistry } from '../platform/device-registry.ts';
import type { Logger } from '../platform/log.ts';
import { UsageError } from './args.ts';

export function parseSpeed(text: string | undefined, fallback: SimSpeed): SimSpeed {
  if (text === undefined) return fallback;
  if (text === 'max') return 'max';
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--speed must be a positive number or "max", got "${text}"`);
  return n;
}

/** The patient a simulated device is assigned to in embedded mode: sim-0001 → patient-0001. */
export const simPatientFor = (deviceId: string) => deviceId.replace(/^sim-/, 'patient-');

/** Registers simulated devices (if needed) and issues their development certificates. */
export function provisionSimDevices(config: Readonly<PulsebridgeConfig>, deviceIds: string[], actor = 'sim'): void {
  const registry = new DeviceRegistry(config.registryPath);
  try {
    for (const id of deviceIds) {
      issueDeviceCertificate(config.dataDir, id);
      const known = registry.get(id);
      if (!known || !known.patientId) registry.add(id, simPatientFor(id), actor, Date.now() - 24 * 3_600_000);
    }
  } finally {
    registry.close();
  }
}

interface CredentialFlags { certDir?: string; cert?: string; key?: string; ca?: string }

function credentialsFor(config: Readonly<PulsebridgeConfig>, flags: CredentialFlags) {
  const pki = devPkiPaths(config.dataDir);
  const ca = fs.readFileSync(flags.ca ?? pki.serverCaCert);
  const dir = flags.certDir ?? path.join(pki.dir, 'devices');
  return {
    ca,
    certFor: (id: string) => fs.readFileSync(flags.cert ?? path.join(dir, `${id}.crt`)),
    keyFor: (id: string) => fs.readFileSync(flags.key ?? path.join(dir, `${id}.key`)),
  };
}

export interface SimCommandInput {
  config: Readonly<PulsebridgeConfig>;
  devices: number;
  scenario: string | undefined;
  durationMs: number | undefined;
  speed: SimSpeed;
  groundTruthPath: string | undefined;
  url: string | undefined;
  credentials: CredentialFlags;
  signal: AbortSignal;
  logger: Logger;
  out: (line: string) => void;
}

export async function runSimCommand(input: SimCommandInput): Promise<void> {
  const { config } = input;
  const ids = simDeviceIds(input.devices);
  const embedded = !input.credentials.certDir && !input.credentials.cert;
  if (embedded) provisionSimDevices(config, ids);
  const creds = credentialsFor(config, input.credentials);
  const summary = await runSim({
    devices: ids,
    scenario: input.scenario,
    durationMs: input.durationMs,
    speed: input.speed,
    staggerMs: 7_000,
    groundTruthPath: input.groundTruthPath ?? path.join(config.dataDir, 'sim', 'ground-truth.json'),
    connect: { url: input.url ?? config.sim.gatewayUrl, ca: creds.ca, certFor: creds.certFor, keyFor: creds.keyFor },
    signal: input.signal,
    logger: input.logger,
  });
  input.out(JSON.stringify({ devices: summary.devices, scenario: summary.scenario, framesSent: summary.framesSent, framesAcked: summary.framesAcked,
    episodes: summary.episodes.length, groundTruth: summary.groundTruthPath, aborted: summary.aborted }));
}

export interface ReplayCommandInput {
  config: Readonly<PulsebridgeConfig>;
  recordPath: string;
  deviceId: string;
  speed: SimSpeed;
  url: string | undefined;
  credentials: CredentialFlags;
  signal: AbortSignal;
  logger: Logger;
  out: (line: string) => void;
}

export async function runReplayCommand(input: ReplayCommandInput): Promise<void> {
  const { config } = input;
  const creds = credentialsFor(config, input.credentials);
  await runReplay({
    recordPath: input.recordPath,
    deviceId: input.deviceId,
    speed: input.speed,
    connect: { url: input.url ?? config.sim.gatewayUrl, ca: creds.ca, cert: creds.certFor(input.deviceId), key: creds.keyFor(input.deviceId) },
    out: input.out,
    signal: input.signal,
    logger: input.logger,
  });
}
