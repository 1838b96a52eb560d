/**
 * Does the device's frame length change a VT verdict? The CinC 2015 VT alarms (first ECG lead, the
 * production row of EVALUATION.md §6) replayed as ECG-only devices through the production path
 * (beat source → detectors, `detectThroughBeatSource`) with frames of each length the contract
 * allows (device-protocol.md: 100–5000 ms), each scored as the production row is: a vt episode
 * overlapping the 10 s before the alarm at 300 s, counting what was raised by the last frame ending
 * by then.
 *
 *   node eval/frame-length.ts [--data DIR] [--frames 100,250,500,1000,2000,5000]
 *
 * Prints TP / FN / TN / FP and the Challenge score per frame length, and the alarms whose verdict
 * differs from 1 s frames (the contract's default, on which the thresholds were chosen).
 * Sampling rates whose frames hold a fractional number of samples (250 Hz in 250 ms frames:
 * 62.5) lose samples by the contract's rounding down; the table says so where it happens.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { ALARM_AT_MS, alarmType, challengeScore, ecgSignalIndexes, productionDetectors, readAlarmLabels, EpisodeLog, VT_ALARM_TYPE, type AlarmResult } from './challenge2015.ts';
import { ecgOnlyFrames } from './qrs.ts';
import { EVAL_EPOCH_MS } from './replay.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') },
    frames: { type: 'string', default: '100,250,500,1000,2000,5000' },
  },
});
const frameLengths = values.frames.split(',').map(Number);
if (frameLengths.some((f) => !Number.isInteger(f) || f < 100 || f > 5000)) throw new Error(`--frames: lengths from 100 to 5000 ms, got ${values.frames}`);
const dir = join(values.data, 'challenge2015');

/** Whether the production path raises vt in the alarm window of one lead sent in `frameMs` frames. */
function productionAlarm(record: WfdbRecord, frameMs: number): boolean {
  const source = new EcgBeatSource();
  const stream = new PatientStream('frame-length', 'frame-length', productionDetectors());
  const log = new EpisodeLog();
  for (const frame of ecgOnlyFrames(record, frameMs)) {
    if (frame.ts + frame.durMs > EVAL_EPOCH_MS + ALARM_AT_MS) break;
    log.add(detectThroughBeatSource(source, stream, frame).changes);
  }
  return log.inWindow().length > 0;
}

const records: { name: string; truth: boolean; lead: WfdbRecord }[] = [];
for (const [name, truth] of await readAlarmLabels(dir)) {
  const header = await readWfdbHeader(join(dir, `${name}.hea`)).catch(() => undefined);
  if (!header) continue; // listed in alarms.csv, not in the folder
  const type = alarmType(header);
  const first = ecgSignalIndexes(header)[0];
  if ((type !== undefined && type !== VT_ALARM_TYPE) || first === undefined) continue;
  records.push({ name, truth, lead: await readWfdbRecord(join(dir, name), { ecgSignalIndex: first }) });
}
const rates = [...new Set(records.map((r) => r.lead.ecg!.fsHz))];

console.log(`CinC 2015 VT alarms (${records.length}), first ECG lead, production path, by the device's frame length:`);
console.log(`${'frame ms'.padStart(8)} ${'TP'.padStart(3)} ${'FN'.padStart(3)} ${'TN'.padStart(3)} ${'FP'.padStart(3)} ${'score'.padStart(6)}  missed true VT; verdicts unlike 1 s frames`);
const verdictsOf = (frameMs: number): AlarmResult[] => records.map(({ name, truth, lead }) => ({ name, truth, alarm: productionAlarm(lead, frameMs) }));
const reference = verdictsOf(1000);
for (const frameMs of frameLengths) {
  const results = frameMs === 1000 ? reference : verdictsOf(frameMs);
  const s = challengeScore(results);
  const unlike = results.filter((r, i) => r.alarm !== reference[i]!.alarm).map((r) => `${r.name} (${r.truth ? 'true' : 'false'} VT, ${r.alarm ? 'raised' : 'not raised'})`);
  const fractional = rates.filter((fs) => (fs * frameMs) % 1000 !== 0);
  const note = fractional.length > 0 ? `  [${fractional.join(', ')} Hz: ${fractional.map((fs) => ((fs * frameMs) / 1000).toFixed(1)).join(', ')} samples per frame, rounded down]` : '';
  console.log(`${String(frameMs).padStart(8)} ${String(s.tp).padStart(3)} ${String(s.fn).padStart(3)} ${String(s.tn).padStart(3)} ${String(s.fp).padStart(3)} ${s.score.toFixed(2).padStart(6)}  missed: ${results.filter((r) => r.truth && !r.alarm).map((r) => r.name).join(' ') || '-'}; unlike 1 s: ${unlike.join(', ') || '-'}${note}`);
}
