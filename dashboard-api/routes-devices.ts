/**
 * Device routes of the dashboard API (issue 3: status and liveness visible per device; commands
 * and registry changes by admins):
 *
 *   GET  /v1/devices                               admin: every device with its liveness
 *   GET  /v1/devices/{id}                          admin, or a clinician whose care team has the device's current patient
 *   POST /v1/devices/{id}/commands                 admin: queue a command (config, ping, fw_offer) → 201
 *   GET  /v1/devices/{id}/commands                 admin: the device's commands, newest first
 *   GET  /v1/devices/{id}/commands/{cmdId}         admin: one command and its outcome
 *   POST /v1/devices/{id}/assign  {patientId, from?}   admin: time-bounded reassignment
 *   POST /v1/devices/{id}/unassign {at?}           admin
 *   POST /v1/devices/{id}/enable | /disable        admin (disable = revocation: the gateway drops the device)
 *   GET  /v1/devices/{id}/audit                    admin: the registry's audit trail of the device
 *
 * Reads come from the registry (platform/registry/registry.ts `Registry`: the SQLite file embedded,
 * the registry's Kafka streams in production), which the gateways (other processes) write
 * liveness to; changes go to the same registry, where the gateways' poll notices them.
 */
import { z } from 'zod';
import type { DeviceCommandStore } from '../platform/registry/index.ts';
import { parseCommandRequest } from '../platform/registry/index.ts';
import type { DeviceLivenessStore } from '../platform/registry/index.ts';
import type { DeviceDirectory } from '../platform/registry/index.ts';
import { commandView, deviceView } from '../platform/registry/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { AuditAction } from './audit.ts';
import { canAccessPatient } from './auth.ts';
import { badRequest, idSegment, parseTimeParam, pathSegment, sendJson } from './http-util.ts';
import { jsonBody, type RouteMatch, type RouteModule, type RouteRequest } from './route-module.ts';

export interface DeviceRoutesOptions {
  directory: Pick<DeviceDirectory, 'get' | 'list' | 'assignments' | 'assign' | 'unassign' | 'setEnabled' | 'audit'>;
  liveness: Pick<DeviceLivenessStore, 'get' | 'list'>;
  commands: Pick<DeviceCommandStore, 'create' | 'get' | 'list'>;
}

const assignBody = z.object({ patientId: z.string(), from: z.union([z.string(), z.number()]).optional() }).strict();
const unassignBody = z.object({ at: z.union([z.string(), z.number()]).optional() }).strict();

/** Creates the route module; register it with `createDashboardApi({ routeModules: [deviceRoutes(…)] })`. */
export function deviceRoutes(o: DeviceRoutesOptions): RouteModule {
  const actorOf = (r: RouteRequest) => `api:${r.principal.sub}`;

  /** Admins only; a refusal is audited. */
  async function requireAdmin(r: RouteRequest, action: AuditAction, deviceId?: string): Promise<void> {
    if (r.principal.role === 'admin') return;
    await r.audit({ action, ...(deviceId ? { deviceId } : {}), outcome: 'denied', status: 403 });
    throw new PulsebridgeError('PB_AUTH_FORBIDDEN', 'only admins may do this');
  }

  function requireDevice(deviceId: string) {
    const device = o.directory.get(deviceId);
    if (!device) throw new PulsebridgeError('PB_NOT_FOUND', `device ${deviceId} is not known`);
    return device;
  }

  /** Registry and command errors as API errors: unknown → 404, invalid → 400. */
  async function translated<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PulsebridgeError && err.code === 'PB_REGISTRY_UNKNOWN_DEVICE') throw new PulsebridgeError('PB_NOT_FOUND', err.message);
      if (err instanceof PulsebridgeError && (err.code === 'PB_REGISTRY_INVALID' || err.code === 'PB_COMMAND_INVALID')) throw badRequest(err.message);
      throw err;
    }
  }

  async function listDevices(r: RouteRequest): Promise<void> {
    await requireAdmin(r, 'devices.list');
    const liveness = new Map(o.liveness.list().map((l) => [l.deviceId, l]));
    const devices = o.directory.list().map((d) => deviceView(d, liveness.get(d.deviceId), o.directory.assignments(d.deviceId)));
    await r.audit({ action: 'devices.list', patientIds: [...new Set(devices.flatMap((d) => d.assignments?.map((a) => a.patientId) ?? []))].sort(), outcome: 'allowed', status: 200 });
    sendJson(r.res, 200, { devices });
  }

  async function getDevice(r: RouteRequest, deviceId: string): Promise<void> {
    const device = o.directory.get(deviceId);
    if (!device) {
      await r.audit({ action: 'device.read', deviceId, outcome: 'not_found', status: 404 });
      throw new PulsebridgeError('PB_NOT_FOUND', `device ${deviceId} is not known`);
    }
    const admin = r.principal.role === 'admin';
    if (!admin && (device.patientId === undefined || !canAccessPatient(r.principal, device.patientId))) {
      await r.audit({ action: 'device.read', deviceId, outcome: 'denied', status: 403 });
      throw new PulsebridgeError('PB_AUTH_FORBIDDEN', `device ${deviceId} is not worn by a patient on your care team`);
    }
    // The assignment history names earlier and later patients: only admins see it.
    const view = deviceView(device, o.liveness.get(deviceId), admin ? o.directory.assignments(deviceId) : undefined);
    await r.audit({ action: 'device.read', deviceId, ...(device.patientId ? { patientId: device.patientId } : {}), outcome: 'allowed', status: 200 });
    sendJson(r.res, 200, { device: view });
  }

  async function createCommand(r: RouteRequest, deviceId: string): Promise<void> {
    await requireAdmin(r, 'device.command', deviceId);
    const body = await jsonBody(r);
    const command = await translated(() => {
      requireDevice(deviceId);
      return o.commands.create(deviceId, parseCommandRequest(body), actorOf(r));
    });
    await r.audit({ action: 'device.command', deviceId, outcome: 'allowed', status: 201, detail: `${command.type} ${command.id}` });
    sendJson(r.res, 201, { command: commandView(command) }, { location: `/v1/devices/${encodeURIComponent(deviceId)}/commands/${command.id}` });
  }

  async function listCommands(r: RouteRequest, deviceId: string): Promise<void> {
    await requireAdmin(r, 'device.command', deviceId);
    requireDevice(deviceId);
    sendJson(r.res, 200, { commands: o.commands.list(deviceId).map(commandView) });
  }

  async function getCommand(r: RouteRequest, deviceId: string, commandId: string): Promise<void> {
    await requireAdmin(r, 'device.command', deviceId);
    const command = o.commands.get(commandId);
    if (!command || command.deviceId !== deviceId) throw new PulsebridgeError('PB_NOT_FOUND', `device ${deviceId} has no command ${commandId}`);
    sendJson(r.res, 200, { command: commandView(command) });
  }

  async function change(r: RouteRequest, deviceId: string, what: 'assign' | 'unassign' | 'enable' | 'disable'): Promise<void> {
    await requireAdmin(r, 'device.change', deviceId);
    const body = await jsonBody(r);
    const device = await translated(() => {
      requireDevice(deviceId);
      if (what === 'assign') {
        const b = parse(assignBody, body);
        const fromMs = timeOf('from', b.from) ?? Date.now();
        return o.directory.assign(deviceId, b.patientId, fromMs, actorOf(r));
      }
      if (what === 'unassign') return o.directory.unassign(deviceId, timeOf('at', parse(unassignBody, body).at) ?? Date.now(), actorOf(r));
      return o.directory.setEnabled(deviceId, what === 'enable', actorOf(r));
    });
    await r.audit({ action: 'device.change', deviceId, ...(device.patientId ? { patientId: device.patientId } : {}), outcome: 'allowed', status: 200, detail: what });
    sendJson(r.res, 200, { device: deviceView(device, o.liveness.get(deviceId), o.directory.assignments(deviceId)) });
  }

  async function auditTrail(r: RouteRequest, deviceId: string): Promise<void> {
    await requireAdmin(r, 'device.audit', deviceId);
    requireDevice(deviceId);
    const audit = (await o.directory.audit(deviceId)).map(({ atMs, ...e }) => ({ at: new Date(atMs).toISOString(), ...e }));
    await r.audit({ action: 'device.audit', deviceId, outcome: 'allowed', status: 200 });
    sendJson(r.res, 200, { audit });
  }

  return {
    match(p: string, method: string): RouteMatch | undefined {
      const seg = p.split('/'); // ['', 'v1', 'devices', id, …]
      if (seg[1] !== 'v1' || seg[2] !== 'devices') return undefined;
      if (seg.length === 3) return { route: '/v1/devices', method: 'GET', run: listDevices };
      const rawId = seg[3];
      if (!rawId) return undefined;
      const id = () => idSegment('device', rawId);
      if (seg.length === 4) return { route: '/v1/devices/{id}', method: 'GET', run: (r) => getDevice(r, id()) };
      if (seg.length === 5 && seg[4] === 'commands') {
        return method === 'GET'
          ? { route: '/v1/devices/{id}/commands', method: 'GET', run: (r) => listCommands(r, id()) }
          : { route: '/v1/devices/{id}/commands', method: 'POST', run: (r) => createCommand(r, id()) };
      }
      if (seg.length === 6 && seg[4] === 'commands' && seg[5]) {
        const cmdId = seg[5];
        return { route: '/v1/devices/{id}/commands/{cmdId}', method: 'GET', run: (r) => getCommand(r, id(), pathSegment(cmdId)) };
      }
      if (seg.length === 5 && (seg[4] === 'assign' || seg[4] === 'unassign' || seg[4] === 'enable' || seg[4] === 'disable')) {
        const what = seg[4];
        return { route: `/v1/devices/{id}/${what}`, method: 'POST', run: (r) => change(r, id(), what) };
      }
      if (seg.length === 5 && seg[4] === 'audit') return { route: '/v1/devices/{id}/audit', method: 'GET', run: (r) => auditTrail(r, id()) };
      return undefined;
    },
  };
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
  return parsed.data;
}

function timeOf(name: string, value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  return parseTimeParam(name, String(value));
}
