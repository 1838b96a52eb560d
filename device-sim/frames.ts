/**
 * Turns a beat timeline (device times in ms + firmware class) and an optional ECG source into
 * telemetry frames (device-protocol.md "Telemetry frame"), the way the firmware would: fixed
 * windows of device time, R-peaks with their offset and RR interval, a device-computed heart
 * rate, battery and lead-off state, and the raw ECG of the window.
 */
import { FRAME_LIMITS, type BeatClass, type TelemetryFrame } from '../contracts/telemetry.ts';
import { PulsebridgeError } from '../platform/errors.ts';

/** One R-peak at an absolute device time. */
export interface TimedBeat {
  /** Device time of the R-peak, ms since the Unix epoch (integer). */
  tMs: number;
  cls: BeatClass;
  /** Conducted from atrial fibrillation: the synthetic ECG draws no P wave but f waves before it. */
  af?: boolean;
}

/** A half-open interval of device time [startMs, endMs). */
export interface DeviceTimeInterval {
  startMs: number;
  endMs: number;
}

/** Where a frame's ECG samples come from. */
export interface EcgSource {
  /** The source's own sampling rate, Hz; the frames use it when the contract allows it. */
  readonly fsHz: number;
  /**
   * Fills `out` with samples in µV at device times `startMs + i × 1000 / fsHz` for
   * i = 0 … out.length − 1.
   * @param nearbyBeats beats around the window (the last two before it, those in it and the next
   *        one after it), for sources that synthesise the waveform from the beats
   * @returns the indices into `out` of pacemaker pulses the device's front end would flag
   *        (`ecg.pace`, ascending), or nothing for a patient without a pacemaker
   */
  read(startMs: number, fsHz: number, out: number[], nearbyBeats: readonly TimedBeat[]): number[] | void;
}

/** Options for {@link buildFrames}. */
export interface FrameBuilderOptions {
  /** Device time at which the first frame starts, ms since the Unix epoch (integer). */
  t0Ms: number;
  /** Device time covered, ms; frames = ceil(durationMs / frameMs). Unbounded when absent. */
  durationMs?: number;
  /**
   * The last frame ends where `durationMs` does (shorter than the others, at least the contract's
   * 100 ms) instead of running a whole window past it: a recording replayed as a device. Without
   * it, the part of a last 5 s frame after the recording's end has no beats and a flat ECG, which
   * reads as an asystole at the end of every replay (session 30).
   */
  endAtDuration?: boolean;
  /** Frame window, ms (default 1000; the contract allows 100–5000). */
  frameMs?: number;
  /** Sequence number of the first frame (default 0, as after a device reboot). */
  firstSeq?: number;
  /** Battery percent, constant or as a function of device time (default 255 = unknown). */
  battery?: number | ((tMs: number) => number);
  /**
   * Intervals with electrodes off: those frames carry `leadOff`, no beats, hr 0 and a flat ECG.
   * Either a list, or a function telling whether the electrodes are off at any time in
   * [fromMs, toMs) (for endless scenarios); it may be asked about past intervals too.
   */
  leadOff?: readonly DeviceTimeInterval[] | ((fromMs: number, toMs: number) => boolean);
  /** ECG to attach to every frame; frames have no `ecg` when absent. */
  ecg?: EcgSource;
  /** Sampling rate of the ECG in the frames, Hz (default: the source's rate brought into 125–1000). */
  ecgFsHz?: number;
  /**
   * Settings that may change while frames are built (a `config` command): asked at the start of
   * every frame, they override `frameMs` and `ecgFsHz` from then on; `ecgFsHz: null` = no ECG.
   * Frames stay back to back (each starts where the previous one ended) and beats keep their
   * device times. ECG needs `ecg` (the source) to be set.
   */
  settings?: () => FrameSettings;
  /** Heart rate is averaged over the beats of this window before the frame end, ms (default 10 000). */
  hrWindowMs?: number;
  /** …and over at most this many RR intervals (default 8). */
  hrMaxIntervals?: number;
}

/** Frame settings that can change between frames (see {@link FrameBuilderOptions.settings}). */
export interface FrameSettings {
  frameMs: number;
  /** ECG rate, Hz; null = frames without ECG. */
  ecgFsHz: number | null;
}

/** Largest ECG sample count per frame: keeps a JSON v1 frame under the 16 KiB payload limit
 * (worst case 7 characters per int16 sample: `-32768,`). */
export const MAX_ECG_SAMPLES_PER_FRAME = 2000;

/** The sampling rate a frame uses for a source rate: the nearest integer rate the contract allows (125–1000 Hz). */
export function contractEcgFsHz(sourceFsHz: number): number {
  return Math.min(FRAME_LIMITS.maxFsHz, Math.max(FRAME_LIMITS.minFsHz, Math.round(sourceFsHz)));
}

const simFailed = (message: string): PulsebridgeError => new PulsebridgeError('PB_SIM_FAILED', message);

function validateOptions(o: FrameBuilderOptions, frameMs: number, ecgFsHz: number | undefined): void {
  if (!Number.isSafeInteger(o.t0Ms) || o.t0Ms < 0) throw simFailed(`t0Ms must be a non-negative integer, got ${o.t0Ms}.`);
  if (o.durationMs !== undefined && !(o.durationMs >= 0)) throw simFailed(`durationMs must be non-negative, got ${o.durationMs}.`);
  const problem = frameSettingsProblem(frameMs, ecgFsHz ?? null);
  if (problem) throw simFailed(problem);
}

/**
 * Why frame settings break the contract (device-protocol.md "Telemetry frame", "Limits"), or
 * undefined when they are valid: frame window 100–5000 ms, ECG 125–1000 Hz, and at most
 * {@link MAX_ECG_SAMPLES_PER_FRAME} samples so a frame stays under the 16 KiB payload limit.
 */
export function frameSettingsProblem(frameMs: number, ecgFsHz: number | null): string | undefined {
  try {
    checkFrameSettings(frameMs, ecgFsHz ?? undefined);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function checkFrameSettings(frameMs: number, ecgFsHz: number | undefined): void {
  if (!Number.isInteger(frameMs) || frameMs < FRAME_LIMITS.minDurMs || frameMs > FRAME_LIMITS.maxDurMs) {
    throw simFailed(`frameMs must be an integer from ${FRAME_LIMITS.minDurMs} to ${FRAME_LIMITS.maxDurMs}, got ${frameMs}.`);
  }
  if (ecgFsHz !== undefined) {
    if (!Number.isInteger(ecgFsHz) || ecgFsHz < FRAME_LIMITS.minFsHz || ecgFsHz > FRAME_LIMITS.maxFsHz) {
      throw simFailed(`ecgFsHz must be an integer from ${FRAME_LIMITS.minFsHz} to ${FRAME_LIMITS.maxFsHz} Hz, got ${ecgFsHz}.`);
    }
    if (Math.floor((ecgFsHz * frameMs) / 1000) > MAX_ECG_SAMPLES_PER_FRAME) {
      throw simFailed(`${ecgFsHz} Hz ECG in ${frameMs} ms frames would exceed ${MAX_ECG_SAMPLES_PER_FRAME} samples per frame and the 16 KiB payload limit.`);
    }
  }
}

/**
 * Builds frames lazily from a (possibly endless) beat timeline.
 *
 * Per frame k: `seq` = firstSeq + k (wrapping at 2^32), `ts` = t0Ms + k × frameMs (with
 * changing `settings`: the end of the previous frame), beats with
 * ts ≤ tMs < ts + frameMs and `off` = tMs − ts. `rr` = tMs − previous beat's tMs, or 0 (unknown)
 * for the first beat, after lead-off, or when it would not fit in uint16. `hr` = 60 000 / mean of
 * the last `hrMaxIntervals` known RR intervals of beats within `hrWindowMs` before the frame end,
 * rounded; 0 when there is none (e.g. ≥ 10 s of asystole) or leads are off.
 * The ECG has floor(fs × frameMs / 1000) samples, as the contract requires.
 * @param beats device-time ordered beats; beats before t0Ms only serve as the previous beat
 * @throws PulsebridgeError `PB_SIM_FAILED` on invalid options or beats out of order
 */
export function* buildFrames(beats: Iterable<TimedBeat>, options: FrameBuilderOptions): Generator<TelemetryFrame> {
  const frameMs = options.frameMs ?? 1000;
  const ecgFsHz = options.ecg ? (options.ecgFsHz ?? contractEcgFsHz(options.ecg.fsHz)) : undefined;
  validateOptions(options, frameMs, ecgFsHz);
  const hrWindowMs = options.hrWindowMs ?? 10_000;
  const hrMaxIntervals = options.hrMaxIntervals ?? 8;
  const leadOffOption = options.leadOff ?? [];
  const leadOff = typeof leadOffOption === 'function' ? [] : [...leadOffOption].sort((a, b) => a.startMs - b.startMs);
  const battery = options.battery ?? 255;
  // Frames start before this device time: ceil(durationMs / frameMs) frames at a fixed window.
  const endMs = options.durationMs === undefined ? Infinity : options.t0Ms + options.durationMs;
  let current: FrameSettings = { frameMs, ecgFsHz: ecgFsHz ?? null };
  const settingsAt = (): FrameSettings => {
    const next = options.settings?.();
    if (next && (next.frameMs !== current.frameMs || next.ecgFsHz !== current.ecgFsHz)) {
      checkFrameSettings(next.frameMs, next.ecgFsHz ?? undefined);
      if (next.ecgFsHz !== null && !options.ecg) throw simFailed('ECG was turned on, but the frame builder has no ECG source.');
      current = { ...next };
    }
    return current;
  };

  const overlapsLeadOff = typeof leadOffOption === 'function'
    ? (fromMs: number, toMs: number): boolean => toMs > fromMs && leadOffOption(fromMs, toMs)
    : (fromMs: number, toMs: number): boolean => leadOff.some((i) => i.startMs < toMs && i.endMs > fromMs);
  const isLeadOff = (tMs: number): boolean => overlapsLeadOff(tMs, tMs + 1);

  const it = beats[Symbol.iterator]();
  let pending: TimedBeat | undefined;
  let exhausted = false;
  let lastSeenMs = -Infinity;
  const peek = (): TimedBeat | undefined => {
    if (pending === undefined && !exhausted) {
      const r = it.next();
      if (r.done) exhausted = true;
      else {
        if (!Number.isSafeInteger(r.value.tMs)) throw simFailed(`Beat times must be integer ms, got ${r.value.tMs}.`);
        if (!(r.value.tMs >= lastSeenMs)) throw simFailed(`Beats must be in time order: ${r.value.tMs} ms follows ${lastSeenMs} ms.`);
        lastSeenMs = r.value.tMs;
        pending = r.value;
      }
    }
    return pending;
  };

  let prevBeatMs: number | undefined;
  const recentRr: Array<{ tMs: number; rrMs: number }> = [];
  const previousBeats: TimedBeat[] = [];

  for (let k = 0, ts = options.t0Ms; ts < endMs; k++) {
    const { frameMs: windowMs, ecgFsHz: fsHz } = settingsAt();
    const durMs = options.endAtDuration && ts + windowMs > endMs ? Math.max(FRAME_LIMITS.minDurMs, Math.ceil(endMs - ts)) : windowMs;
    const end = ts + durMs;
    const frameLeadOff = overlapsLeadOff(ts, end);
    const frameBeats: TelemetryFrame['beats'] = [];
    const windowBeats: TimedBeat[] = [];

    for (let b = peek(); b !== undefined && b.tMs < end; b = peek()) {
      pending = undefined;
      if (b.tMs < ts) {
        // Before the first frame: only the reference for the next RR.
        prevBeatMs = b.tMs;
        continue;
      }
      if (isLeadOff(b.tMs)) continue; // the firmware cannot see R-peaks without electrode contact
      let rrMs = 0;
      if (prevBeatMs !== undefined && !overlapsLeadOff(prevBeatMs, b.tMs)) {
        const d = Math.round(b.tMs - prevBeatMs);
        rrMs = d <= 0xffff ? d : 0;
      }
      if (frameBeats.length >= FRAME_LIMITS.maxBeats) throw simFailed(`More than ${FRAME_LIMITS.maxBeats} beats fall in the frame at ${ts} ms.`);
      frameBeats.push({ off: Math.round(b.tMs - ts), rr: rrMs, cls: b.cls });
      windowBeats.push(b);
      prevBeatMs = b.tMs;
      if (rrMs > 0) {
        recentRr.push({ tMs: b.tMs, rrMs });
        if (recentRr.length > hrMaxIntervals) recentRr.shift();
      }
    }

    let hr = 0;
    if (!frameLeadOff) {
      const usable = recentRr.filter((r) => r.tMs > end - hrWindowMs);
      if (usable.length > 0) {
        const meanRr = usable.reduce((s, r) => s + r.rrMs, 0) / usable.length;
        hr = Math.min(255, Math.round(60_000 / meanRr));
      }
    }

    const frame: TelemetryFrame = {
      seq: (((options.firstSeq ?? 0) + k) % 0x1_0000_0000),
      ts,
      durMs,
      hr,
      battery: Math.round(typeof battery === 'function' ? battery(ts) : battery),
      leadOff: frameLeadOff,
      beats: frameBeats,
    };
    if (options.ecg && fsHz !== null) {
      const uV = new Array<number>(Math.floor((fsHz * durMs) / 1000)).fill(0);
      let pace: number[] | undefined;
      if (!frameLeadOff) {
        const next = peek();
        const nearby = [...previousBeats, ...windowBeats, ...(next ? [next] : [])];
        pace = options.ecg.read(ts, fsHz, uV, nearby) ?? undefined;
        for (let i = 0; i < uV.length; i++) uV[i] = Math.max(-0x8000, Math.min(0x7fff, Math.round(uV[i] as number)));
      }
      frame.ecg = { fs: fsHz, uV, ...(pace && pace.length > 0 ? { pace } : {}) };
    }
    previousBeats.push(...windowBeats);
    previousBeats.splice(0, Math.max(0, previousBeats.length - 2));
    ts = end;
    yield frame;
  }
}

/**
 * ECG source over a recorded lead: sample i of the recording is at device time
 * t0Ms + i × 1000 / fsHz. At the recording's own rate on the sample grid the samples are copied;
 * otherwise they are linearly interpolated, after a moving average as wide as the decimation
 * ratio when the frame rate is lower (a simple anti-alias filter). Outside the recording: 0 µV.
 */
export function recordEcgSource(uV: ArrayLike<number>, fsHz: number, t0Ms: number): EcgSource {
  const at = (i: number): number => (i >= 0 && i < uV.length ? (uV[i] as number) : 0);
  return {
    fsHz,
    read(startMs, outFsHz, out) {
      const ratio = fsHz / outFsHz;
      const half = ratio > 1 ? Math.floor(ratio / 2) : 0;
      for (let i = 0; i < out.length; i++) {
        const x = ((startMs - t0Ms) + (i * 1000) / outFsHz) * (fsHz / 1000);
        const xi = Math.round(x);
        if (Math.abs(x - xi) < 1e-6 && half === 0) {
          out[i] = at(xi);
          continue;
        }
        const smooth = (j: number): number => {
          if (half === 0) return at(j);
          let s = 0;
          for (let d = -half; d <= half; d++) s += at(j + d);
          return s / (2 * half + 1);
        };
        const lo = Math.floor(x);
        const frac = x - lo;
        out[i] = smooth(lo) * (1 - frac) + smooth(lo + 1) * frac;
      }
    },
  };
}

/** Encodes a frame as JSON v1 (device-protocol.md "v1: JSON"); `charging` is not part of v1 and is left out. */
export function encodeV1(frame: TelemetryFrame): Buffer {
  const body: Record<string, unknown> = {
    v: 1,
    seq: frame.seq,
    ts: frame.ts,
    durMs: frame.durMs,
    hr: frame.hr,
    battery: frame.battery,
    leadOff: frame.leadOff,
    beats: frame.beats,
  };
  if (frame.ecg) body.ecg = frame.ecg;
  return Buffer.from(JSON.stringify(body), 'utf8');
}
