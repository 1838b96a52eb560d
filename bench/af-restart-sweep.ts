/**
 * How often a processor restart inside an AF episode changes the AF alarm (issue 12, sessions
 * 23–24). The devices of the fault suite's case 3c (test/faults/processor-kill-af.fault.test.ts:
 * 30 s of sinus rhythm, 60 s of the simulator's AF at 110/min, then 4 min of sinus rhythm — longer
 * than in the case, so that the AF's end is published; every other device ECG-only) are rebuilt
 * offline for many run seeds (eval/sim-device-replay.ts) and run through StreamRuntime twice:
 * uninterrupted, and restarted through its JSON changelog record after the frame that ends `--at`
 * seconds into the AF, nothing delivered again (a clean hand-over commits everything; a crash
 * re-delivers frames, which the replay path feeds the detectors too). An episode is "equal" when
 * both runs raise the same AF alerts with the same onsets and ends (within 50 ms), or both none;
 * restarts after 60 s into the AF fall after it stopped.
 * `--handover`: restarted through the record a graceful stop writes (StreamRuntime.record
 * `handover`, processor.ts `stop`) instead of the regular one.
 * A correctness measure, not a timing: prints counts, asserts nothing.
 *
 *   node bench/af-restart-sweep.ts [--seeds 100] [--at 2,5,10,20,40,62,64,66] [--handover]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { scenarioFromPhases } from '../device-sim/scenario.ts';
import { simDeviceFrames } from '../eval/sim-device-replay.ts';
import { parseStreamState } from '../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../processor/stream-runtime.ts';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '100' }, at: { type: 'string', default: '2,5,10,20,40,62,64,66' }, handover: { type: 'boolean', default: false } } });
const SEEDS = Number(values.seeds);
const AT_S = values.at.split(',').map(Number);
const DEVICES = 4;
const T0_MS = Date.parse('2026-12-06T07:01:00Z');
const AF_START_MS = T0_MS + 30_000;
/** Case 3c's phases, with 4 min of sinus rhythm after the AF: its end is confirmed 30 s after the AF, a re-detection awaited for 180 s. */
const SCENARIO = scenarioFromPhases('3c', [{ kind: 'normal', durationMs: 30_000 }, { kind: 'afib', durationMs: 60_000, hrBpm: 110 }, { kind: 'normal', durationMs: 240_000 }]);
const DURATION_MS = 330_000;

/** AF onsets and ends the stream raises, restarted after frame `after` when given; and whether its record then carried AF state. */
function afAlerts(frames: readonly TelemetryFrame[], options: StreamRuntimeOptions, after?: number): { onsetsMs: number[]; endsMs: number[]; kept: boolean } {
  let rt = new StreamRuntime(options);
  const onsetsMs: number[] = [];
  const endsMs: number[] = [];
  let kept = false;
  for (const [i, f] of frames.entries()) {
    for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) {
      if (a.kind !== 'afib') continue;
      if (a.revision === 1) onsetsMs.push(Date.parse(a.onset));
      if (a.end !== undefined && endsMs.length < onsetsMs.length) endsMs.push(Date.parse(a.end));
    }
    if (i === after) {
      const record = rt.record('sweep', 0, { handover: values.handover });
      kept = record.pending?.some((p) => p.kind === 'afib') ?? false;
      rt = StreamRuntime.restore(options, parseStreamState(JSON.parse(JSON.stringify(record)))!);
    }
  }
  return { onsetsMs, endsMs, kept };
}

interface Tally { equal: number; kept: number; countDiffers: number; onsetOffsetsS: number[]; endOffsetsS: number[] }
const tallies = new Map<number, Tally>(AT_S.map((s) => [s, { equal: 0, kept: 0, countDiffers: 0, onsetOffsetsS: [], endOffsetsS: [] }]));
const near = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, k) => Math.abs(x - b[k]!) <= 50);
for (let seed = 0; seed < SEEDS; seed++) {
  const runSeed = `sw${seed}`;
  for (let index = 0; index < DEVICES; index++) {
    const deviceId = `f${runSeed}-3c-processor-kill-af-d${index}`;
    const { frames } = await simDeviceFrames({ deviceId, index, runSeed, staggerMs: 0, t0Ms: T0_MS, devices: DEVICES, scenario: SCENARIO, speed: 2, durationMs: DURATION_MS, ecgOnly: index % 2 === 1, paced: false });
    const options: StreamRuntimeOptions = { patientId: `p-${deviceId}`, deviceId, criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };
    const reference = afAlerts(frames, options);
    for (const atS of AT_S) {
      const t = tallies.get(atS)!;
      const after = frames.findIndex((f) => f.ts + f.durMs >= AF_START_MS + atS * 1000);
      const restarted = afAlerts(frames, options, after);
      if (restarted.kept) t.kept++;
      if (restarted.onsetsMs.length !== reference.onsetsMs.length || restarted.endsMs.length !== reference.endsMs.length) { t.countDiffers++; continue; }
      const sameOnsets = near(restarted.onsetsMs, reference.onsetsMs);
      const sameEnds = near(restarted.endsMs, reference.endsMs);
      if (sameOnsets && sameEnds) { t.equal++; continue; }
      if (!sameOnsets) t.onsetOffsetsS.push((restarted.onsetsMs[0]! - reference.onsetsMs[0]!) / 1000);
      if (!sameEnds) t.endOffsetsS.push((restarted.endsMs[0]! - reference.endsMs[0]!) / 1000);
    }
  }
}

/** "n episodes: min / median / max" of offsets, s. */
function spread(offsetsS: readonly number[]): string {
  const o = [...offsetsS].sort((a, b) => a - b);
  return o.length > 0 ? `${o.length}: ${o[0]!.toFixed(1)} / ${o[Math.floor(o.length / 2)]!.toFixed(1)} / ${o.at(-1)!.toFixed(1)}` : '0';
}

const n = SEEDS * DEVICES;
console.log(`AF alarms after a restart${values.handover ? ' (graceful hand-over records)' : ''} vs uninterrupted: ${SEEDS} run seeds × ${DEVICES} devices (2 ECG-only), the simulator's AF at 110/min for 60 s\n`);
console.log('restart (s into AF) | equal (onsets and ends) | AF state kept | alarm count differs | onset differs: n: min / median / max (s) | end differs: n: min / median / max (s)');
for (const [atS, t] of tallies) {
  console.log(`${String(atS).padStart(19)} | ${`${t.equal} (${((100 * t.equal) / n).toFixed(1)} %)`.padEnd(23)} | ${String(t.kept).padStart(13)} | ${String(t.countDiffers).padStart(19)} | ${spread(t.onsetOffsetsS).padEnd(40)} | ${spread(t.endOffsetsS)}`);
}
