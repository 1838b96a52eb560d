/**
 * Physiological alarms of a device that sends both its own beats and the ECG (cardiologist walk,
 * finding 8a): each mitdb record's reference beats go out as the firmware's beats (classes and RR
 * as the reference-beat replay sends them, eval/replay.ts) and its scored lead (eval/ecg-eval.ts
 * `qrsLeadIndex`: MLII where the record has it) as the frames' ECG, through the production path
 * (PatientStream; firmware beats are trusted, the ECG feeds the waveform rules). The two paths of
 * EVALUATION.md §3 have either the beats or the ECG; this one has both, as the walk's
 * firmware-N device had. Scored like them (evaluate.ts `scoreAlarms`), and every vt episode is
 * listed with its onset so that a change of the vt detector shows which alarms it kept or removed.
 */
import type { AlertKind } from '../contracts/alert.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { buildFrames, recordEcgSource } from '../device-sim/frames.ts';
import { missingEcgIntervals, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { createVtDetector } from '../processor/detectors/vt.ts';
import { evaluationDetectors } from './detector-set.ts';
import { recordsWithLead, type QrsLead } from './ecg-eval.ts';
import { alarmRates, scoreAlarms, type AlarmRate, type KindAlarms } from './evaluate.ts';
import type { EvalDatabase, ReferenceRecord } from './records.ts';
import { EVAL_EPOCH_MS, EVAL_FRAME_MS, replayRecord } from './replay.ts';

/** A record's reference beats as firmware beats, with its ECG lead in the same 1 s frames. */
export function firmwareEcgFrames(reference: ReferenceRecord, record: WfdbRecord): Iterable<TelemetryFrame> {
  if (!record.ecg) throw new Error(`record ${record.recordPath} has no ECG signal`);
  const beats = reference.beats.map((b) => ({ tMs: EVAL_EPOCH_MS + b.timeMs, cls: b.cls }));
  return buildFrames(beats, {
    t0Ms: EVAL_EPOCH_MS, durationMs: reference.durationMs, frameMs: EVAL_FRAME_MS, battery: 100,
    leadOff: missingEcgIntervals(record.ecg, EVAL_EPOCH_MS), ecg: recordEcgSource(record.ecg.uV, record.ecg.fsHz, EVAL_EPOCH_MS),
  });
}

/** One vt episode of the firmware + ECG path, s from the record start. */
export interface VtEpisodeRow {
  startS: number;
  endS: number;
  /** A reference VT run of ≥ 5 beats at > 100/min overlaps it (evaluate.ts ground truth). */
  supported: boolean;
  /** Raised by the waveform rule (no qualifying run of V beats when it opened). */
  byWaveform: boolean;
}

export interface FirmwareEcgRecordAlarms {
  name: string;
  lead: string;
  alarmScopeMs: number;
  alarms: Partial<Record<AlertKind, KindAlarms>>;
  vt: VtEpisodeRow[];
}

/** The evaluation detectors as they were before finding 8a: the vt waveform rule without the firmware-rhythm veto. */
export function detectorsWithoutFirmwareVeto(): Detector[] {
  return [...evaluationDetectors().filter((d) => d.kind !== 'vt'), createVtDetector({ firmwareRhythmVeto: false })];
}

/** Every record of `db` with a signal (its scored lead, or its other one: `lead`) and reference beats, replayed as a firmware-beats + ECG device. */
export async function firmwareEcgPathAlarms(dataDir: string, db: EvalDatabase, only?: readonly string[], lead: QrsLead = 'scored', makeDetectors: () => Detector[] = evaluationDetectors): Promise<FirmwareEcgRecordAlarms[]> {
  const out: FirmwareEcgRecordAlarms[] = [];
  for await (const { name, record, reference } of recordsWithLead(dataDir, db, only, lead)) {
    const { episodes } = replayRecord(reference, makeDetectors(), [...firmwareEcgFrames(reference, record)]);
    const { alarmScopeMs, alarms, unsupported } = scoreAlarms(reference, episodes);
    const vt = episodes.filter((e) => e.kind === 'vt').map((e) => ({
      startS: e.startMs / 1000,
      endS: e.endMs / 1000,
      supported: !unsupported.some((u) => u.kind === 'vt' && u.startMs === e.startMs),
      byWaveform: e.alert.evidence.criterion.startsWith('VF-filter leakage'),
    }));
    out.push({ name, lead: record.ecg?.description ?? '', alarmScopeMs, alarms, vt });
  }
  return out;
}

const vtCell = (r: AlarmRate) => {
  const x = r.byKind.vt;
  return x ? `${x.alarms - x.false} true, ${x.false} false (${x.falsePer24h.toFixed(1)} per 24 h)` : '-';
};
const vtList = (rows: readonly FirmwareEcgRecordAlarms[]) =>
  rows.flatMap((r) => r.vt.map((e) => `${r.name} ${e.startS.toFixed(1)}–${e.endS.toFixed(1)} s ${e.supported ? 'true' : 'FALSE'}${e.byWaveform ? ' (waveform)' : ''}`)).join(', ') || 'none';

/** The vt rows of the firmware + ECG path, without and with the firmware-rhythm veto (vt.ts file comment). */
export function formatFirmwareEcgPath(db: string, before: readonly FirmwareEcgRecordAlarms[], after: readonly FirmwareEcgRecordAlarms[], lead: QrsLead = 'scored'): string {
  const b = alarmRates(before);
  const a = alarmRates(after);
  return [
    `VT on the firmware-beats + ECG path (${db}, ${a.hours.toFixed(1)} h: reference beats sent as the device's firmware beats with the ${lead === 'scored' ? 'scored lead' : 'other (chest) lead'}'s ECG in the same frames, production detectors; true = a reference run of ≥ 5 V beats at > 100/min overlaps it):`,
    `  vt without the firmware-rhythm veto: ${vtCell(b)}; episodes: ${vtList(before)}`,
    `  vt as it runs (veto on):            ${vtCell(a)}; episodes: ${vtList(after)}`,
  ].join('\n');
}
