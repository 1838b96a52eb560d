/**
 * `pulsebridge device …`: the device registry from the command line. Works while the demo or the
 * gateway runs: embedded, through the same registry file; on Kafka (PULSEBRIDGE_BUS=kafka),
 * through the registry's streams, from any host. The gateway notices changes within its poll
 * period (revocation, new commands).
 *
 *   add <id> --patient P [--json]            register (and, in embedded mode, issue its certificate)
 *   assign <id> --patient P [--from ISO]     time-bounded reassignment (default from now)
 *   unassign <id> [--at ISO]                 end the assignment (default now)
 *   disable <id> | enable <id>               revoke (live connection dropped) / allow again
 *   rekey <id> [--json]                      development PKI: new key and certificate, the old one revoked in the dev CRL
 *   list [--json]                            every device with its liveness
 *   show <id>                                one device as JSON (liveness, assignments)
 *   audit <id>                               its audit trail as JSON (add, assign, …, rekey with the old and new serial, commands)
 *   command <id> --type ping|config|fw_offer [--json '{…}'] [--ttl 1h] [--timeout 60s] [--wait]
 */
import { devPkiPaths, issueDeviceCertificate, rekeyDeviceCertificate } from '../platform/security/index.ts';
import { COMMAND_TYPES, FINAL_COMMAND_STATES, parseCommandRequest, type DeviceCommand } from '../platform/registry/index.ts';
import { withRegistry } from '../platform/adapters.ts';
import type { Registry } from '../platform/registry/index.ts';
import { createLogger, type Logger } from '../platform/log.ts';
import { commandView, deviceView } from '../platform/registry/index.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { parseDurationMs, UsageError } from './args.ts';

export interface DeviceCommandInput {
  config: Readonly<PulsebridgeConfig>;
  action: string | undefined;
  deviceId: string | undefined;
  patientId: string | undefined;
  /** `--json` as a switch: print JSON. */
  json: boolean;
  actor: string;
  out: (line: string) => void;
  /** stderr: the one-sentence outcome of a failed `command --wait`, and warnings (`add` of a registered device). */
  err?: (line: string) => void;
  /** `assign --from`, `unassign --at`: ISO 8601 or ms since the epoch. */
  from?: string | undefined;
  at?: string | undefined;
  /** `command`: --type, --json body, --ttl, --timeout, --wait. */
  commandType?: string | undefined;
  commandJson?: string | undefined;
  ttl?: string | undefined;
  timeout?: string | undefined;
  wait?: boolean | undefined;
  /** Stops `--wait` (SIGINT). */
  signal?: AbortSignal | undefined;
  /** Warnings of the bus connection (Kafka mode). Default a warn-level logger on stderr. */
  logger?: Logger;
  /** How often `--wait` re-reads the command, ms. Default 250. */
  waitPollMs?: number;
}

const ACTIONS = 'add, assign, unassign, enable, disable, rekey, list, show, audit, command';

/** Runs one device action; resolves with the exit status. */
export async function runDeviceCommand(input: DeviceCommandInput): Promise<number> {
  const logger = input.logger ?? createLogger('warn', { app: 'pulsebridge' });
  return withRegistry(input.config, logger, (registry) => runDeviceAction(registry, input));
}

async function runDeviceAction(registry: Registry, input: DeviceCommandInput): Promise<number> {
  const { config, action, out } = input;
  const needId = () => {
    if (!input.deviceId) throw new UsageError(`device ${action} needs a device id: pulsebridge device ${action} <id>`);
    return input.deviceId;
  };
  switch (action) {
    case 'add': {
      const deviceId = needId();
      if (!input.patientId) throw new UsageError('device add needs --patient <pid>');
      // Issue the certificate first: a registered device without credentials would be useless.
      const creds = issueDeviceCertificate(config.dataDir, deviceId);
      const before = registry.get(deviceId)?.patientId;
      await registry.add(deviceId, input.patientId, input.actor);
      // Adding a registered device moves it to the new patient: say so, a mistyped id would move someone's patch.
      if (before && before !== input.patientId) input.err?.(`Device ${deviceId} was already registered and assigned to patient ${before}; it is now assigned to patient ${input.patientId} (device assign says this explicitly; device audit shows the history).`);
      const result = { deviceId, patientId: input.patientId, cert: creds.cert, key: creds.key, ca: creds.ca };
      out(input.json ? JSON.stringify(result) : `device ${deviceId} assigned to patient ${input.patientId}\n  cert ${creds.cert}\n  key  ${creds.key}\n  ca   ${creds.ca}`);
      return 0;
    }
    case 'assign': {
      const deviceId = needId();
      if (!input.patientId) throw new UsageError('device assign needs --patient <pid>');
      const fromMs = parseTime('--from', input.from) ?? Date.now();
      const d = await registry.assign(deviceId, input.patientId, fromMs, input.actor);
      const current = registry.assignments(deviceId).at(-1)!;
      out(input.json ? JSON.stringify(deviceView(d, registry.liveness.get(deviceId), registry.assignments(deviceId)))
        : `device ${deviceId} assigned to patient ${current.patientId} from ${new Date(current.fromMs).toISOString()}`);
      return 0;
    }
    case 'unassign': {
      const deviceId = needId();
      const atMs = parseTime('--at', input.at) ?? Date.now();
      const d = await registry.unassign(deviceId, atMs, input.actor);
      out(input.json ? JSON.stringify(deviceView(d, registry.liveness.get(deviceId), registry.assignments(deviceId)))
        : `device ${deviceId} unassigned at ${new Date(atMs).toISOString()}`);
      return 0;
    }
    case 'list': {
      const liveness = new Map(registry.liveness.list().map((l) => [l.deviceId, l]));
      const views = registry.list().map((d) => deviceView(d, liveness.get(d.deviceId)));
      if (input.json) out(JSON.stringify(views));
      else for (const v of views) out([v.deviceId, v.enabled ? 'enabled' : 'disabled', v.patientId ?? '-', v.online ? 'online' : 'offline', v.lastSeenAt ?? '-'].join('\t'));
      return 0;
    }
    case 'show': {
      const deviceId = needId();
      const d = registry.get(deviceId);
      if (!d) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
      out(JSON.stringify(deviceView(d, registry.liveness.get(deviceId), registry.assignments(deviceId)), null, 2));
      return 0;
    }
    case 'audit': {
      const deviceId = needId();
      if (!registry.get(deviceId)) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
      out(JSON.stringify((await registry.audit(deviceId)).map(({ atMs, ...e }) => ({ at: new Date(atMs).toISOString(), ...e })), null, 2));
      return 0;
    }
    case 'enable':
    case 'disable': {
      const deviceId = needId();
      const d = await registry.setEnabled(deviceId, action === 'enable', input.actor);
      out(input.json ? JSON.stringify(d) : `device ${deviceId} ${action}d`);
      return 0;
    }
    case 'rekey': {
      const deviceId = needId();
      if (!registry.get(deviceId)) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
      // Only the development CA is ours to sign with; a hospital CA re-keys and revokes in its own PKI.
      if (config.gateway.deviceCaPath !== devPkiPaths(config.dataDir).deviceCaCert) {
        throw new PulsebridgeError('PB_CONFIG_INVALID', `device rekey issues certificates from the development CA in the data folder, but the gateway trusts ${config.gateway.deviceCaPath} (PULSEBRIDGE_DEVICE_CA): issue the device a new certificate from that CA and revoke the old one in its CRL (PULSEBRIDGE_DEVICE_CRL)`);
      }
      const r = rekeyDeviceCertificate(config.dataDir, deviceId);
      // Into the device's audit trail once the PKI did it (a failed rekey changed nothing to audit).
      try {
        await registry.recordRekey(deviceId, { revokedSerial: r.revokedSerial, serial: r.serial }, input.actor);
      } catch (err) {
        throw new PulsebridgeError(err instanceof PulsebridgeError ? err.code : 'PB_INTERNAL', `device ${deviceId} has a new key and certificate (serial ${r.serial}; ${r.revokedSerial} is revoked in ${r.crl}), but the audit trail could not record it: ${(err as Error).message}`, { cause: err });
      }
      const result = { deviceId, cert: r.cert, key: r.key, ca: r.ca, serial: r.serial, revokedSerial: r.revokedSerial, crl: r.crl };
      out(input.json ? JSON.stringify(result)
        : `device ${deviceId} has a new key and certificate (serial ${r.serial}); certificate ${r.revokedSerial} is revoked in ${r.crl}\n  cert ${r.cert}\n  key  ${r.key}\n  ca   ${r.ca}`);
      return 0;
    }
    case 'command':
      return await sendCommand(registry, needId(), input);
    default:
      throw new UsageError(`unknown device action "${action ?? ''}" (${ACTIONS})`);
  }
}

async function sendCommand(registry: Registry, deviceId: string, input: DeviceCommandInput): Promise<number> {
  const type = input.commandType;
  if (!type || !(COMMAND_TYPES as readonly string[]).includes(type)) throw new UsageError(`device command needs --type ${COMMAND_TYPES.join('|')}`);
  let body: Record<string, unknown> = {};
  if (input.commandJson !== undefined) {
    try {
      const parsed: unknown = JSON.parse(input.commandJson);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      throw new UsageError('--json must be a JSON object, e.g. --json \'{"frameMs":1000,"ecg":true,"fs":250}\'');
    }
  }
  // For config, --json may be the settings themselves or {"config":{…}}.
  if (type === 'config' && !('config' in body)) body = { config: body };
  const request = parseCommandRequest({
    ...body,
    type,
    ...(input.ttl !== undefined ? { ttlMs: parseDurationMs(input.ttl) } : {}),
    ...(input.timeout !== undefined ? { timeoutMs: parseDurationMs(input.timeout) } : {}),
  });
  let command: DeviceCommand = await registry.commands.create(deviceId, request, input.actor);
  if (!input.wait) {
    input.out(JSON.stringify(commandView(command)));
    return 0;
  }
  // --wait: until the device answered, or the command timed out or expired.
  const pollMs = input.waitPollMs ?? 250;
  while (!FINAL_COMMAND_STATES.has(command.state)) {
    if (input.signal?.aborted) {
      input.out(JSON.stringify(commandView(command)));
      input.err?.(`Stopped waiting; command ${command.id} is still ${command.state}.`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, pollMs));
    command = registry.commands.get(command.id) ?? command;
  }
  input.out(JSON.stringify(commandView(command)));
  if (command.state === 'ok') return 0;
  const why = command.state === 'error' ? `the device answered with an error: ${command.result?.error || 'no message'}` : `it ${command.state === 'expired' ? 'expired before the device was online' : 'timed out waiting for the device\'s answer'}`;
  input.err?.(`Command ${command.id} failed: ${why}.`);
  return 1;
}

/** An ISO 8601 time or ms since the epoch; undefined when absent. */
function parseTime(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (/^\d{1,16}$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be an ISO 8601 time (e.g. 2026-03-01T10:00:00Z) or ms since the epoch`);
  return ms;
}
