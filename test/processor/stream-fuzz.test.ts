/**
 * One stream through StreamRuntime under everything a device and the pipeline can do to it at
 * once, drawn at random from fixed seeds (reproducible): rhythms with ectopic runs and pauses,
 * lead-offs (the patch sometimes put back turned), frame length and sampling rate changed by
 * `config` commands (125–1000 Hz, 100–5000 ms frames), frames without ECG, saturated and flat
 * ECG, lost, duplicated and swapped frames, device clocks stepped back or forward, firmware beats
 * for some stretches or none, and processor restarts through the JSON changelog record with some
 * frames re-delivered. Whatever happens, the processor must not throw ("bad input never crashes a
 * process") and what it hands on must stay well formed: derived beat frames in device-time order
 * with their beats inside them and RR equal to the time since the previous beat, at most one open
 * alert per kind, no end before an onset, a record that parses back, and no clock signal loss
 * (clock-behind.ts) on a stream whose clock never stepped back.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { BeatClass, TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../../device-sim/frames.ts';
import { createPrng } from '../../device-sim/prng.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { iso, T0 } from './helpers.ts';

const SEEDS = 120;
/** The contract's payload bound: at most 2000 samples per frame. */
const MAX_SAMPLES = 2000;

interface Case {
  frames: TelemetryFrame[];
  /** Device clock steps back of more than the reorder tolerance. */
  stepsBack: number;
  restartChance: number;
  options: StreamRuntimeOptions;
}

function drawCase(seed: number): Case {
  const random = createPrng(seed);
  const pick = <T,>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const totalMs = 60_000 + Math.floor(random() * 240_000);
  const timeline: TimedBeat[] = [];
  for (let t = T0; t < T0 + totalMs;) {
    const rrMs = pick([300, 400, 500, 600, 800, 1000, 1400, 2000, 3500, 5000]) * (0.9 + 0.2 * random());
    const cls: BeatClass = random() < 0.15 ? 'V' : random() < 0.05 ? 'S' : 'N';
    for (let n = 1 + Math.floor(random() * 30); n > 0; n--) {
      t += rrMs * (random() < 0.3 ? 0.7 + 0.6 * random() : 1);
      timeline.push({ tMs: Math.round(t), cls });
    }
  }
  const leadOff = Array.from({ length: Math.floor(random() * 4) }, () => {
    const startMs = T0 + Math.floor(random() * totalMs);
    return { startMs, endMs: startMs + pick([200, 1000, 3000, 9000, 12_000, 40_000]) };
  });
  const fit = (s: { frameMs: number; ecgFsHz: number | null }) => (s.ecgFsHz !== null && (s.ecgFsHz * s.frameMs) / 1000 > MAX_SAMPLES ? { ...s, frameMs: 1000 } : s);
  let settings = fit({ frameMs: pick([100, 250, 500, 1000, 2000, 5000]), ecgFsHz: pick([125, 128, 200, 250, 360, 500, 1000]) });
  const config = () => {
    if (random() < 0.01) settings = fit({ frameMs: pick([100, 250, 1000, 5000]), ecgFsHz: random() < 0.1 ? null : pick([125, 250, 360, 500, 1000]) });
    return settings;
  };
  const built = buildFrames(timeline, { t0Ms: T0, durationMs: totalMs, battery: 80, leadOff, ecg: syntheticEcgSource(seed, 250, { paced: random() < 0.2 }), settings: config });
  const beatsFrom = pick(['ECG', 'ECG', 'alternating', 'firmware'] as const);
  let sign = 1;
  let list: TelemetryFrame[] = [];
  for (const built1 of built) {
    let f: TelemetryFrame = built1;
    if (beatsFrom === 'ECG' || (beatsFrom === 'alternating' && Math.floor((f.ts - T0) / 60_000) % 2 === 0)) f = { ...f, beats: [], hr: 0 };
    if (f.leadOff && random() < 0.3) sign = -sign;
    if (f.ecg && sign < 0) f = { ...f, ecg: { ...f.ecg, uV: f.ecg.uV.map((v) => -v) } };
    if (f.ecg && random() < 0.02) f = { ...f, ecg: { ...f.ecg, uV: f.ecg.uV.map((v, i) => (i % 7 === 0 ? (random() < 0.5 ? 32767 : -32768) : v)) } };
    if (f.ecg && random() < 0.01) f = { ...f, ecg: { ...f.ecg, uV: f.ecg.uV.map(() => 0) } };
    if (random() < 0.02) f = { ...f, ecg: undefined };
    if (random() < 0.02) continue;
    list.push(f);
    if (random() < 0.02) list.push(f);
  }
  let shiftMs = 0;
  let stepsBack = 0;
  list = list.map((f) => {
    if (random() < 0.003) {
      const stepMs = pick([-3_600_000, -30_000, -1500, 700, 45_000, 7_200_000]);
      shiftMs += stepMs;
      if (stepMs < -5000) stepsBack++;
    }
    return shiftMs === 0 ? f : { ...f, ts: Math.max(0, f.ts + shiftMs) };
  });
  for (let i = 1; i < list.length; i++) if (random() < 0.01) [list[i - 1], list[i]] = [list[i]!, list[i - 1]!];
  const options: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ...(random() < 0.5 ? { ecgStrips: false } : {}) };
  return { frames: list, stepsBack, restartChance: pick([0, 0.01, 0.05]), options };
}

interface Outcome {
  /** The first broken rule, if any. */
  broken?: string;
  derivedBeats: number;
  clockSignalLoss: boolean;
}

function runCase(seed: number): Outcome {
  const c = drawCase(seed);
  const random = createPrng(seed ^ 0x5eed);
  let rt = new StreamRuntime(c.options);
  let outUntilMs = -Infinity;
  let lastBeatMs: number | undefined;
  const openByKind = new Map<string, string>();
  const out: Outcome = { derivedBeats: 0, clockSignalLoss: false };
  const broken = (why: string): Outcome => ({ ...out, broken: `seed ${seed}: ${why}` });
  for (let i = 0; i < c.frames.length; i++) {
    const f = c.frames[i]!;
    let result;
    try {
      result = rt.ingest(f, iso(f.ts + f.durMs + 50));
    } catch (e) {
      return broken(`frame ${i} threw ${(e as Error).message}`);
    }
    for (const a of result.alerts as Alert[]) {
      if (a.end !== undefined && Date.parse(a.end) < Date.parse(a.onset)) return broken(`${a.kind} ends before its onset`);
      if (a.kind === 'signal_loss' && /stepped back/.test(a.evidence.criterion ?? '')) {
        out.clockSignalLoss = true;
        if (c.stepsBack === 0) return broken(`a clock signal loss at frame ${i} though the clock never stepped back`);
      }
      const open = openByKind.get(a.kind);
      if (a.end === undefined) {
        if (open !== undefined && open !== a.id) return broken(`two open ${a.kind} alerts`);
        openByKind.set(a.kind, a.id);
      } else if (open === a.id) openByKind.delete(a.kind);
    }
    for (const d of result.ecgBeatFrames) {
      if (d.ts < outUntilMs) return broken(`a derived frame at ${d.ts - T0} goes back before ${outUntilMs - T0}`);
      outUntilMs = d.ts + d.durMs;
      for (const b of d.beats) {
        const tMs = d.ts + b.off;
        if (b.off < 0 || b.off >= d.durMs) return broken(`a beat outside its derived frame`);
        if (lastBeatMs !== undefined && tMs <= lastBeatMs) return broken(`a beat at ${tMs - T0} not after the previous one`);
        if (b.rr !== 0 && lastBeatMs !== undefined && Math.abs(b.rr - (tMs - lastBeatMs)) > 1) return broken(`RR ${b.rr} ms, ${tMs - lastBeatMs} ms since the previous beat`);
        lastBeatMs = tMs;
        out.derivedBeats++;
      }
    }
    if (random() < c.restartChance) {
      const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))));
      if (!record) return broken(`the record at frame ${i} does not parse back`);
      rt = StreamRuntime.restore(c.options, record);
      // The successor reads from the committed position: a few frames come again.
      i = Math.max(-1, i - Math.floor(random() * 12));
      outUntilMs = -Infinity;
      lastBeatMs = undefined;
    }
  }
  return out;
}

describe(`one stream under random device and pipeline behaviour (${SEEDS} fixed seeds)`, () => {
  const outcomes = Array.from({ length: SEEDS }, (_, k) => runCase(k + 1));

  it('never throws, and what the processor hands on stays well formed', () => {
    expect(outcomes.flatMap((o) => (o.broken ? [o.broken] : []))).toEqual([]);
  });

  it('the cases reach what they are meant to (beats derived from the ECG, clock signal losses)', () => {
    expect(outcomes.filter((o) => o.derivedBeats > 0).length).toBeGreaterThan(SEEDS / 3);
    expect(outcomes.some((o) => o.clockSignalLoss)).toBe(true);
  });
});
