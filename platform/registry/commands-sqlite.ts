/** Device commands in the embedded registry's SQLite file (the port and rules: ./commands.ts). */
import { PulsebridgeError } from '../errors.ts';
import {
  checkCommandTarget, dueFinal, newCommand, planDelivery, planResult, resultAction,
  type CommandRequest, type CommandResult, type CommandState, type CommandType, type DeviceCommand,
  type DeviceCommandStore, type ResultOutcome,
} from './commands.ts';
import type { RegistryDb } from './db.ts';

interface Row {
  cmd_id: string; device_id: string; type: string; payload: string; state: string;
  created_at: number; created_by: string; expires_at: number; timeout_ms: number;
  delivered_at: number | null; deadline_at: number | null; delivery_count: number;
  result_at: number | null; result_ok: number | null; result_error: string | null; finished_at: number | null;
}

const COLUMNS = 'cmd_id, device_id, type, payload, state, created_at, created_by, expires_at, timeout_ms, delivered_at, deadline_at, delivery_count, result_at, result_ok, result_error, finished_at';

function toCommand(r: Row): DeviceCommand {
  return {
    id: r.cmd_id,
    deviceId: r.device_id,
    type: r.type as CommandType,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    state: r.state as CommandState,
    createdAtMs: r.created_at,
    createdBy: r.created_by,
    expiresAtMs: r.expires_at,
    timeoutMs: r.timeout_ms,
    deliveredAtMs: r.delivered_at ?? undefined,
    deadlineAtMs: r.deadline_at ?? undefined,
    deliveryCount: r.delivery_count,
    result: r.result_at === null ? undefined : { ok: r.result_ok === 1, ...(r.result_error !== null ? { error: r.result_error } : {}), atMs: r.result_at },
    finishedAtMs: r.finished_at ?? undefined,
  };
}

/** Commands in the registry database; `devices` tells which devices exist and are enabled. */
export class SqliteDeviceCommandStore implements DeviceCommandStore {
  readonly #db: RegistryDb;
  readonly #devices: { get(deviceId: string): { enabled: boolean } | undefined };

  constructor(db: RegistryDb, devices: { get(deviceId: string): { enabled: boolean } | undefined }) {
    this.#db = db;
    this.#devices = devices;
  }

  create(deviceId: string, request: CommandRequest, actor: string): DeviceCommand {
    checkCommandTarget(deviceId, this.#devices.get(deviceId));
    const c = newCommand(deviceId, request, actor, this.#db.now());
    this.#db.transaction(() => {
      this.#db.stmt(`INSERT INTO command (cmd_id, device_id, type, payload, state, created_at, created_by, expires_at, timeout_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)`)
        .run(c.id, deviceId, c.type, JSON.stringify(c.payload), c.createdAtMs, actor, c.expiresAtMs, c.timeoutMs);
      this.#db.bump('command_version');
      this.#db.audit(actor, 'command.create', deviceId, null, this.#row(c.id));
    });
    return this.#row(c.id)!;
  }

  get(commandId: string): DeviceCommand | undefined {
    // Read-time sweep: a reader sees `expired`/`timed_out` on time even when no gateway runs.
    this.sweep();
    return this.#row(commandId);
  }

  peek(commandId: string): DeviceCommand | undefined {
    // No sweep: a SELECT only (WAL: no writer's lock to wait for); what is due is derived, as the bus store reads it.
    const c = this.#row(commandId);
    return c && (dueFinal(c, this.#db.now()) ?? c);
  }

  list(deviceId: string, limit = 50): DeviceCommand[] {
    this.sweep();
    return (this.#db.stmt(`SELECT ${COLUMNS} FROM command WHERE device_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(deviceId, limit) as unknown as Row[]).map(toCommand);
  }

  pending(deviceIds?: readonly string[]): DeviceCommand[] {
    const now = this.#db.now();
    const rows = this.#db.stmt(`SELECT ${COLUMNS} FROM command WHERE state = 'pending' AND expires_at > ? ORDER BY created_at, rowid`).all(now) as unknown as Row[];
    const wanted = deviceIds && new Set(deviceIds);
    return rows.filter((r) => !wanted || wanted.has(r.device_id)).map(toCommand);
  }

  deliverable(deviceId: string): DeviceCommand[] {
    const now = this.#db.now();
    const rows = this.#db.stmt(`SELECT ${COLUMNS} FROM command WHERE device_id = ?
        AND ((state = 'pending' AND expires_at > ?) OR (state = 'delivered' AND deadline_at > ?)) ORDER BY created_at, rowid`)
      .all(deviceId, now, now) as unknown as Row[];
    return rows.map(toCommand);
  }

  markDelivered(commandId: string, actor: string, seenDeliveryCount?: number): DeviceCommand | undefined {
    return this.#db.transaction(() => {
      const before = this.#row(commandId);
      const after = before && planDelivery(before, this.#db.now(), seenDeliveryCount);
      if (!before || !after) return undefined;
      return this.#save(actor, 'command.deliver', before, after);
    });
  }

  recordResult(deviceId: string, result: CommandResult, actor: string): { outcome: ResultOutcome; command?: DeviceCommand } {
    return this.#db.transaction(() => {
      const before = this.#row(result.id);
      const { outcome, after } = planResult(before, deviceId, result, this.#db.now());
      if (!after) return { outcome, ...(outcome === 'duplicate' ? { command: before! } : {}) };
      return { outcome, command: this.#save(actor, resultAction(after), before!, after) };
    });
  }

  sweep(): DeviceCommand[] {
    const now = this.#db.now();
    // Cheap check first: readers call this on every read.
    const due = this.#db.stmt(`SELECT cmd_id FROM command WHERE (state = 'pending' AND expires_at <= ?) OR (state = 'delivered' AND deadline_at <= ?)`).all(now, now) as { cmd_id: string }[];
    if (due.length === 0) return [];
    return this.#db.transaction(() => {
      const changed: DeviceCommand[] = [];
      for (const { cmd_id: id } of due) {
        const before = this.#row(id);
        const after = before && dueFinal(before, now);
        if (!before || !after) continue; // another process got there first
        changed.push(this.#save('system', `command.${after.state}`, before, after));
      }
      return changed;
    });
  }

  /** Writes the changed fields of a command and audits the change; call inside a transaction. */
  #save(actor: string, action: string, before: DeviceCommand, after: DeviceCommand): DeviceCommand {
    this.#db.stmt(`UPDATE command SET state = ?, delivered_at = ?, deadline_at = ?, delivery_count = ?, result_at = ?, result_ok = ?, result_error = ?, finished_at = ? WHERE cmd_id = ?`)
      .run(after.state, after.deliveredAtMs ?? null, after.deadlineAtMs ?? null, after.deliveryCount,
        after.result?.atMs ?? null, after.result ? (after.result.ok ? 1 : 0) : null, after.result ? (after.result.error ?? null) : null,
        after.finishedAtMs ?? null, after.id);
    const saved = this.#row(after.id)!;
    this.#db.audit(actor, action, before.deviceId, before, saved);
    return saved;
  }

  changeVersion(): number {
    return this.#db.version('command_version');
  }

  #row(commandId: string): DeviceCommand | undefined {
    const r = this.#db.stmt(`SELECT ${COLUMNS} FROM command WHERE cmd_id = ?`).get(commandId) as Row | undefined;
    return r && toCommand(r);
  }
}
