/**
 * A hand-over record (StreamRuntime.record `handover`) as a graceful stop wrote it before issue 12
 * session 27, for comparisons (bench/ecg-handover-sweep.ts, test/processor/handover-detectors.test.ts):
 * no exact beat-source state (ecg-beats.ts `EcgBeatState.exact`), and the brady/tachy, extreme
 * brady/tachy and VT detectors' regular pending states instead of their whole state.
 */
import type { StreamStateRecord } from '../processor/stream-state.ts';

export function handoverAsBefore(record: StreamStateRecord): StreamStateRecord {
  const pending = (record.pending ?? []).flatMap((p) => {
    const state = p.state as { v: number; regular?: typeof p.state };
    // (VT hands over format 2, extreme brady/tachy format 2, brady/tachy format 3; each but VT's
    // regular state of beats derived from the ECG carries its regular state.)
    const whole = ((p.kind === 'vt' || p.kind === 'extreme_brady' || p.kind === 'extreme_tachy') && state.v === 2) || state.v === 3;
    if (!whole) return [p];
    return state.regular ? [{ kind: p.kind, state: state.regular }] : [];
  });
  const { ecgBeats, pending: _pending, ...rest } = record;
  const beatSource = ecgBeats && (({ exact: _exact, ...kept }) => kept)(ecgBeats);
  return { ...rest, ...(pending.length > 0 ? { pending } : {}), ...(beatSource ? { ecgBeats: beatSource } : {}) };
}
