/**
 * Scripted clinical scenarios: episodes injected into a device's sinus rhythm at known device
 * times. What each episode kind generates is described in episode-rhythms.ts (rate and
 * ventricular kinds), afib-rr.ts (AF) and scenario-timeline.ts (silences and the frame kinds);
 * the ground truth of what was actually generated, and its definitions, in ground-truth.ts.
 *
 * Episode kinds (episode-kinds.ts) and what `durationMs` means for each:
 *  - extreme_brady, brady, tachy, extreme_tachy, afib: beats come at the episode's rhythm while
 *    the previous beat lies in [start, start + durationMs);
 *  - asystole, pause: the silence itself — the beat due at or after the start is replaced by
 *    one `durationMs` after the last beat (asystole ≥ 4 s; pause 3 s to under 4 s, so it is a
 *    pause and not an asystole);
 *  - vt: a run of `beats` ventricular beats (default: as many as fit in `durationMs` at the
 *    drawn rate, at least 5) from the first beat at or after the start; nsvt: the same with
 *    1–4 beats (default 3 or 4), a distractor below the 5-beat VT criterion;
 *  - lead_off: frames overlapping [start, start + durationMs) are flagged leadOff, no beats; one
 *    shorter than the lead-off alarm's 10 s is a patient adjusting the patch (its criterion is not
 *    met: no lead-off alarm is due, and the rhythm's alarms must not come of it either); with
 *    `reversed` the patch goes back on turned through 180°, so the ECG after it has the opposite sign;
 *  - low_battery: over the window the battery drains to 10 % and is charged back;
 *  - signal_loss: frames starting in the window are not published then; with `backlog`
 *    (default) they are sent when the device resumes, as a buffering device would, else dropped.
 * Normal rhythm in between stays within RR 500–1200 ms (rhythm.ts), clear of every criterion.
 */
import { access, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PulsebridgeError } from '../platform/errors.ts';
import { AFIB_MIN_EPISODE_MS, ASYSTOLE_MIN_GAP_MS, PAUSE_MIN_RR_MS, SIGNAL_LOSS_SILENCE_MS, VT } from './alarm-criteria.ts';
import { AF_HR_RANGE_BPM } from './afib-rr.ts';
import { EPISODE_KINDS, isFrameEpisodeKind, type EpisodeKind } from './episode-kinds.ts';
import { isRateEpisodeKind, RATE_EPISODES, VENTRICULAR_HR_ALLOWED_BPM, VENTRICULAR_HR_RANGE_BPM } from './episode-rhythms.ts';
import type { SimSpeed } from './pacing.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';

export { EPISODE_KINDS, type EpisodeKind } from './episode-kinds.ts';
export { EXTREME_BRADY_RR_MS, EXTREME_TACHY_RR_MS } from './alarm-criteria.ts';
export type { GroundTruthEpisode } from './ground-truth.ts';

/**
 * Normal rhythm every device shows before its first episode, ms: the processor has beats to
 * measure from (the QRS detector's learning, the RR of the consecutive-beat criteria). A scenario
 * whose episode starts sooner is refused; an episode of a shifted repeating cycle that would land
 * there is left out (scenario-timeline.ts).
 */
export const RUN_IN_MS = 10_000;

/** One scripted episode, relative to the device's start. */
export interface ScenarioEpisode {
  kind: EpisodeKind;
  /** Scheduled start, ms after the device's start. */
  startMs: number;
  /** See the file comment for what it means per kind. ms. */
  durationMs: number;
  /** Mean heart rate of a rate, ventricular or AF episode (default: drawn from the kind's range). */
  hrBpm?: number;
  /** vt, nsvt: ventricular beats in the run. */
  beats?: number;
  /** signal_loss: send the withheld frames on resuming (default true) or drop them. */
  backlog?: boolean;
  /**
   * lead_off: the patch goes back on turned through 180° (a two-electrode patch: the same lead,
   * inverted), so from the episode's end the ECG has the opposite sign, until another reversed
   * lead_off turns it back. Beats and their classes are unchanged (firmware knows its own beats).
   */
  reversed?: boolean;
}

/** A scenario: episodes, optionally repeating every `cycleMs`. */
export interface Scenario {
  name: string;
  episodes: ScenarioEpisode[];
  /** When set, the episodes repeat with this period (ms). */
  cycleMs?: number;
}

const invalidScenario = (source: string, what: string, cause?: unknown): PulsebridgeError =>
  new PulsebridgeError('PB_SIM_FAILED', `Scenario ${source} is invalid: ${what}.`, { cause, details: { source } });

/** Slowest RR an episode may have, ms (for "long enough for the criterion" checks). */
function slowestRrMs(e: ScenarioEpisode): number {
  if (isRateEpisodeKind(e.kind)) return e.hrBpm === undefined ? RATE_EPISODES[e.kind].rrBoundsMs[1] : (60_000 / e.hrBpm) * 1.05;
  return 60_000 / (e.hrBpm ?? VENTRICULAR_HR_RANGE_BPM[0]) * 1.02;
}

function checkRate(e: ScenarioEpisode, where: string, source: string): void {
  if (e.hrBpm === undefined) return;
  const hr = e.hrBpm;
  let ok: boolean;
  let range: string;
  if (isRateEpisodeKind(e.kind)) {
    const a = RATE_EPISODES[e.kind].hrAllowedBpm;
    ok = (a.minInclusive ? hr >= a.min : hr > a.min) && (a.maxInclusive ? hr <= a.max : hr < a.max);
    range = `${a.minInclusive ? 'from' : 'above'} ${a.min} ${a.maxInclusive ? 'up to' : 'to under'} ${a.max}`;
  } else if (e.kind === 'vt' || e.kind === 'nsvt') {
    ok = hr > VENTRICULAR_HR_ALLOWED_BPM.min && hr <= VENTRICULAR_HR_ALLOWED_BPM.max;
    range = `above ${VENTRICULAR_HR_ALLOWED_BPM.min} up to ${VENTRICULAR_HR_ALLOWED_BPM.max}`;
  } else if (e.kind === 'afib') {
    ok = hr >= 60 && hr <= AF_HR_RANGE_BPM[1];
    range = `from 60 up to ${AF_HR_RANGE_BPM[1]}`;
  } else {
    throw invalidScenario(source, `${where} takes no hrBpm`);
  }
  if (!ok) throw invalidScenario(source, `${where} needs hrBpm ${range}, got ${hr}`);
}

/** Checks one episode against its kind's rules (see the file comment). */
function checkEpisode(e: ScenarioEpisode, where: string, source: string): void {
  if (!Number.isFinite(e.startMs) || e.startMs < 0) throw invalidScenario(source, `${where} starts at ${e.startMs} ms`);
  if (!Number.isFinite(e.durationMs) || e.durationMs <= 0) throw invalidScenario(source, `${where} lasts ${e.durationMs} ms`);
  checkRate(e, where, source);
  if (e.beats !== undefined && e.kind !== 'vt' && e.kind !== 'nsvt') throw invalidScenario(source, `${where} takes no beats (only vt and nsvt do)`);
  if (e.backlog !== undefined && e.kind !== 'signal_loss') throw invalidScenario(source, `${where} takes no backlog (only signal_loss does)`);
  if (e.reversed !== undefined && e.kind !== 'lead_off') throw invalidScenario(source, `${where} takes no reversed (only lead_off does)`);
  const atLeast = (ms: number, why: string) => {
    if (e.durationMs < ms) throw invalidScenario(source, `${where} must last at least ${Math.ceil(ms)} ms ${why}`);
  };
  switch (e.kind) {
    case 'asystole':
      atLeast(ASYSTOLE_MIN_GAP_MS, '(the asystole criterion; a shorter silence is a pause)');
      break;
    case 'pause':
      atLeast(PAUSE_MIN_RR_MS, '(the pause criterion)');
      if (e.durationMs >= ASYSTOLE_MIN_GAP_MS) throw invalidScenario(source, `${where} must last under ${ASYSTOLE_MIN_GAP_MS} ms (longer is an asystole)`);
      break;
    case 'afib':
      atLeast(AFIB_MIN_EPISODE_MS, '(an AF episode of 30 s is diagnostic, ESC 2016)');
      break;
    case 'lead_off':
      // Any length: under the lead-off alarm's delay (alarm-criteria.ts LEAD_OFF_MIN_MS) no alarm is due.
      break;
    case 'low_battery':
      atLeast(10_000, '(time to drain and recharge)');
      break;
    case 'signal_loss':
      atLeast(SIGNAL_LOSS_SILENCE_MS, '(the signal-loss delay)');
      break;
    case 'vt':
    case 'nsvt': {
      const [min, max] = e.kind === 'vt' ? [VT.minBeats, 1000] : [1, VT.minBeats - 1];
      if (e.beats !== undefined && !(Number.isInteger(e.beats) && e.beats >= min && e.beats <= max)) {
        throw invalidScenario(source, `${where} needs beats from ${min} to ${max}, got ${e.beats}`);
      }
      const beats = e.beats ?? (e.kind === 'vt' ? VT.minBeats : VT.minBeats - 1);
      atLeast(beats * slowestRrMs(e), `for ${beats} ventricular beats at its slowest rate`);
      break;
    }
    default:
      atLeast(RATE_EPISODES[e.kind].criterionBeats * slowestRrMs(e), `for the ${RATE_EPISODES[e.kind].criterionBeats} consecutive beats of the ${e.kind} criterion`);
  }
}

/** How far an episode's effect may reach past `startMs + durationMs`, ms. */
function overrunMs(e: ScenarioEpisode): number {
  if (e.kind === 'asystole' || e.kind === 'pause' || e.kind === 'low_battery') return 0;
  // Frame kinds are aligned to frames (≤ 5 s); beat kinds may run one RR past their window
  // (≤ 2 s), a ventricular run also by the beat before it starts and its jitter.
  if (isFrameEpisodeKind(e.kind)) return 5000;
  return 2000 + (e.kind === 'vt' || e.kind === 'nsvt' ? Math.ceil(e.durationMs * 0.05) : 0);
}

/** Checks ranges and ordering; returns the scenario frozen. */
export function validateScenario(scenario: Scenario, source = scenario.name): Readonly<Scenario> {
  let prevEnd = 0;
  scenario.episodes.forEach((e, i) => {
    const where = `episode ${i + 1} (${e.kind})`;
    if (!(EPISODE_KINDS as readonly string[]).includes(e.kind)) throw invalidScenario(source, `${where} is not a known kind`);
    checkEpisode(e, where, source);
    // Until session 32 such an episode was left out without a word: no episode, no ground truth.
    if (e.startMs < RUN_IN_MS) throw invalidScenario(source, `${where} starts at ${e.startMs} ms: episodes need ${RUN_IN_MS} ms of normal rhythm before them (the device's run-in)`);
    if (e.startMs < prevEnd) throw invalidScenario(source, `${where} starts before the previous episode ends`);
    prevEnd = e.startMs + e.durationMs + overrunMs(e);
  });
  if (scenario.cycleMs !== undefined && !(scenario.cycleMs >= prevEnd)) {
    throw invalidScenario(source, `cycleMs ${scenario.cycleMs} is shorter than its episodes (${prevEnd} ms)`);
  }
  return Object.freeze({ ...scenario, episodes: scenario.episodes.map((e) => Object.freeze({ ...e })) });
}

/** A scenario phase: a stretch of normal rhythm or an episode. */
export interface ScenarioPhase {
  kind: 'normal' | EpisodeKind;
  durationMs: number;
  hrBpm?: number;
  beats?: number;
  backlog?: boolean;
  reversed?: boolean;
}

/** Builds a scenario from consecutive phases; with `repeat` the sequence loops. */
export function scenarioFromPhases(name: string, phases: readonly ScenarioPhase[], repeat = false): Readonly<Scenario> {
  const episodes: ScenarioEpisode[] = [];
  let at = 0;
  for (const p of phases) {
    if (p.kind !== 'normal') {
      episodes.push({
        kind: p.kind, startMs: at, durationMs: p.durationMs,
        ...(p.hrBpm === undefined ? {} : { hrBpm: p.hrBpm }),
        ...(p.beats === undefined ? {} : { beats: p.beats }),
        ...(p.backlog === undefined ? {} : { backlog: p.backlog }),
        ...(p.reversed === undefined ? {} : { reversed: p.reversed }),
      });
    }
    at += p.durationMs;
  }
  return validateScenario(repeat ? { name, episodes, cycleMs: at } : { name, episodes });
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

/**
 * Wall-clock silence an all-alarms signal loss aims for: the 10 s signal-loss delay plus 5 s
 * for the processor's timer and the frame window.
 */
export const SIGNAL_LOSS_TARGET_WALL_MS = SIGNAL_LOSS_SILENCE_MS + 5000;

/** Options of {@link allAlarmsScenario}. */
export interface AllAlarmsOptions {
  /**
   * Device time the signal loss lasts, ms (default 20 000). Signal loss is detected on wall-clock
   * time, so at N× speed it must last ≥ 15 s × N of device time to be seen: see {@link builtinScenario}.
   */
  signalLossMs?: number;
  /**
   * AF episode length, ms (default 180 000). The AF detector raises realistic AF 32–143 s after
   * its onset (median 64 s in the 100-device run of scripts/sim-100.ts; EVALUATION.md), so a
   * much shorter episode can be over before it could be alarmed.
   */
  afibMs?: number;
  /** Normal rhythm between episodes, ms (default 15 000). */
  normalMs?: number;
  /** Repeat the sequence (default true). */
  repeat?: boolean;
}

/**
 * The built-in `all-alarms` scenario: every episode kind once, normal rhythm between, repeating
 * (≈ 11 min per cycle at the defaults). AF comes first after a run-in and is followed by 90 s of
 * normal rhythm, time the AF alarm needs to confirm its end before anything else happens.
 */
export function allAlarmsScenario(options: AllAlarmsOptions = {}): Readonly<Scenario> {
  const normal = { kind: 'normal' as const, durationMs: options.normalMs ?? 15_000 };
  return scenarioFromPhases('all-alarms', [
    { kind: 'normal', durationMs: 20_000 },
    { kind: 'afib', durationMs: options.afibMs ?? 180_000 },
    { kind: 'normal', durationMs: 90_000 },
    { kind: 'pause', durationMs: 3400 },
    normal,
    // The limit alarms wait 30 s after a sudden onset (issue 12, alarm-criteria.ts): a brady at 42
    // bpm drops abruptly from any normal rhythm here (≥ 25 % longer intervals; at the default
    // 42–48 bpm a 48 bpm brady from 60 bpm would not), every tachy at 125–135 bpm rises abruptly.
    { kind: 'brady', durationMs: 45_000, hrBpm: 42 },
    normal,
    { kind: 'tachy', durationMs: 40_000 },
    normal,
    { kind: 'vt', durationMs: 3000 },
    { kind: 'normal', durationMs: 12_000 },
    { kind: 'nsvt', durationMs: 3000 },
    { kind: 'normal', durationMs: 12_000 },
    { kind: 'extreme_brady', durationMs: 15_000 },
    normal,
    { kind: 'extreme_tachy', durationMs: 12_000 },
    normal,
    { kind: 'asystole', durationMs: 6000 },
    normal,
    { kind: 'lead_off', durationMs: 20_000 },
    normal,
    { kind: 'low_battery', durationMs: 30_000 },
    normal,
    { kind: 'signal_loss', durationMs: options.signalLossMs ?? 20_000 },
    normal,
  ], options.repeat ?? true);
}

/** Scenario with no episodes: normal sinus rhythm only. */
export const NORMAL_SCENARIO: Readonly<Scenario> = Object.freeze({ name: 'normal', episodes: [] });

/** What a built-in scenario may adapt to. */
export interface BuiltinScenarioOptions {
  /** The run's speed: all-alarms lengthens its signal loss to 15 s of wall-clock time at this speed. */
  speed?: SimSpeed;
}

/** Built-in scenarios by name. */
export const BUILTIN_SCENARIOS: Readonly<Record<string, (options?: BuiltinScenarioOptions) => Readonly<Scenario>>> = {
  'clinical-basics': () => clinicalBasicsScenario(),
  'all-alarms': (o = {}) => allAlarmsScenario({
    signalLossMs: typeof o.speed === 'number' ? Math.max(20_000, Math.ceil((SIGNAL_LOSS_TARGET_WALL_MS * o.speed) / 1000) * 1000) : 20_000,
  }),
  normal: () => NORMAL_SCENARIO,
};

/** A built-in scenario by name, or undefined. */
export function builtinScenario(name: string, options: BuiltinScenarioOptions = {}): Readonly<Scenario> | undefined {
  return Object.hasOwn(BUILTIN_SCENARIOS, name) ? BUILTIN_SCENARIOS[name]!(options) : undefined;
}

const positiveMs = z.number().int().positive();
const episodeFields = { hrBpm: z.number().positive().optional(), beats: z.number().int().positive().optional(), backlog: z.boolean().optional(), reversed: z.boolean().optional() };
const phaseSchema = z.object({ kind: z.enum(['normal', ...EPISODE_KINDS]), durationMs: positiveMs, ...episodeFields });
const episodeSchema = z.object({ kind: z.enum(EPISODE_KINDS), startMs: z.number().int().nonnegative(), durationMs: positiveMs, ...episodeFields });
const phasesFileSchema = z.object({ name: z.string().min(1).optional(), phases: z.array(phaseSchema).min(1), repeat: z.boolean().optional() }).strict();
/** A scenario file is either consecutive `phases` (optionally `repeat`) or `episodes` at absolute offsets (optionally `cycleMs`). */
const episodesFileSchema = z.object({ name: z.string().min(1).optional(), episodes: z.array(episodeSchema), cycleMs: positiveMs.optional() }).strict();

const withoutUndefined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

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
    const issues = describeZodIssues(r.error);
    throw invalidScenario(source, issues);
  }
  const name = r.data.name ?? source;
  if ('phases' in r.data) return scenarioFromPhases(name, r.data.phases.map(withoutUndefined), r.data.repeat ?? false);
  return validateScenario({ name, episodes: r.data.episodes.map(withoutUndefined), ...(r.data.cycleMs === undefined ? {} : { cycleMs: r.data.cycleMs }) }, source);
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
export async function resolveScenario(nameOrPath: string, options: BuiltinScenarioOptions = {}): Promise<Readonly<Scenario>> {
  const builtin = builtinScenario(nameOrPath, options);
  if (builtin) return builtin;
  try {
    await access(nameOrPath);
  } catch (cause) {
    // Neither a name nor a file: say which names there are (a typo of a name is the likely case).
    throw new PulsebridgeError('PB_SIM_FAILED',
      `Scenario ${nameOrPath} is neither a built-in scenario (${Object.keys(BUILTIN_SCENARIOS).join(', ')}) nor a readable scenario file.`,
      { cause, details: { source: nameOrPath } });
  }
  return loadScenarioFile(nameOrPath);
}

