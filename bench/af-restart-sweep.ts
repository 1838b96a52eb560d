/**
 * How often a processor restart inside an AF episode changes the AF alarm (issue 12, sessions
 * 23–24). The devices of the fault suite's case 3c (test/faults/processor-kill-af.fault.test.ts:
 * 30 s of sinus rhythm, 60 s of the simulator's AF at 110/min, 30 s of sinus rhythm; every other
 * device ECG-only) are rebuilt offline for many run seeds (eval/sim-device-replay.ts) and run
 * through StreamRuntime twice: uninterrupted, and restarted through its JSON changelog record after
 * the frame that ends `--at` seconds into the AF, nothing delivered again (a clean hand-over
 * commits everything; a crash re-delivers frames, which the replay path feeds the detectors too).
 * An episode is "equal" when both runs raise the same AF onsets (within 50 ms), or both none.
 * A correctness measure, not a timing: prints counts, asserts nothing.
 *
 *   node bench/af-restart-sweep.ts [--seeds 100] [--at 2,5,10,20,40]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { scenarioFromPhases } from '../device-sim/scenario.ts';
import { simDeviceFrames } from '../eval/sim-device-replay.ts';
import { parseStreamState } from '../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../processor/stream-runtime.ts';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '100' }, at: { type: 'string', default: '2,5,10,20,40' } } });
const SEEDS = Number(values.seeds);
const AT_S = values.at.split(',').map(Number);
const DEVICES = 4;
const T0_MS = Date.parse('2026-12-06T07:01:00Z');
const AF_START_MS = T0_MS + 30_000;
const SCENARIO = scenarioFromPhases('3c', [{ kind: 'normal', durationMs: 30_000 }, { kind: 'afib', durationMs: 60_000, hrBpm: 110 }, { kind: 'normal', durationMs: 30_000 }]);

/** AF onsets the stream raises, restarted after frame `after` when given; and whether its record then carried AF state. */
function afOnsets(frames: readonly TelemetryFrame[], options: StreamRuntimeOptions, after?: number): { onsetsMs: number[]; kept: boolean } {
  let rt = new StreamRuntime(options);
  const onsetsMs: number[] = [];
  let kept = false;
  for (const [i, f] of frames.entries()) {
    for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) if (a.kind === 'afib' && a.revision === 1) onsetsMs.push(Date.parse(a.onset));
    if (i === after) {
      const record = rt.record('sweep', 0);
      kept = record.pending?.some((p) => p.kind === 'afib') ?? false;
      rt = StreamRuntime.restore(options, parseStreamState(JSON.parse(JSON.stringify(record)))!);
    }
  }
  return { onsetsMs, kept };
}

interface Tally { equal: number; kept: number; countDiffers: number; offsetsS: number[] }
const tallies = new Map<number, Tally>(AT_S.map((s) => [s, { equal: 0, kept: 0, countDiffers: 0, offsetsS: [] }]));
for (let seed = 0; seed < SEEDS; seed++) {
  const runSeed = `sw${seed}`;
  for (let index = 0; index < DEVICES; index++) {
    const deviceId = `f${runSeed}-3c-processor-kill-af-d${index}`;
    const { frames } = await simDeviceFrames({ deviceId, index, runSeed, staggerMs: 0, t0Ms: T0_MS, devices: DEVICES, scenario: SCENARIO, speed: 2, durationMs: 120_000, ecgOnly: index % 2 === 1, paced: false });
    const options: StreamRuntimeOptions = { patientId: `p-${deviceId}`, deviceId, criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };
    const reference = afOnsets(frames, options).onsetsMs;
    for (const atS of AT_S) {
      const t = tallies.get(atS)!;
      const after = frames.findIndex((f) => f.ts + f.durMs >= AF_START_MS + atS * 1000);
      const restarted = afOnsets(frames, options, after);
      if (restarted.kept) t.kept++;
      if (restarted.onsetsMs.length !== reference.length) { t.countDiffers++; continue; }
      if (restarted.onsetsMs.every((o, k) => Math.abs(o - reference[k]!) <= 50)) { t.equal++; continue; }
      t.offsetsS.push((restarted.onsetsMs[0]! - reference[0]!) / 1000);
    }
  }
}

const n = SEEDS * DEVICES;
console.log(`AF alarms after a restart vs uninterrupted: ${SEEDS} run seeds × ${DEVICES} devices (2 ECG-only), the simulator's AF at 110/min\n`);
console.log('restart (s into AF) | equal            | AF state kept | alarm count differs | onset differs: min / median / max (s)');
for (const [atS, t] of tallies) {
  const o = [...t.offsetsS].sort((a, b) => a - b);
  const spread = o.length > 0 ? `${o[0]!.toFixed(1)} / ${o[Math.floor(o.length / 2)]!.toFixed(1)} / ${o.at(-1)!.toFixed(1)}` : '–';
  console.log(`${String(atS).padStart(19)} | ${`${t.equal} (${((100 * t.equal) / n).toFixed(1)} %)`.padEnd(16)} | ${String(t.kept).padStart(13)} | ${String(t.countDiffers).padStart(19)} | ${o.length} episodes: ${spread}`);
}
