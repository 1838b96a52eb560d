/**
 * Where an uninterrupted processor dates the AF onsets of the fault suite's case 3c
 * (test/faults/processor-kill-af.fault.test.ts: 30 s of the simulator's sinus rhythm, 60 s of its
 * AF at 110/min, 30 s of sinus rhythm; devices 0 and 2 send firmware beats, 1 and 3 ECG only), for
 * many run seeds (eval/sim-device-replay.ts rebuilds each device's frames). The fault case and the
 * smoke runs call an AF alarm unexplained when its onset lies more than 5 s before the scripted
 * AF: this counts how often the detector itself does that, the alarms it misses, and the spread of
 * the onset error. A correctness measure, not a timing: prints counts, asserts nothing.
 * (Issue 12 session 37: the CI failure of seed aeb051, an onset 27 s early.)
 *
 *   node eval/af-onset-sweep.ts [--seeds 3000] [--devices 0,2]
 */
import { parseArgs } from 'node:util';
import { scenarioFromPhases } from '../device-sim/scenario.ts';
import { replaySimDevice } from './sim-device-replay.ts';

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '3000' }, devices: { type: 'string', default: '0,2' } } });
const SEEDS = Number(values.seeds);
const INDICES = values.devices.split(',').map(Number);
const DURATION_MS = 120_000;
const T0_MS = Date.parse('2026-12-07T22:30:00Z');
const SCENARIO = scenarioFromPhases('3c-processor-kill-af', [
  { kind: 'normal', durationMs: 30_000 }, { kind: 'afib', durationMs: 60_000, hrBpm: 110 }, { kind: 'normal', durationMs: DURATION_MS - 90_000 },
]);
/** Six hex digits, as the fault suite's run ids (a fixed, well-spread sequence). */
const seedOf = (k: number) => ((k * 2654435761) >>> 0).toString(16).padStart(8, '0').slice(0, 6);

const offsetsS: number[] = [];
const early: string[] = [];
const split: string[] = [];
let missed = 0;
for (let k = 0; k < SEEDS; k++) {
  const seed = seedOf(k);
  for (const index of INDICES) {
    const deviceId = `f${seed}-3c-processor-kill-af-d${index}`;
    const { changes, truth } = await replaySimDevice({ deviceId, index, runSeed: seed, staggerMs: 0, t0Ms: T0_MS, devices: 4, scenario: SCENARIO,
      speed: 2, durationMs: DURATION_MS, ecgOnly: index % 2 === 1, paced: false });
    const af = truth.find((e) => e.kind === 'afib')!;
    const onsets = changes.filter((c) => c.kind === 'afib' && c.type === 'onset').map((c) => (c.onsetMs - af.onsetMs) / 1000);
    if (onsets.length === 0) { missed++; continue; }
    offsetsS.push(onsets[0]!);
    if (onsets[0]! < -5) early.push(`${seed} d${index} ${onsets[0]!.toFixed(1)} s`);
    if (onsets.length > 1) split.push(`${seed} d${index}`);
  }
}
offsetsS.sort((a, b) => a - b);
const q = (p: number) => offsetsS[Math.min(offsetsS.length - 1, Math.floor(p * offsetsS.length))]!.toFixed(1);
console.log(`${SEEDS} seeds × devices ${INDICES.join(',')}: ${offsetsS.length + missed} AF episodes, ${missed} without an AF alarm, ${split.length} with more than one`);
console.log(`onset more than 5 s before the scripted AF: ${early.length}${early.length ? ` (${early.join('; ')})` : ''}`);
console.log(`onset error, s (alarm onset − scripted onset): min ${q(0)}, p5 ${q(0.05)}, median ${q(0.5)}, p95 ${q(0.95)}, p99 ${q(0.99)}, max ${q(1)}`);
