/**
 * Device commands (device-protocol.md "Commands"): `config`, `ping` and `fw_offer`, sent to
 * `pb/v1/dev/{id}/cmd` and answered on `…/cmd/ack` with the same id. Commands are persistent:
 * one to an offline device waits, up to its time-to-live, until the device is back; a delivered
 * command whose answer does not arrive within its timeout is `timed_out`. Every step is audited
 * in the registry's audit trail (who, when, what, outcome).
 *
 * Lifecycle: pending → delivered → ok | error | timed_out; pending → expired (TTL passed first).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { FRAME_LIMITS } from '../../contracts/telemetry.ts';
import { PulsebridgeError } from '../errors.ts';
import type { MaybePromise } from './types.ts';

export const COMMAND_TYPES = ['config', 'ping', 'fw_offer'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export const COMMAND_STATES = ['pending', 'delivered', 'ok', 'error', 'timed_out', 'expired'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];
export const FINAL_COMMAND_STATES: ReadonlySet<CommandState> = new Set(['ok', 'error', 'timed_out', 'expired']);

/** Defaults and bounds of a command's time-to-live (waiting for delivery) and timeout (waiting for the answer). */
export const COMMAND_LIMITS = {
  defaultTtlMs: 60 * 60 * 1000,
  minTtlMs: 1000,
  maxTtlMs: 30 * 24 * 60 * 60 * 1000,
  defaultTimeoutMs: 60 * 1000,
  minTimeoutMs: 100,
  maxTimeoutMs: 60 * 60 * 1000,
} as const;

const ttlMs = z.number().int().min(COMMAND_LIMITS.minTtlMs).max(COMMAND_LIMITS.maxTtlMs).optional();
const timeoutMs = z.number().int().min(COMMAND_LIMITS.minTimeoutMs).max(COMMAND_LIMITS.maxTimeoutMs).optional();

/** `config` settings; all three are sent, as in the contract's example, so firmware never has to guess. */
export const deviceConfigSchema = z.object({
  frameMs: z.number().int().min(FRAME_LIMITS.minDurMs).max(FRAME_LIMITS.maxDurMs),
  ecg: z.boolean(),
  fs: z.number().int().min(FRAME_LIMITS.minFsHz).max(FRAME_LIMITS.maxFsHz),
}).strict();

/**
 * A command request (API body, CLI): the command as the device will see it, minus its id, plus
 * optional `ttlMs` and `timeoutMs`. Unknown fields are refused: a typo must not silently vanish
 * on its way to firmware.
 */
export const commandRequestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ping'), ttlMs, timeoutMs }).strict(),
  z.object({ type: z.literal('config'), config: deviceConfigSchema, ttlMs, timeoutMs }).strict(),
  z.object({
    type: z.literal('fw_offer'),
    version: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, 'version must be 1–64 characters of letters, digits, . + _ -'),
    url: z.url({ protocol: /^https$/, error: 'url must be an https:// URL' }).max(2048),
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'sha256 must be 64 hexadecimal digits').transform((s) => s.toLowerCase()),
    size: z.number().int().min(1).max(0xffffffff),
    ttlMs,
    timeoutMs,
  }).strict(),
]);

export type CommandRequest = z.infer<typeof commandRequestSchema>;

/** Parses a command request; throws PB_COMMAND_INVALID naming every problem. */
export function parseCommandRequest(input: unknown): CommandRequest {
  const parsed = commandRequestSchema.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw new PulsebridgeError('PB_COMMAND_INVALID', `invalid command: ${detail}`);
  }
  return parsed.data;
}

/** The command result a device publishes on `…/cmd/ack`. Unknown fields are ignored. */
export const commandResultSchema = z.object({
  id: z.string().min(1).max(64),
  ok: z.boolean(),
  error: z.string().max(1024).optional(),
});
export type CommandResult = z.infer<typeof commandResultSchema>;

export interface DeviceCommand {
  id: string;
  deviceId: string;
  type: CommandType;
  /** Exactly what is published to the device: `{"id":…,"type":…,…}`. */
  payload: Record<string, unknown>;
  state: CommandState;
  createdAtMs: number;
  createdBy: string;
  /** After this, a command not yet delivered expires. */
  expiresAtMs: number;
  /** How long the device has to answer once the command is delivered. */
  timeoutMs: number;
  deliveredAtMs: number | undefined;
  /** Delivery + timeout: no answer by then → timed_out. */
  deadlineAtMs: number | undefined;
  deliveryCount: number;
  /** The device's answer; also kept when it came after the command timed out. */
  result: { ok: boolean; error?: string; atMs: number } | undefined;
  finishedAtMs: number | undefined;
}

export type ResultOutcome = 'recorded' | 'late' | 'duplicate' | 'unknown';

/**
 * The command port (embedded: SQLite in the registry file; production: platform/registry/commands-bus.ts).
 * Changes may be asynchronous (a bus publish that resolves once visible); reads are synchronous.
 */
export interface DeviceCommandStore {
  /** Queues a command for an enabled device. Throws PB_REGISTRY_UNKNOWN_DEVICE / PB_COMMAND_INVALID. */
  create(deviceId: string, request: CommandRequest, actor: string): MaybePromise<DeviceCommand>;
  get(commandId: string): DeviceCommand | undefined;
  /**
   * The command as of now (past its TTL or answer deadline it reads as `expired` / `timed_out`),
   * recording nothing: never sweeps, never writes. For callers that must not change the store or
   * wait on a write lock, e.g. the gateway inside aedes' CONNECT handling (a SQLite `get()` runs
   * the read-time sweep: a write transaction that also finishes other devices' due commands).
   */
  peek(commandId: string): DeviceCommand | undefined;
  /** The device's commands, newest first. */
  list(deviceId: string, limit?: number): DeviceCommand[];
  /** Pending, unexpired commands, oldest first (for these devices, or all). */
  pending(deviceIds?: readonly string[]): DeviceCommand[];
  /**
   * What to send to a device that just subscribed: pending ones and delivered ones still waiting
   * for an answer. A read only, like `peek` (no sweep): what is due is left out, not recorded.
   */
  deliverable(deviceId: string): DeviceCommand[];
  /**
   * Claims a command for delivery (state → delivered, deadline set). Undefined when it is no
   * longer deliverable, or when `seenDeliveryCount` is given and somebody delivered it since the
   * caller read it (another gateway, or another trigger of this one): one delivery per claim.
   */
  markDelivered(commandId: string, actor: string, seenDeliveryCount?: number): MaybePromise<DeviceCommand | undefined>;
  /** Stores the device's answer. */
  recordResult(deviceId: string, result: CommandResult, actor: string): MaybePromise<{ outcome: ResultOutcome; command?: DeviceCommand }>;
  /** Expires undelivered commands past their TTL and times out unanswered ones past their deadline. */
  sweep(): MaybePromise<DeviceCommand[]>;
  /** Changes whenever a command is created (in any process). */
  changeVersion(): number;
}

// ---- the rules, as pure functions shared by the SQLite and the bus-backed stores ----------------

/** A new command for a device, as queued. */
export function newCommand(deviceId: string, request: CommandRequest, actor: string, nowMs: number): DeviceCommand {
  const { ttlMs: ttl, timeoutMs: timeout, ...body } = request;
  const id = `c-${randomBytes(8).toString('hex')}`;
  return {
    id, deviceId, type: request.type, payload: { id, ...body }, state: 'pending', createdAtMs: nowMs, createdBy: actor,
    expiresAtMs: nowMs + (ttl ?? COMMAND_LIMITS.defaultTtlMs), timeoutMs: timeout ?? COMMAND_LIMITS.defaultTimeoutMs,
    deliveredAtMs: undefined, deadlineAtMs: undefined, deliveryCount: 0, result: undefined, finishedAtMs: undefined,
  };
}

/** Refuses commands to unknown or disabled devices. */
export function checkCommandTarget(deviceId: string, device: { enabled: boolean } | undefined): void {
  if (!device) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
  if (!device.enabled) throw new PulsebridgeError('PB_COMMAND_INVALID', `device ${deviceId} is disabled; enable it before sending commands`);
}

/** Pending and unexpired, or delivered and still waiting for the answer. */
export function isDeliverable(c: DeviceCommand, nowMs: number): boolean {
  return (c.state === 'pending' && c.expiresAtMs > nowMs) || (c.state === 'delivered' && (c.deadlineAtMs ?? 0) > nowMs);
}

/**
 * The command once (re-)delivered, or undefined when it is no longer deliverable or was delivered
 * since the claimant read it (`seenDeliveryCount`). A re-delivery restarts the answer timeout.
 */
export function planDelivery(c: DeviceCommand, nowMs: number, seenDeliveryCount?: number): DeviceCommand | undefined {
  if (!isDeliverable(c, nowMs)) return undefined;
  if (seenDeliveryCount !== undefined && c.deliveryCount !== seenDeliveryCount) return undefined;
  return { ...c, state: 'delivered', deliveredAtMs: nowMs, deadlineAtMs: nowMs + c.timeoutMs, deliveryCount: c.deliveryCount + 1 };
}

/**
 * What the device's answer does to its command; `after` is undefined when nothing changes. An
 * answer after the deadline is late even when no sweep has recorded the timeout yet.
 */
export function planResult(c: DeviceCommand | undefined, deviceId: string, result: CommandResult, nowMs: number): { outcome: ResultOutcome; after?: DeviceCommand } {
  // A device can only answer its own commands.
  if (!c || c.deviceId !== deviceId) return { outcome: 'unknown' };
  const current = dueFinal(c, nowMs) ?? c;
  if (current.state === 'ok' || current.state === 'error') return { outcome: 'duplicate' };
  const late = current.state === 'timed_out' || current.state === 'expired';
  if (late && current.result) return { outcome: 'duplicate' };
  const answer = { ok: result.ok, ...(result.ok ? {} : { error: result.error ?? '' }), atMs: nowMs };
  // A late answer is kept, but does not change the outcome.
  if (late) return { outcome: 'late', after: { ...current, result: answer } };
  return { outcome: 'recorded', after: { ...current, state: result.ok ? 'ok' : 'error', result: answer, finishedAtMs: nowMs } };
}

/** The audit action of a stored answer. */
export const resultAction = (after: DeviceCommand): string =>
  (after.state === 'ok' || after.state === 'error' ? `command.${after.state}` : 'command.late_result');

/**
 * Expired (TTL passed undelivered) or timed out (delivered, no answer by the deadline); undefined
 * when not due. Finished at the moment it became final, not when somebody noticed.
 */
export function dueFinal(c: DeviceCommand, nowMs: number): DeviceCommand | undefined {
  if (c.state === 'pending' && c.expiresAtMs <= nowMs) return { ...c, state: 'expired', finishedAtMs: c.expiresAtMs };
  if (c.state === 'delivered' && (c.deadlineAtMs ?? 0) <= nowMs) return { ...c, state: 'timed_out', finishedAtMs: c.deadlineAtMs ?? nowMs };
  return undefined;
}
