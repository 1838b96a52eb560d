/**
 * Time-bounded patient assignments as pure functions over a device's assignment history
 * (oldest first, non-overlapping, each [fromMs, toMs)). Both registries plan their changes with
 * these (the SQLite one writes the planned history, the bus-backed one publishes it), and the
 * directory contract test runs both against the same scenarios.
 */
import { PulsebridgeError } from '../errors.ts';
import type { Assignment } from './types.ts';
import { PATIENT_ID_PATTERN } from '../../contracts/topics.ts';

const iso = (ms: number) => new Date(ms).toISOString();


export function checkPatientId(patientId: string): void {
  if (!PATIENT_ID_PATTERN.test(patientId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `patient id "${patientId}" must match ${PATIENT_ID_PATTERN}`);
}

export function checkTime(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new PulsebridgeError('PB_REGISTRY_INVALID', `${name} must be a time in ms since the epoch, got ${ms}`);
}

/** The patient at device time `timeMs`; a frame stamped before the first assignment belongs to the first patient. */
export function patientAtTime(history: readonly Assignment[], timeMs: number): string | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const a = history[i]!;
    if (a.fromMs <= timeMs && (a.toMs === undefined || a.toMs > timeMs)) return a.patientId;
  }
  const first = history[0];
  // Device clock behind the gateway: nobody else could have worn the device before.
  if (first && (first.toMs === undefined || first.toMs > timeMs)) return first.patientId;
  return undefined;
}

/** The patient assigned at wall-clock `nowMs`, strictly (no fallback). */
export function patientNow(history: readonly Assignment[], nowMs: number): string | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const a = history[i]!;
    if (a.fromMs <= nowMs && (a.toMs === undefined || a.toMs > nowMs)) return a.patientId;
  }
  return undefined;
}

/** `add`: (re)assign from `fromMs` unless the open assignment already has this patient (lenient, as registration always was). */
export function planAdd(history: readonly Assignment[], patientId: string, fromMs: number): Assignment[] {
  const open = [...history].reverse().find((a) => a.toMs === undefined);
  if (open?.patientId === patientId) return [...history];
  const closed = history.map((a) => (a.toMs === undefined ? { ...a, toMs: fromMs } : a)).filter((a) => a.fromMs !== fromMs);
  return nonEmpty([...closed, { patientId, fromMs, toMs: undefined }].sort((x, y) => x.fromMs - y.fromMs));
}

/** `assign`: the new history, or undefined when nothing changes. Throws when history would be rewritten. */
export function planAssign(deviceId: string, history: readonly Assignment[], patientId: string, fromMs: number): Assignment[] | undefined {
  const latest = history.at(-1);
  if (latest && fromMs < latest.fromMs) {
    throw new PulsebridgeError('PB_REGISTRY_INVALID',
      `device ${deviceId} is assigned to ${latest.patientId} from ${iso(latest.fromMs)}; a new assignment cannot start before that (${iso(fromMs)})`);
  }
  if (latest && latest.toMs !== undefined && fromMs < latest.toMs) {
    throw new PulsebridgeError('PB_REGISTRY_INVALID',
      `device ${deviceId} was assigned to ${latest.patientId} until ${iso(latest.toMs)}; a new assignment cannot start before that (${iso(fromMs)})`);
  }
  if (latest && latest.toMs === undefined && latest.patientId === patientId) return undefined;
  const kept = history.slice(0, -1);
  const last = latest && (latest.toMs === undefined ? { ...latest, toMs: fromMs } : latest);
  return nonEmpty([...kept, ...(last ? [last] : []), { patientId, fromMs, toMs: undefined }]);
}

/** `unassign`: the new history. Throws when there is no open assignment or `atMs` is before its start. */
export function planUnassign(deviceId: string, history: readonly Assignment[], atMs: number): Assignment[] {
  const latest = history.at(-1);
  if (!latest || latest.toMs !== undefined) throw new PulsebridgeError('PB_REGISTRY_INVALID', `device ${deviceId} has no open patient assignment`);
  if (atMs < latest.fromMs) {
    throw new PulsebridgeError('PB_REGISTRY_INVALID', `device ${deviceId} is assigned to ${latest.patientId} from ${iso(latest.fromMs)}; it cannot be unassigned before that (${iso(atMs)})`);
  }
  return nonEmpty([...history.slice(0, -1), { ...latest, toMs: atMs }]);
}

/** Drops assignments that cover no time (ended where they started). */
function nonEmpty(history: Assignment[]): Assignment[] {
  return history.filter((a) => a.toMs === undefined || a.toMs > a.fromMs);
}
