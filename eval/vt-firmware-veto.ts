/**
 * The vt detector's firmware-rhythm veto (vt.ts file comment, "Firmware rhythm"; cardiologist walk
 * finding 8a) on real VT: the CinC 2015 VT alarms have no firmware beats, so here each alarm's first
 * ECG lead is given a firmware of our own — the beats the processor derives from that lead
 * (processor/ecg-beats.ts, QRS detector + morphology labeller), sent back as the device's firmware
 * beats together with the ECG, up to the alarm (300 s). Our labeller is a harsher firmware than a
 * monitor's: it reads one lead, and calls VT complexes `N` more often. The verdict per alarm (a vt
 * episode in the 10 s before it, eval/challenge2015.ts `EpisodeLog`) without and with the veto
 * says which true VT alarms the veto would cost and which false ones it removes. Twice: with the
 * labeller's classes, and with every beat sent as `N` (a firmware that labels every beat `N`, as the
 * walk's device did: then the beat rule never fires and the waveform rule, with its veto, is all
 * that alarms a VT). A measurement, nothing is chosen on it.
 *
 *   node eval/vt-firmware-veto.ts [--data DIR]   (DIR: the challenge2015 folder; default ../shared/data/ecg/challenge2015)
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { TimedBeat } from '../device-sim/frames.ts';
import { buildFrames, recordEcgSource } from '../device-sim/frames.ts';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { missingEcgIntervals, readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { createVtDetector } from '../processor/detectors/vt.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { ALARM_AT_MS, challengeScore, ecgSignalIndexes, EpisodeLog, productionDetectors, readAlarmLabels, type AlarmResult } from './challenge2015.ts';
import { derivedFrames, ecgOnlyFrames } from './qrs.ts';
import { fileExists } from './records.ts';
import { EVAL_EPOCH_MS, EVAL_FRAME_MS } from './replay.ts';

/** The beats the processor derives from the record's lead up to the alarm, as a firmware would send them. */
function derivedBeats(record: WfdbRecord): TimedBeat[] {
  const out: TimedBeat[] = [];
  for (const f of derivedFrames(ecgOnlyFrames(record))) for (const b of f.beats) if (f.ts + b.off < EVAL_EPOCH_MS + ALARM_AT_MS) out.push({ tMs: f.ts + b.off, cls: b.cls });
  return out;
}

/** A vt episode in the alarm window when `beats` go out as firmware beats with the lead's ECG. */
function alarmsWithFirmware(record: WfdbRecord, beats: readonly TimedBeat[], detectors: Detector[]): boolean {
  const ecg = record.ecg!;
  const frames = buildFrames(beats, { t0Ms: EVAL_EPOCH_MS, durationMs: ALARM_AT_MS, frameMs: EVAL_FRAME_MS, battery: 100, leadOff: missingEcgIntervals(ecg, EVAL_EPOCH_MS), ecg: recordEcgSource(ecg.uV, ecg.fsHz, EVAL_EPOCH_MS) });
  const stream = new PatientStream('cinc2015-fw', 'cinc2015-fw', detectors);
  const log = new EpisodeLog();
  for (const f of frames) log.add(stream.detect(f));
  return log.inWindow().length > 0;
}

const withoutVeto = (): Detector[] => [...productionDetectors().filter((d) => d.kind !== 'vt'), createVtDetector({ firmwareRhythmVeto: false })];

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg/challenge2015') } } });
const dir = values.data;
const variants = [
  { label: "the labeller's classes", relabel: (b: TimedBeat) => b },
  { label: 'every beat sent as N', relabel: (b: TimedBeat): TimedBeat => ({ ...b, cls: 'N' }) },
].map((v) => ({ ...v, off: [] as AlarmResult[], on: [] as AlarmResult[] }));
for (const [name, truth] of await readAlarmLabels(dir)) {
  if (!(await fileExists(join(dir, `${name}.hea`)))) continue;
  const header = await readWfdbHeader(join(dir, `${name}.hea`));
  const index = ecgSignalIndexes(header)[0];
  if (index === undefined) continue;
  const record = await readWfdbRecord(join(dir, name), { ecgSignalIndex: index });
  const derived = derivedBeats(record);
  for (const v of variants) {
    const beats = derived.map(v.relabel);
    v.off.push({ name, truth, alarm: alarmsWithFirmware(record, beats, withoutVeto()) });
    v.on.push({ name, truth, alarm: alarmsWithFirmware(record, beats, productionDetectors()) });
  }
}
const row = (label: string, r: AlarmResult[]) => {
  const s = challengeScore(r);
  return `${label}: TP ${s.tp} FN ${s.fn} TN ${s.tn} FP ${s.fp}, TPR ${s.tpr.toFixed(1)} %, TNR ${s.tnr.toFixed(1)} %, score ${s.score.toFixed(2)}`;
};
console.log(`CinC 2015 VT alarms (${variants[0]!.on.length}), first ECG lead, the processor's derived beats sent back as firmware beats with the ECG, production detectors:`);
for (const { label, off, on } of variants) {
  const changed = on.filter((r, i) => r.alarm !== off[i]!.alarm).map((r, i) => `${r.name} (${r.truth ? 'true' : 'false'} alarm: ${off[i]!.alarm ? 'raised' : 'silent'} → ${r.alarm ? 'raised' : 'silent'})`);
  console.log(`${label}:`);
  console.log(row('  firmware-rhythm veto off', off));
  console.log(row('  veto on (production)    ', on));
  console.log(`  alarms the veto changes: ${changed.join(', ') || 'none'}`);
}
