/**
 * The processor's changelog record (STREAMS.processorState, compacted, key = telemetry consumer
 * group + patient + device, so separate processor deployments never share state):
 * what a processor needs to continue a stream after a restart or a partition move without
 * losing an episode or raising it twice.
 *
 * Design (issue 4 §5). Written in each batch before its alerts are published and before the bus
 * commits the batch, whenever the stream's alarm state or held frames changed (and at least every
 * {@link STATE_WRITE_INTERVAL_MS} of device time), so the record is never behind the committed
 * telemetry position. A processor that takes over a stream:
 * 1. restores open, ending and latched alerts, recent closed ids and held (reorder) frames;
 * 2. re-publishes the restored alerts' latest snapshots (idempotent: same id and revision), in
 *    case the previous instance died between writing this record and publishing them;
 * 3. re-analyses re-delivered frames up to `analysedUntilMs` with fresh detectors without
 *    publishing (their effects were published): the detectors rebuild their state, and an onset
 *    they find for a restored open alert continues that alert;
 * 4. analyses newer frames normally. An open alert is continued by the first onset of its kind,
 *    or ended (with a note) if its detector does not report it again within the lifecycle's
 *    re-detection window.
 *
 * Pending alarms (`pending`, since issue 12): an alarm whose delay is running (a brady/tachy run
 * beyond the limit not yet `sustainMs` long) is no alert yet, and fresh detectors re-analysing
 * the re-delivered frames would start the delay again from the first beat they see — the alarm
 * would come up to `sustainMs` late. Likewise a brady episode whose end waits for its off-delay
 * (limit-rate.ts, session 8): a fresh detector would not know the end it waits to confirm; and an
open extreme brady/tachy episode, whose end hysteresis keeps it open while the rate hovers at the
limit without the N beats in a row a fresh detector needs to report it again (consecutive-rate.ts
format 3: otherwise its alert ended "end estimated" and the next run raised a second one). Such
 * detectors report what their successor needs (Detector.pendingState: a small JSON with its own
 * format version; absent in older records, which still restore, without it). While any is pending, the record is rewritten with every batch
 * (the fingerprint includes the position), so the record is never older than the committed
 * telemetry position and the successor sees every beat after the state; the first frame after
 * the restore must start where the record left off, else the hole drops the pending alarm, as it
 * would have for the previous owner. The AF detector's pending state is mostly its latest inputs
 * (a 30 s criterion over averaged 8-beat windows has no small summary), which the successor
 * replays (detectors/afib-replay.ts: 192 beats with the stretch, ≈ 2 kB, 3.4 kB with ECG).
 *
 * ECG strips waiting for their post window (`ecgStrips`, issue 12): a strip is cut from the
 * stream's ECG 8 s before to 8 s after its alarm's onset (ecg-strips.ts), and the successor reads
 * the telemetry again only from the committed position, usually past the onset. So while a strip
 * is waiting the record carries its capture and the ECG of its window analysed so far, rewritten
 * with every batch like a pending alarm (≈ 0.75 kB per second of 250 Hz ECG, at most ≈ 12 kB per
 * strip, for the ≈ 4–14 s between the alarm and its strip; an ECG-only device's record also keeps
 * the beat source's state meanwhile, so the strip's beats after the restart are annotated too).
 * The processor publishes a batch's finished strips before this record, so a strip is on the bus,
 * or still in the record, at every moment: a crash between the two can publish it twice, with the
 * same alert id (its consumers keep one).
 *
 * A graceful stop (processor.ts `stop`) writes every stream's record once more as a hand-over
 * (StreamRuntime.record `handover`): the detectors' state even where nothing is pending (the beat a
 * silence counts from, the AF detector's inputs and P-wave meter) and an ECG-only stream's beat
 * source with its QRS detector's whole state (ecg-beats.ts `EcgBeatState.exact`), so the successor
 * goes on exactly; paid once per stream and stop instead of with every batch.
 *
 * Why not rewind the telemetry stream instead: the bus port (platform/bus/bus.ts) has no seek, and
 * an AF episode can last hours, so no fixed rewind window would rebuild every open episode
 * anyway. Why not serialize detector internals in the regular records: they are kilobytes per
 * stream (the QRS detector ≈ 5 kB at 250 Hz), rewritten with every batch; a detector with a pending
 * alarm exposes only the small explicit state above. The hand-over, written once, may carry more.
 */
import type { AlertKind } from '../contracts/alert.ts';
import { clockBehindStateSchema, type ClockBehindState } from './clock-behind.ts';
import type { PendingState } from './detectors/detector.ts';
import { beatShapesStateSchema, ecgBeatStateSchema, firmwareOutageStateSchema, type BeatShapesState, type EcgBeatState, type FirmwareOutageState } from './ecg-beats.ts';
import { ecgStripStateSchema, type EcgStripState } from './ecg-strips.ts';
import type { StreamAlarmsState } from './alarm-lifecycle.ts';
import type { ReorderState } from './reorder-buffer.ts';

export const STATE_SCHEMA = 'pb.processor-state.v1';

/** A stream's record is rewritten at least this often (device time) while frames flow, ms. */
export const STATE_WRITE_INTERVAL_MS = 60_000;

export interface StreamStateRecord {
  schema: typeof STATE_SCHEMA;
  patientId: string;
  deviceId: string;
  /** Processor instance that wrote it: a record from another instance means the stream moved. */
  owner: string;
  /** Telemetry partition the stream's frames come from (so a new owner can watch silent streams). */
  partition?: number;
  /** Wall-clock time of the write, ms. */
  writtenAt: number;
  /** Device time up to which frames were analysed (their alerts are published), ms. */
  analysedUntilMs?: number;
  /** Criteria version applied at that point. */
  criteriaVersion: number;
  reorder: ReorderState;
  alarms: StreamAlarmsState;
  /** Kinds whose technical monitor episode is open (resumed exactly on restore). */
  openTechnical: { kind: AlertKind; onsetMs: number }[];
  /**
   * At a graceful hand-over: technical conditions that hold without their alarm yet (a lead-off in
   * its first 10 s), and since when, so the successor raises it at the same frame instead of up to
   * the delay later (optional: regular records and older hand-overs have none).
   */
  technicalSince?: { kind: AlertKind; sinceMs: number }[];
  /** Alarms whose delay is running, per detector kind, as of `analysedUntilMs` (optional: older records have none). */
  pending?: { kind: AlertKind; state: PendingState }[];
  /**
   * With `pending`, for a device whose beats the processor detects in its ECG: the beat source's
   * state (ecg-beats.ts), so the beats go on with a measured RR after the restart (optional: older
   * records have none, and then the first beat after the restart has no RR, which ends the run).
   */
  ecgBeats?: EcgBeatState;
  /**
   * Device time of the firmware's latest beat while the processor still trusts the firmware's
   * beats over its own QRS detection (ecg-beats.ts, 60 s, and not once the silence is found to be
   * the firmware's beat output failing: then `beatsFromEcg`): a successor restarting inside a
   * silence the firmware reports keeps that silence (optional: older records have none).
   */
  lastFirmwareBeatMs?: number;
  /**
   * The stream's beats come from its ECG (ecg-beats.ts `ecgMode`): a successor's first frames
   * without ECG or beats then carry no rhythm, they are not a silence (optional: older records
   * have none).
   */
  beatsFromEcg?: true;
  /**
   * The stream's beats come from its ECG because the firmware's beat output failed (ecg-beats.ts
   * `FirmwareOutageState`): the firmware's latest beat and what the fall-back to its silence needs,
   * so a successor restarted during that switch still hands a silence without the patient's QRS
   * back to the firmware (a ventricular standstill with P waves: asystole). Optional: older records
   * have none, and their successor goes on like an ECG-only device (no fall-back).
   */
  firmwareOutage?: FirmwareOutageState;
  /**
   * With `beatsFromEcg`, or in a lead-off that began with it: the beat shapes the QRS labeller
   * learned (ecg-beats.ts), as of the record's write (at least every minute), so a successor
   * started inside a sustained VT does not take the VT's complex for the patient's beat; with the
   * lead-off's start, and whether the first beats after a lead-off are still being checked for a
   * patch put back turned (optional: older records have none, and the successor learns afresh, or
   * trusts the shapes as they are).
   */
  beatShapes?: BeatShapesState;
  /** ECG strips waiting for their post window, with their windows' frames so far (optional: older records have none, and such strips were lost). */
  ecgStrips?: EcgStripState;
  /**
   * The device's frame counter as of the last frame on time, and a run of its new frames arriving
   * behind the analysed data (clock-behind.ts: a device clock stepped back raises signal loss;
   * optional: older records have none, and the successor counts from its first frame on time).
   */
  clockBehind?: ClockBehindState;
}

export function streamKey(patientId: string, deviceId: string): string {
  return `${patientId}\n${deviceId}`;
}

/**
 * A stream key as people read it, e.g. `patient-0015 (device sim-0015)`, for operator alarms,
 * which list streams: the key's newline is a separator, not something to show.
 */
export function streamLabel(key: string): string {
  // Device ids never contain a newline (contracts/topics.ts DEVICE_ID_PATTERN): the last one separates.
  const at = key.lastIndexOf('\n');
  return `${key.slice(0, at)} (device ${key.slice(at + 1)})`;
}

/** Loose structural check of a record from the bus (our own writes; older/foreign ones are skipped). */
export function parseStreamState(value: unknown): StreamStateRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Partial<StreamStateRecord>;
  if (r.schema !== STATE_SCHEMA || typeof r.patientId !== 'string' || typeof r.deviceId !== 'string' || typeof r.owner !== 'string') return undefined;
  if (!r.alarms || !Array.isArray(r.alarms.slots) || !Array.isArray(r.alarms.latched) || !Array.isArray(r.alarms.closed)) return undefined;
  if (!r.reorder || !Array.isArray(r.reorder.held)) return undefined;
  const { pending: raw, ecgBeats: rawEcgBeats, ecgStrips: rawEcgStrips, beatShapes: rawBeatShapes, clockBehind: rawClockBehind, firmwareOutage: rawFirmwareOutage, ...rest } = r;
  // Unknown or malformed pending entries are skipped: the alarm delay then starts again (as before issue 12).
  const pending = Array.isArray(raw) ? raw.filter((p) => typeof p?.kind === 'string' && typeof p.state === 'object' && p.state !== null && typeof p.state.v === 'number') : [];
  // Likewise a beat source state in another format: the beats then start afresh.
  const ecgBeats = rawEcgBeats === undefined ? undefined : ecgBeatStateSchema.safeParse(rawEcgBeats).data;
  // And waiting strips in another format: they are lost, as before there was a field for them.
  const ecgStrips = rawEcgStrips === undefined ? undefined : ecgStripStateSchema.safeParse(rawEcgStrips).data;
  // And beat shapes in another format: the successor's labeller learns afresh.
  const beatShapes = rawBeatShapes === undefined ? undefined : beatShapesStateSchema.safeParse(rawBeatShapes).data;
  // And the clock monitor's state: the successor counts late frames from its first frame on time.
  const clockBehind = rawClockBehind === undefined ? undefined : clockBehindStateSchema.safeParse(rawClockBehind).data;
  // And a firmware beat-output failure in another format: the successor goes on as before there was a field for it (no fall-back).
  const firmwareOutage = rawFirmwareOutage === undefined ? undefined : firmwareOutageStateSchema.safeParse(rawFirmwareOutage).data;
  const { lastFirmwareBeatMs, beatsFromEcg, technicalSince, ...others } = rest;
  return {
    ...others,
    ...(beatsFromEcg === true ? { beatsFromEcg } : {}),
    ...(Number.isFinite(lastFirmwareBeatMs) ? { lastFirmwareBeatMs } : {}),
    ...(firmwareOutage ? { firmwareOutage } : {}),
    openTechnical: Array.isArray(r.openTechnical) ? r.openTechnical : [],
    // (Malformed entries are skipped: that delay starts again, as before there was a field for it.)
    ...(Array.isArray(technicalSince) ? { technicalSince: technicalSince.filter((t) => typeof t?.kind === 'string' && Number.isFinite(t.sinceMs)) } : {}),
    ...(pending.length > 0 ? { pending } : {}),
    ...(ecgBeats ? { ecgBeats } : {}),
    ...(ecgStrips ? { ecgStrips } : {}),
    ...(beatShapes ? { beatShapes } : {}),
    ...(clockBehind ? { clockBehind } : {}),
  } as StreamStateRecord;
}
