/**
 * A hand-over record (StreamRuntime.record `handover`) as a graceful stop wrote it before issue 12
 * session 27, for comparisons (bench/ecg-handover-sweep.ts, test/processor/handover-detectors.test.ts):
 * no exact beat-source state (ecg-beats.ts `EcgBeatState.exact`), no technical conditions' delays
 * (`technicalSince`), and only the regular pending states of the VT, brady/tachy, extreme
 * brady/tachy, asystole and pause detectors, without the whole-detector entries that follow them
 * (Detector.handoverState: VT, extreme brady/tachy, asystole and pause format 2, brady/tachy format 3).
 */
import type { StreamStateRecord } from '../processor/stream-state.ts';

const WHOLE_FORMAT: Record<string, number> = { vt: 2, extreme_brady: 2, extreme_tachy: 2, asystole: 2, pause: 2, brady: 3, tachy: 3 };

export function handoverAsBefore(record: StreamStateRecord): StreamStateRecord {
  const pending = (record.pending ?? []).filter((p) => WHOLE_FORMAT[p.kind] !== p.state.v);
  const { ecgBeats, pending: _pending, technicalSince: _technicalSince, ...rest } = record;
  const beatSource = ecgBeats && (({ exact: _exact, ...kept }) => kept)(ecgBeats);
  return { ...rest, ...(pending.length > 0 ? { pending } : {}), ...(beatSource ? { ecgBeats: beatSource } : {}) };
}
