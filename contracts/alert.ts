/**
 * The alert model of product.md "Alert model", kept close to the draft R6 DeviceAlert
 * (fhir-and-alarms.md §2.4: physiological|technical, priority, derivedFrom) so a later FHIR
 * mapping is mechanical.
 */
import { createHash } from 'node:crypto';

export const ALERT_KINDS = [
  'asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy', 'vt', 'afib',
  'signal_loss', 'lead_off', 'low_battery',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export type AlertCategory = 'physiological' | 'technical';
export type AlertPriority = 'high' | 'medium' | 'low';
export type AlertState = 'active' | 'acknowledged' | 'resolved';

export const TECHNICAL_KINDS: ReadonlySet<AlertKind> = new Set(['signal_loss', 'lead_off', 'low_battery']);

/**
 * Default priorities: fhir-and-alarms.md §7 "Suggested mapping" (IEC 60601-1-8 style; the
 * standard leaves the choice to the manufacturer's risk analysis).
 */
export const DEFAULT_PRIORITY: Record<AlertKind, AlertPriority> = {
  asystole: 'high',
  extreme_brady: 'high',
  extreme_tachy: 'high',
  vt: 'high',
  pause: 'medium',
  afib: 'medium',
  brady: 'medium',
  tachy: 'medium',
  signal_loss: 'low',
  lead_off: 'low',
  low_battery: 'low',
};

export interface AlertEvidence {
  /**
   * Heart rate over the qualifying beats, bpm. VT: the rate of the ventricular run, from the V–V
   * intervals inside it (not the coupling interval before it, nor a slower beat after it).
   */
  hrBpm?: number;
  /** RR intervals of the qualifying beats, ms (VT: the run's V–V intervals, the latest 32). */
  rrMs?: number[];
  /** Beats of the episode (VT: the ventricular beats of its run). */
  beatCount?: number;
  /** VT: device time from the run's first to its last ventricular beat, ms (the alarm's own length is onset → end). */
  runMs?: number;
  /** Longest gap without a beat, ms (asystole, pause). */
  gapMs?: number;
  /** Device time the episode has lasted so far (updates) or in total (end), ms. */
  durationMs?: number;
  /** Battery charge reported by the device, percent (low_battery). */
  batteryPct?: number;
  /** Why the lifecycle did something unusual, e.g. an end estimated after a processor restart. */
  note?: string;
  /**
   * End evidence only: what the rhythm did as the episode ended, in words for the reader (AF
   * ending into a regular rate > 120/min, or with an extreme tachycardia open: "irregularity
   * ended, rate 150/min regular — consider atrial flutter"; processor/detectors/afib.ts). Shown in
   * the EHR note of the end (ehr-exporter/bundle.ts). Optional: absent for most ends.
   */
  endNote?: string;
  /** The criterion that fired, with its thresholds, so the reader need not look it up. */
  criterion: string;
  thresholds: Record<string, number>;
}

export interface Alert {
  /** Stable: the same episode always has the same id (see {@link alertId}). */
  id: string;
  patientId: string;
  deviceId: string;
  kind: AlertKind;
  category: AlertCategory;
  priority: AlertPriority;
  state: AlertState;
  /** Device time (ISO 8601) at which the episode began. */
  onset: string;
  /** Device time (ISO 8601) at which the criterion stopped holding. */
  end?: string;
  /** Wall-clock time (ISO 8601) the pipeline raised it. */
  detectedAt: string;
  evidence: AlertEvidence;
  acknowledgedBy?: string;
  acknowledgedAt?: string;
  resolvedBy?: string;
  resolvedAt?: string;
  /** Why the clinician resolved it (free text, e.g. "artefact: patient showering"); absent for older alerts. */
  resolveReason?: string;
  /**
   * Wall-clock time (ISO 8601) of the latest escalation of an unacknowledged high-priority alert
   * (processor/alarm-lifecycle.ts); absent while it has not escalated.
   */
  escalatedAt?: string;
  /** How many times it escalated (1 = first escalation); absent or 0 = not escalated. */
  escalationLevel?: number;
  /**
   * Set by the processor on a raised physiological alert: whether an ECG strip around its onset
   * will follow on the strips stream (the device has sent ECG; contracts/ecg-strip.ts). False: no
   * strip will come, so the EHR exporter does not wait for one. Absent: not known (wait).
   */
  ecgStrip?: boolean;
  /** Increases with every published change of this alert. */
  revision: number;
  /** Wall-clock time of this revision. */
  updatedAt: string;
}

/** What travels on the alerts stream: one snapshot per lifecycle change. */
export interface AlertEnvelope {
  schema: 'pb.alert.v1';
  /** Which component made the change: detection updates vs clinician actions. */
  source: 'processor' | 'clinician';
  alert: Alert;
}

/** Deterministic id: a re-run over the same frames (replay, restart) yields the same id. */
export function alertId(patientId: string, kind: AlertKind, onsetMs: number): string {
  const digest = createHash('sha256').update(`${patientId}\n${kind}\n${onsetMs}`).digest('hex');
  return `al-${digest.slice(0, 24)}`;
}

/**
 * The first snapshot of a newly detected episode: id, category and priority derived from the
 * kind, state `active`, revision 1.
 */
export function raisedAlert(input: { patientId: string; deviceId: string; kind: AlertKind; onsetMs: number; evidence: AlertEvidence; nowIso: string }): Alert {
  return {
    id: alertId(input.patientId, input.kind, input.onsetMs),
    patientId: input.patientId,
    deviceId: input.deviceId,
    kind: input.kind,
    category: TECHNICAL_KINDS.has(input.kind) ? 'technical' : 'physiological',
    priority: DEFAULT_PRIORITY[input.kind],
    state: 'active',
    onset: new Date(input.onsetMs).toISOString(),
    detectedAt: input.nowIso,
    evidence: input.evidence,
    revision: 1,
    updatedAt: input.nowIso,
  };
}

const STATE_ORDER: Record<AlertState, number> = { active: 0, acknowledged: 1, resolved: 2 };

/**
 * Folds a new snapshot into the known one. Detection owns onset/end/evidence; clinicians own
 * acknowledgement and resolution, and a state never goes backwards (a late detection update
 * cannot un-acknowledge an alert).
 */
export function mergeAlert(known: Alert | undefined, incoming: Alert): Alert {
  if (!known) return incoming;
  const state = STATE_ORDER[incoming.state] >= STATE_ORDER[known.state] ? incoming.state : known.state;
  return {
    ...known,
    ...incoming,
    // Detection fields: from the latest processor snapshot; the clinician snapshot carries them unchanged.
    state,
    // Only fields that have a value: a key holding `undefined` would make a merge of the same
    // snapshot differ from the snapshot itself (the dashboard compares them to drop re-publishes).
    ...optional('acknowledgedBy', incoming.acknowledgedBy ?? known.acknowledgedBy),
    ...optional('acknowledgedAt', incoming.acknowledgedAt ?? known.acknowledgedAt),
    ...optional('resolvedBy', incoming.resolvedBy ?? known.resolvedBy),
    ...optional('resolvedAt', incoming.resolvedAt ?? known.resolvedAt),
    ...optional('resolveReason', incoming.resolveReason ?? known.resolveReason),
    ...optional('end', incoming.end ?? known.end),
    // Escalation only goes up, like the state.
    ...escalation(known, incoming),
    detectedAt: known.detectedAt,
    revision: Math.max(known.revision, incoming.revision),
  };
}

function optional<K extends keyof Alert>(key: K, value: Alert[K] | undefined): Partial<Pick<Alert, K>> {
  return value === undefined ? {} : ({ [key]: value } as Partial<Pick<Alert, K>>);
}

function escalation(known: Alert, incoming: Alert): Pick<Alert, 'escalatedAt' | 'escalationLevel'> {
  const k = known.escalationLevel ?? 0;
  const i = incoming.escalationLevel ?? 0;
  const winner = i >= k ? incoming : known;
  if (winner.escalationLevel === undefined) return {};
  return { escalationLevel: winner.escalationLevel, ...(winner.escalatedAt !== undefined ? { escalatedAt: winner.escalatedAt } : {}) };
}
