/**
 * Scripted clinical scenarios: episodes injected into a device's sinus rhythm at known device
 * times, and the ground truth of what was actually generated.
 *
 * Episode kinds and their generated beats (thresholds from fhir-and-alarms.md §5, which takes
 * them from the PhysioNet/CinC Challenge 2015 alarm definitions):
 *  - `extreme_brady`: RR 1650–2000 ms (HR ≈ 30–36 bpm), i.e. every RR above 1500 ms (HR < 40).
 *  - `extreme_tachy`: RR 333–375 ms (HR ≈ 160–180 bpm), i.e. every RR below 60000/140 ≈ 428.6 ms (HR > 140).
 *  - `asystole`: no beat for exactly `durationMs` (default 6 s, above the 4 s asystole criterion).
 * Normal rhythm between episodes stays within RR 500–1300 ms (rhythm.ts), so no threshold is
 * crossed outside an episode.
 *
 * Ground truth definitions (device time, ms since the Unix epoch):
 *  - extreme_brady: onsetMs = time of the first beat at or after the scheduled start whose RR
 *    exceeds 1500 ms; endMs = time of the last beat of that unbroken run of RR > 1500 ms.
 *  - extreme_tachy: the same with RR < 60000/140 ms.
 *  - asystole: onsetMs = time of the last beat before the silence; endMs = time of the first
 *    beat after it (endMs − onsetMs = the scripted duration).
 *  - endMs is null when the run or silence had not ended within the simulated time.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PulsebridgeError } from '../platform/errors.ts';
import type { TimedBeat } from './frames.ts';
import { gaussian, uniform } from './prng.ts';
import { SinusRhythm, type SinusRhythmParams } from './rhythm.ts';

export const EPISODE_KINDS = ['extreme_brady', 'extreme_tachy', 'asystole'] as const;
export type EpisodeKind = (typeof EPISODE_KINDS)[number];

/** RR above this is HR < 40 bpm: the extreme bradycardia criterion (PhysioNet/CinC 2015). */
export const EXTREME_BRADY_RR_MS = 1500;
/** RR below this is HR > 140 bpm: the extreme tachycardia criterion (PhysioNet/CinC 2015). */
export const EXTREME_TACHY_RR_MS = 60_000 / 140;

/** Normal rhythm a device shows before its first episode of a shifted repeating scenario, ms. */
const RUN_IN_MS = 10_000;

/** Default episode heart rates, bpm (ranges drawn from per occurrence). */
const DEFAULT_HR_RANGE: Record<'extreme_brady' | 'extreme_tachy', [number, number]> = {
  extreme_brady: [30, 36],
  extreme_tachy: [160, 180],
};
/** RR bounds of generated episode beats, ms: inside the brief's ranges and clear of the thresholds. */
const EPISODE_RR_BOUNDS_MS: Record<'extreme_brady' | 'extreme_tachy', [number, number]> = {
  extreme_brady: [1650, 2000],
  extreme_tachy: [333, 375],
};

/** One scripted episode, relative to the device's start. */
export interface ScenarioEpisode {
  kind: EpisodeKind;
  /** Scheduled start, ms after the device's start. */
  startMs: number;
  /** brady/tachy: how long beats come at the episode rate; asystole: length of the silence. ms. */
  durationMs: number;
  /** Mean heart rate during a brady/tachy episode (default: drawn from 30–36 or 160–180). */
  hrBpm?: number;
}

/** A scenario: episodes, optionally repeating every `cycleMs`. */
export interface Scenario {
  name: string;
  episodes: ScenarioEpisode[];
  /** When set, the episodes repeat with this period (ms). */
  cycleMs?: number;
}

/** One episode that happened, as written to the ground-truth file. */
export interface GroundTruthEpisode {
  deviceId: string;
  kind: EpisodeKind;
  onsetMs: number;
  endMs: number | null;
}

const invalidScenario = (source: string, what: string, cause?: unknown): PulsebridgeError =>
  new PulsebridgeError('PB_SIM_FAILED', `Scenario ${source} is invalid: ${what}.`, { cause, details: { source } });

/** Checks ranges and ordering; returns the scenario frozen. */
export function validateScenario(scenario: Scenario, source = scenario.name): Readonly<Scenario> {
  let prevEnd = 0;
  scenario.episodes.forEach((e, i) => {
    const where = `episode ${i + 1} (${e.kind})`;
    if (!Number.isFinite(e.startMs) || e.startMs < 0) throw invalidScenario(source, `${where} starts at ${e.startMs} ms`);
    if (!Number.isFinite(e.durationMs) || e.durationMs <= 0) throw invalidScenario(source, `${where} lasts ${e.durationMs} ms`);
    if (e.startMs < prevEnd) throw invalidScenario(source, `${where} starts before the previous episode ends`);
    if (e.kind === 'asystole' && e.durationMs < 2 * 1300) {
      throw invalidScenario(source, `${where} must last at least 2600 ms to stand out from the slowest normal RR (1300 ms)`);
    }
    if (e.hrBpm !== undefined) {
      if (e.kind === 'extreme_brady' && !(e.hrBpm >= 20 && e.hrBpm < 40)) throw invalidScenario(source, `${where} needs hrBpm from 20 to under 40, got ${e.hrBpm}`);
      if (e.kind === 'extreme_tachy' && !(e.hrBpm > 140 && e.hrBpm <= 250)) throw invalidScenario(source, `${where} needs hrBpm above 140 up to 250, got ${e.hrBpm}`);
    }
    // A brady run may overrun its window by one RR (≤ 2000 ms) and needs a normal beat after it.
    prevEnd = e.startMs + e.durationMs + (e.kind === 'asystole' ? 0 : 2000);
  });
  if (scenario.cycleMs !== undefined && !(scenario.cycleMs >= prevEnd)) {
    throw invalidScenario(source, `cycleMs ${scenario.cycleMs} is shorter than its episodes (${prevEnd} ms)`);
  }
  return Object.freeze({ ...scenario, episodes: scenario.episodes.map((e) => Object.freeze({ ...e })) });
}

/** Timings of {@link clinicalBasicsScenario}. */
export interface ClinicalBasicsTimings {
  /** Normal rhythm before each episode and at the end, ms (default 60 000). */
  normalMs?: number;
  /** Extreme bradycardia, ms (default 20 000). */
  bradyMs?: number;
  /** Extreme tachycardia, ms (default 20 000). */
  tachyMs?: number;
  /** Asystole, ms (default 6000). */
  asystoleMs?: number;
  /** Repeat the whole sequence (default true). */
  repeat?: boolean;
}

/**
 * The built-in `clinical-basics` scenario: normal, extreme brady, normal, extreme tachy, normal,
 * asystole, normal (then again from the start when `repeat`).
 */
export function clinicalBasicsScenario(timings: ClinicalBasicsTimings = {}): Readonly<Scenario> {
  return scenarioFromPhases('clinical-basics', [
    { kind: 'normal', durationMs: timings.normalMs ?? 60_000 },
    { kind: 'extreme_brady', durationMs: timings.bradyMs ?? 20_000 },
    { kind: 'normal', durationMs: timings.normalMs ?? 60_000 },
    { kind: 'extreme_tachy', durationMs: timings.tachyMs ?? 20_000 },
    { kind: 'normal', durationMs: timings.normalMs ?? 60_000 },
    { kind: 'asystole', durationMs: timings.asystoleMs ?? 6000 },
    { kind: 'normal', durationMs: timings.normalMs ?? 60_000 },
  ], timings.repeat ?? true);
}

/** A scenario phase: a stretch of normal rhythm or an episode. */
export interface ScenarioPhase {
  kind: 'normal' | EpisodeKind;
  durationMs: number;
  hrBpm?: number;
}

/** Builds a scenario from consecutive phases; with `repeat` the sequence loops. */
export function scenarioFromPhases(name: string, phases: readonly ScenarioPhase[], repeat = false): Readonly<Scenario> {
  const episodes: ScenarioEpisode[] = [];
  let at = 0;
  for (const p of phases) {
    if (p.kind !== 'normal') episodes.push({ kind: p.kind, startMs: at, durationMs: p.durationMs, ...(p.hrBpm === undefined ? {} : { hrBpm: p.hrBpm }) });
    at += p.durationMs;
  }
  return validateScenario(repeat ? { name, episodes, cycleMs: at } : { name, episodes });
}

/** Scenario with no episodes: normal sinus rhythm only. */
export const NORMAL_SCENARIO: Readonly<Scenario> = Object.freeze({ name: 'normal', episodes: [] });

/** Built-in scenarios by name. */
export const BUILTIN_SCENARIOS: Readonly<Record<string, () => Readonly<Scenario>>> = {
  'clinical-basics': () => clinicalBasicsScenario(),
  normal: () => NORMAL_SCENARIO,
};

const positiveMs = z.number().int().positive();
const phaseSchema = z.object({ kind: z.enum(['normal', ...EPISODE_KINDS]), durationMs: positiveMs, hrBpm: z.number().positive().optional() });
const episodeSchema = z.object({ kind: z.enum(EPISODE_KINDS), startMs: z.number().int().nonnegative(), durationMs: positiveMs, hrBpm: z.number().positive().optional() });
const phasesFileSchema = z.object({ name: z.string().min(1).optional(), phases: z.array(phaseSchema).min(1), repeat: z.boolean().optional() }).strict();
const episodesFileSchema = z.object({ name: z.string().min(1).optional(), episodes: z.array(episodeSchema), cycleMs: positiveMs.optional() }).strict();
/** A scenario file: either consecutive `phases` (optionally `repeat`) or `episodes` at absolute offsets (optionally `cycleMs`). */
export const scenarioFileSchema = z.union([phasesFileSchema, episodesFileSchema]);

/**
 * Parses the JSON text of a scenario file, e.g.
 * `{"name":"brady-only","phases":[{"kind":"normal","durationMs":30000},{"kind":"extreme_brady","durationMs":20000,"hrBpm":33}]}`
 * or `{"episodes":[{"kind":"asystole","startMs":90000,"durationMs":8000}],"cycleMs":300000}`.
 * @throws PulsebridgeError `PB_SIM_FAILED` naming the invalid field
 */
export function parseScenario(text: string, source = 'scenario'): Readonly<Scenario> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw invalidScenario(source, `it is not JSON (${(cause as Error).message})`, cause);
  }
  // Validate against the form the file chose, so errors name its fields rather than "no union member matched".
  const hasPhases = typeof json === 'object' && json !== null && 'phases' in json;
  const r = (hasPhases ? phasesFileSchema : episodesFileSchema).safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw invalidScenario(source, issues);
  }
  const name = r.data.name ?? source;
  if ('phases' in r.data) return scenarioFromPhases(name, r.data.phases, r.data.repeat ?? false);
  return validateScenario({ name, episodes: r.data.episodes, ...(r.data.cycleMs === undefined ? {} : { cycleMs: r.data.cycleMs }) }, source);
}

/** Reads a scenario file. */
export async function loadScenarioFile(filePath: string): Promise<Readonly<Scenario>> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (cause) {
    throw invalidScenario(filePath, `the file could not be read (${(cause as Error).message})`, cause);
  }
  return parseScenario(text, filePath);
}

/**
 * A built-in scenario by name, or a scenario file by path (anything that is not a built-in name).
 */
export async function resolveScenario(nameOrPath: string): Promise<Readonly<Scenario>> {
  const builtin = BUILTIN_SCENARIOS[nameOrPath];
  return builtin ? builtin() : loadScenarioFile(nameOrPath);
}

/** One scheduled occurrence of an episode, in absolute device time. */
interface Occurrence {
  kind: EpisodeKind;
  startMs: number;
  endMs: number;
  durationMs: number;
  hrBpm: number | undefined;
  /** Mean RR of this occurrence (brady/tachy), drawn once. */
  meanRrMs: number;
  done: boolean;
}

/** Options for {@link ScenarioTimeline}. */
export interface ScenarioTimelineOptions {
  deviceId: string;
  /** Seed of the device's rhythm and episode randomness. */
  seed: number;
  /** Device time at which the device starts, ms since the Unix epoch. */
  t0Ms: number;
  scenario?: Readonly<Scenario>;
  /**
   * Shifts this device's episodes later by this many ms (to spread alarms over devices). For a
   * repeating scenario the shift is taken modulo the cycle, and the cycle before it fills the
   * start, so every device sees episodes from the first cycle on.
   */
  scenarioOffsetMs?: number;
  rhythmParams?: Partial<SinusRhythmParams>;
}

/**
 * One device's beat timeline: its sinus rhythm with the scenario's episodes, and the ground
 * truth of the beats it has produced so far.
 */
export class ScenarioTimeline {
  readonly deviceId: string;
  readonly rhythm: SinusRhythm;
  readonly #opts: ScenarioTimelineOptions;
  readonly #queue: Occurrence[] = [];
  #nextCycle: number;
  readonly #offsetMs: number;
  readonly #tracker: GroundTruthTracker;

  constructor(options: ScenarioTimelineOptions) {
    this.deviceId = options.deviceId;
    this.#opts = options;
    const cycleMs = options.scenario?.cycleMs;
    this.#offsetMs = cycleMs === undefined ? (options.scenarioOffsetMs ?? 0) : (options.scenarioOffsetMs ?? 0) % cycleMs;
    this.#nextCycle = cycleMs === undefined || this.#offsetMs === 0 ? 0 : -1;
    this.rhythm = new SinusRhythm({ seed: options.seed, ...(options.rhythmParams ? { params: options.rhythmParams } : {}) });
    this.#tracker = new GroundTruthTracker(options.deviceId);
  }

  /** Makes sure at least two future occurrences are queued (expanding repeating cycles lazily). */
  #fill(): void {
    const sc = this.#opts.scenario;
    if (!sc || sc.episodes.length === 0) return;
    while (this.#queue.filter((o) => !o.done).length < 2) {
      if (sc.cycleMs === undefined && this.#nextCycle > 0) return;
      const base = this.#opts.t0Ms + this.#offsetMs + this.#nextCycle * (sc.cycleMs ?? 0);
      this.#nextCycle++;
      for (const e of sc.episodes) {
        // Episodes of the shifted-in previous cycle that would start before the device has a few
        // seconds of normal rhythm are left out.
        if (base + e.startMs < this.#opts.t0Ms + RUN_IN_MS) continue;
        let meanRrMs = 0;
        if (e.kind !== 'asystole') {
          const [lo, hi] = DEFAULT_HR_RANGE[e.kind];
          meanRrMs = 60_000 / (e.hrBpm ?? uniform(() => this.rhythm.random(), lo, hi));
        }
        const occ: Occurrence = { kind: e.kind, startMs: base + e.startMs, endMs: base + e.startMs + e.durationMs, durationMs: e.durationMs, hrBpm: e.hrBpm, meanRrMs, done: false };
        this.#queue.push(occ);
        this.#tracker.schedule(occ);
      }
    }
  }

  #episodeRrMs(o: Occurrence): number {
    if (o.kind === 'asystole') return o.durationMs;
    // 2 % beat-to-beat jitter around the occurrence's mean, kept inside the episode's RR bounds
    // and strictly on the episode's side of its threshold.
    const rr = o.meanRrMs * (1 + 0.02 * gaussian(() => this.rhythm.random()));
    let [lo, hi] = o.hrBpm === undefined ? EPISODE_RR_BOUNDS_MS[o.kind] : [o.meanRrMs * 0.95, o.meanRrMs * 1.05];
    if (o.kind === 'extreme_brady') lo = Math.max(lo, EXTREME_BRADY_RR_MS + 1);
    else hi = Math.min(hi, Math.floor(EXTREME_TACHY_RR_MS));
    return Math.round(Math.min(hi, Math.max(lo, rr)));
  }

  /** The device's beats, endless; every beat is also recorded for the ground truth. */
  *beats(): Generator<TimedBeat> {
    const t0 = this.#opts.t0Ms;
    let t = t0 + Math.floor(this.rhythm.random() * this.rhythm.meanRrMs);
    for (;;) {
      const beat: TimedBeat = { tMs: t, cls: 'N' };
      this.#tracker.observe(beat);
      yield beat;
      this.#fill();
      // Occurrences that are over (brady/tachy past their window, asystole already placed) retire.
      while (this.#queue[0] && (this.#queue[0].done || (this.#queue[0].kind !== 'asystole' && this.#queue[0].endMs <= t))) this.#queue.shift();
      const occ = this.#queue[0];
      let rr: number;
      if (occ && occ.kind !== 'asystole' && occ.startMs <= t && t < occ.endMs) rr = this.#episodeRrMs(occ);
      else rr = this.rhythm.nextRrMs(t - t0);
      if (occ && occ.kind === 'asystole' && t + rr >= occ.startMs) {
        // The silence replaces the next beat: exactly `durationMs` from the last beat.
        rr = occ.durationMs;
        occ.done = true;
      }
      t += rr;
    }
  }

  /**
   * Episodes whose onset lies before `untilMs` (usually the end of the simulated time), in
   * onset order. An episode still running at `untilMs` has `endMs: null`.
   */
  groundTruth(untilMs: number): GroundTruthEpisode[] {
    return this.#tracker.episodes(untilMs);
  }
}

interface TrackedOccurrence {
  occ: Occurrence;
  onsetMs?: number;
  lastMs?: number;
  endMs?: number;
  closed: boolean;
}

/**
 * Finds each scheduled episode in the beats actually produced, by the definitions at the top of
 * this file. Beats must be observed in time order.
 */
class GroundTruthTracker {
  readonly #deviceId: string;
  readonly #items: TrackedOccurrence[] = [];
  #current = 0;
  #prevMs: number | undefined;

  constructor(deviceId: string) {
    this.#deviceId = deviceId;
  }

  schedule(occ: Occurrence): void {
    this.#items.push({ occ, closed: false });
  }

  observe(beat: TimedBeat): void {
    const prev = this.#prevMs;
    this.#prevMs = beat.tMs;
    if (prev === undefined) return;
    const rr = beat.tMs - prev;
    // One beat can close one episode and open the next (e.g. brady straight into tachy).
    for (let guard = 0; guard < 2; guard++) {
      const item = this.#items[this.#current];
      if (!item) return;
      const { occ } = item;
      if (occ.kind === 'asystole') {
        if (beat.tMs >= occ.startMs && rr >= occ.durationMs) {
          item.onsetMs = prev;
          item.endMs = beat.tMs;
          this.#close();
        }
        return;
      }
      const qualifies = occ.kind === 'extreme_brady' ? rr > EXTREME_BRADY_RR_MS : rr < EXTREME_TACHY_RR_MS;
      if (item.onsetMs === undefined) {
        if (beat.tMs >= occ.startMs && qualifies) {
          item.onsetMs = beat.tMs;
          item.lastMs = beat.tMs;
        } else if (beat.tMs > occ.endMs + 2 * EPISODE_RR_BOUNDS_MS.extreme_brady[1]) {
          this.#close(); // never happened (cannot occur with validated scenarios)
          continue;
        }
        return;
      }
      if (qualifies) {
        item.lastMs = beat.tMs;
        return;
      }
      item.endMs = item.lastMs;
      this.#close();
    }
  }

  #close(): void {
    const item = this.#items[this.#current];
    if (item) item.closed = true;
    this.#current++;
  }

  episodes(untilMs: number): GroundTruthEpisode[] {
    return this.#items
      .filter((i) => i.onsetMs !== undefined && i.onsetMs < untilMs)
      .map((i) => ({
        deviceId: this.#deviceId,
        kind: i.occ.kind,
        onsetMs: i.onsetMs as number,
        endMs: i.endMs !== undefined && i.endMs < untilMs ? i.endMs : null,
      }));
  }
}
