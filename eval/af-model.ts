/**
 * AF of the simulator's RR model across its parameter range, with and without the ECG: how much
 * of it the production AF alarm finds on a device that sends firmware beats only (RR intervals)
 * and on one that sends ECG only (beats from the processor's QRS detector, P-wave evidence).
 *
 *   node eval/af-model.ts [--seeds 20] [--tails 85,100,120,140,160] [--rates 90,100,110] [--paced] [--afib '{…AfibParams}']
 *
 * Each case: 3 min of the simulator's sinus rhythm (device-sim/rhythm.ts, its own seeded rate and
 * variability), 180 s of AF (device-sim/afib-rr.ts with the given mean rate and mean 1/γ of the
 * exponential part; the all-alarms scenario's AF length), 4 min of the sinus rhythm again plus the
 * AF alarm's 2-min off-delay (2 min before the off-delay existed); the
 * simulator's ECG (device-sim/ecg-synth.ts) for the ECG-only device. Default criteria, through
 * PatientStream (and EcgBeatSource for the ECG) as the processor runs them. Reported per cell:
 * episodes alarmed, split into more than one alarm, the median onset error, and the median error
 * of the first alarm's end (from the AF's last beat; "–" when no alarm ended within the 2 min). `--paced`: the
 * ECG-only device is a paced patient (ecg-synth.ts: the sinus beats are paced, flagged in
 * `ecg.pace`; the AF is the patient's own), so the AF follows minutes of paced beats.
 *
 * Why: the simulator's AF model was checked against afdb's AF in aggregate (afib-rr.ts), and its
 * 1/γ range 85–160 ms lies inside Hennig et al.'s measured 83–333 ms (γ 3–12 Hz), yet the RR-only
 * operating point was chosen on afdb (leave-one-record-out, EVALUATION.md §2). This shows where
 * along the model's range the RR-only alarm stops finding AF and what the ECG adds. A synthetic
 * model, not patients: nothing is chosen on it.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { AfRrModel } from '../device-sim/afib-rr.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../device-sim/frames.ts';
import { createPrng } from '../device-sim/prng.ts';
import { SinusRhythm } from '../device-sim/rhythm.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { createAfibDetector, type AfibParams } from '../processor/detectors/afib.ts';
import type { EpisodeChange } from '../processor/detectors/detector.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    tails: { type: 'string', default: '85,100,120,140,160' },
    rates: { type: 'string', default: '90,100,110' },
    paced: { type: 'boolean', default: false },
    /** AF parameters to evaluate instead of the production ones (AfibParams, JSON), as in eval/af-splice.ts. */
    afib: { type: 'string' },
  },
});
const afibOverride = values.afib ? (JSON.parse(values.afib) as Partial<AfibParams>) : undefined;
const seeds = Number(values.seeds);
const tails = values.tails.split(',').map(Number);
const rates = values.rates.split(',').map(Number);
if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds: a whole number ≥ 1, got ${values.seeds}`);
if (tails.some((x) => !(x > 0)) || rates.some((x) => !(x >= 60 && x <= 110))) throw new Error('--tails: positive ms; --rates: 60–110 bpm (afib-rr.ts)');

const T0 = Date.UTC(2026, 0, 1);
const FS = 250;
const AF_MS = 180_000;

interface Case {
  beats: TimedBeat[];
  afStartMs: number;
  /** The AF's last beat. */
  afEndMs: number;
  endMs: number;
  seed: number;
}

function makeCase(seed: number, tailMeanMs: number, meanHrBpm: number): Case {
  const sinus = new SinusRhythm({ seed });
  const random = createPrng(seed * 7919 + tailMeanMs * 31 + meanHrBpm);
  const beats: TimedBeat[] = [];
  let t = T0 + 500;
  const sinusFor = (ms: number) => { for (const start = t, end = t + ms; t < end;) { beats.push({ tMs: t, cls: 'N' }); t += sinus.nextRrMs(t - start); } };
  sinusFor(180_000);
  const afStartMs = t;
  const af = new AfRrModel(random, { meanHrBpm, tailMeanMs });
  for (const end = t + AF_MS; t < end;) { beats.push({ tMs: t, cls: 'N', af: true }); t += af.next(); }
  const afEndMs = beats.at(-1)!.tMs;
  // 4 min and the AF alarm's off-delay (afib.ts `offDelayMs`: the end is reported once the rhythm
  // has been non-AF that long after it): on RR only the simulator's sinus rhythm keeps an episode
  // open up to ≈ 2 min after the AF (end err), and that end must still be reported in the run.
  sinusFor(240_000 + DEFAULT_ALARM_CRITERIA.afib.offDelayMs);
  return { beats, afStartMs, afEndMs, endMs: t, seed };
}

/** The AF changes for the case on a device of the given kind. */
function afChanges(c: Case, device: 'rr-only' | 'ecg-only'): EpisodeChange[] {
  const detectors = detectorsForCriteria(DEFAULT_ALARM_CRITERIA).filter((d) => !(afibOverride && d.kind === 'afib'));
  if (afibOverride) detectors.push(createAfibDetector({ minEpisodeMs: DEFAULT_ALARM_CRITERIA.afib.minEpisodeMs, ...afibOverride }));
  const stream = new PatientStream('p', 'd', detectors);
  const durationMs = c.endMs - T0;
  if (device === 'rr-only') {
    const frames = buildFrames(c.beats, { t0Ms: T0, durationMs, battery: 90 }); // no ECG source: beats only
    return [...frames].flatMap((f) => stream.detect(f)).filter((x) => x.kind === 'afib');
  }
  const source = new EcgBeatSource();
  const frames = buildFrames(c.beats, { t0Ms: T0, durationMs, ecg: syntheticEcgSource(c.seed, FS, { paced: values.paced }), ecgFsHz: FS, battery: 90 });
  const ecgOnly = (f: TelemetryFrame): TelemetryFrame => ({ ...f, beats: [], hr: 0 });
  return [...frames].flatMap((f) => detectThroughBeatSource(source, stream, ecgOnly(f)).changes).filter((x) => x.kind === 'afib');
}

const median = (xs: number[]) => (xs.length === 0 ? Number.NaN : [...xs].sort((a, b) => a - b)[xs.length >> 1]!);
const started = performance.now();
console.log(`AF of the simulator's RR model (afib-rr.ts), ${AF_MS / 1000} s episodes between sinus rhythms${values.paced ? ' (paced on the ECG-only device)' : ''}, ${seeds} seeds per cell, default criteria${afibOverride ? `, AF parameters ${values.afib}` : ''}`);
console.log('1/γ ms  HR bpm   RR only: found  split  onset err s  end err s   ECG only: found  split  onset err s  end err s');
const totals = { 'rr-only': 0, 'ecg-only': 0 };
for (const tail of tails) {
  for (const hr of rates) {
    const cells = (['rr-only', 'ecg-only'] as const).map((device) => {
      let found = 0;
      let split = 0;
      const onsetErr: number[] = [];
      const endErr: number[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const c = makeCase(seed, tail, hr);
        const changes = afChanges(c, device);
        const onsets = changes.filter((x) => x.type === 'onset');
        if (onsets.length > 0) { found++; onsetErr.push((onsets[0]!.onsetMs - c.afStartMs) / 1000); }
        if (onsets.length > 1) split++;
        const end = changes.find((x) => x.type === 'end');
        if (end?.type === 'end') endErr.push((end.endMs - c.afEndMs) / 1000);
      }
      totals[device] += found;
      const endText = endErr.length > 0 ? median(endErr).toFixed(1) : '–';
      return `${String(found).padStart(5)}/${seeds}  ${String(split).padStart(5)}  ${median(onsetErr).toFixed(1).padStart(11)}  ${endText.padStart(9)}`;
    });
    console.log(`${String(tail).padStart(6)}  ${String(hr).padStart(6)}   ${cells[0]}   ${cells[1]}`);
  }
}
const all = tails.length * rates.length * seeds;
console.log(`all cells: RR only ${totals['rr-only']}/${all} (${((100 * totals['rr-only']) / all).toFixed(1)} %), ECG only ${totals['ecg-only']}/${all} (${((100 * totals['ecg-only']) / all).toFixed(1)} %); ${((performance.now() - started) / 1000).toFixed(1)} s`);
