/**
 * Synthetic single-lead ECG for simulated devices: each beat is a sum of Gaussian waves (P, Q,
 * R, S, T) placed around its R-peak, the approach of McSharry et al., "A dynamical model for
 * generating synthetic electrocardiogram signals", IEEE TBME 50:289–294 (2003), reduced to
 * fixed Gaussians per beat. Beats conducted from atrial fibrillation (`TimedBeat.af`) have no
 * P wave; instead fibrillatory waves (≈ 6 Hz, i.e. 360/min, within the 350–600/min of AF's f waves,
 * 50 µV, with a slowly wandering rate so they bear no fixed relation to the QRS) run through the
 * baseline around them — the AF detector's P-wave evidence reads this when a device streams ECG.
 *
 * Paced patients (`paced`): every beat of the patient's own rhythm (class N, not AF) up to the
 * pacemaker's upper rate is a ventricular paced beat (a dual-chamber pacemaker tracking the sinus
 * rhythm) — a pacemaker pulse 50 ms before a wide paced QRS; faster ones are the patient's own
 * conducted beats — and the source returns the pulses' sample indices, as a front end's
 * pace-detection channel flags them (`ecg.pace`). A silence longer than 1.5 intervals (pause,
 * asystole episodes) is a loss of capture: the pacemaker goes on firing at the last interval, and
 * no QRS follows. A pulse is 2 mV on its sample and 0.6 mV on the next (a 0.5 ms pulse after the
 * anti-alias filter of a 250 Hz front end).
 */
import type { BeatClass } from '../contracts/telemetry.ts';
import type { EcgSource, TimedBeat } from './frames.ts';
import { createPrng, gaussian } from './prng.ts';

/** One Gaussian wave: centre relative to the R-peak (ms), amplitude (µV), width (SD, ms). */
interface Wave {
  atMs: number;
  uV: number;
  sdMs: number;
}

/** Lead-II-like morphologies. Ventricular beats: no P wave, wide QRS, discordant T. */
const MORPHOLOGY: Record<BeatClass, Wave[]> = {
  N: [{ atMs: -170, uV: 120, sdMs: 22 }, { atMs: -28, uV: -90, sdMs: 8 }, { atMs: 0, uV: 1100, sdMs: 9 }, { atMs: 26, uV: -220, sdMs: 9 }, { atMs: 280, uV: 280, sdMs: 45 }],
  S: [{ atMs: -140, uV: 80, sdMs: 18 }, { atMs: -28, uV: -90, sdMs: 8 }, { atMs: 0, uV: 1050, sdMs: 9 }, { atMs: 26, uV: -220, sdMs: 9 }, { atMs: 270, uV: 260, sdMs: 45 }],
  V: [{ atMs: -40, uV: -150, sdMs: 20 }, { atMs: 0, uV: 1400, sdMs: 28 }, { atMs: 70, uV: -400, sdMs: 30 }, { atMs: 320, uV: -350, sdMs: 60 }],
  F: [{ atMs: -160, uV: 80, sdMs: 22 }, { atMs: 0, uV: 1250, sdMs: 18 }, { atMs: 50, uV: -300, sdMs: 20 }, { atMs: 300, uV: -100, sdMs: 55 }],
  Q: [{ atMs: -5, uV: 600, sdMs: 3 }, { atMs: 30, uV: 1000, sdMs: 25 }, { atMs: 320, uV: 200, sdMs: 55 }],
};

/** Ventricular paced complex (wide, discordant T), R peak {@link PULSE_TO_R_MS} after the pulse. */
const PACED: Wave[] = [{ atMs: -10, uV: -300, sdMs: 18 }, { atMs: 0, uV: 1200, sdMs: 22 }, { atMs: 45, uV: -500, sdMs: 25 }, { atMs: 300, uV: -350, sdMs: 60 }];
const PULSE_TO_R_MS = 50;
/** A pacer pulse on its sample and the next one, µV. */
const PULSE_UV = [2000, 600];
/**
 * Shortest interval the pacemaker paces at, ms: an upper tracking rate of 140/min (programmable
 * 100–180/min on dual-chamber pacemakers). With it the scripted tachycardias (125–135/min) are
 * paced throughout and the extreme ones (160–180/min) conducted, so no episode flips between the
 * two beat by beat, which a tracking pacemaker does not do.
 */
const MIN_PACED_RR_MS = 60_000 / 140;

/** Which of the (time-ordered) nearby beats are paced; a beat's rate is judged by its interval from the previous beat (or to the next one for the first). */
function pacedFlags(nearby: readonly TimedBeat[]): boolean[] {
  return nearby.map((b, i) => {
    const prev = nearby[i - 1];
    const next = nearby[i + 1];
    const rrMs = prev ? b.tMs - prev.tMs : next ? next.tMs - b.tMs : Infinity;
    return b.cls === 'N' && !b.af && rrMs >= MIN_PACED_RR_MS;
  });
}

/** Beats further than this from a sample do not contribute to it, ms. */
const REACH_MS = 600;

/**
 * Pacer pulse times around `nearby` beats: one before each paced beat, and during a silence after
 * a paced beat (gap > 1.5 × its interval) one every interval without capture.
 */
function pulseTimes(nearby: readonly TimedBeat[], paced: readonly boolean[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < nearby.length; i++) {
    const b = nearby[i]!;
    if (paced[i]) out.push(b.tMs - PULSE_TO_R_MS);
    const prev = nearby[i - 1];
    const next = nearby[i + 1];
    if (!prev || !next || !paced[i]) continue;
    const intervalMs = b.tMs - prev.tMs;
    if (!(intervalMs > 0) || next.tMs - b.tMs <= 1.5 * intervalMs) continue;
    for (let t = b.tMs + intervalMs; t <= next.tMs - intervalMs / 2; t += intervalMs) out.push(t - PULSE_TO_R_MS);
  }
  return out.sort((a, b) => a - b);
}

/**
 * An ECG source that draws the waveform of the beats around each frame, plus baseline wander
 * (0.3 Hz, 40 µV, breathing) and 10 µV white noise.
 * @param seed noise seed (same seed, same signal)
 */
export function syntheticEcgSource(seed: number, nativeFsHz = 250, options: { paced?: boolean } = {}): EcgSource {
  const random = createPrng(seed);
  const paced = options.paced === true;
  return {
    fsHz: nativeFsHz,
    read(startMs, fsHz, out, nearbyBeats: readonly TimedBeat[]) {
      const pacedBeat = paced ? pacedFlags(nearbyBeats) : [];
      for (let i = 0; i < out.length; i++) {
        const t = startMs + (i * 1000) / fsHz;
        let v = 40 * Math.sin((2 * Math.PI * 0.3 * t) / 1000) + 10 * gaussian(random);
        let fibrillating = false;
        for (const [j, b] of nearbyBeats.entries()) {
          const d = t - b.tMs;
          if (d < -REACH_MS || d > REACH_MS) continue;
          if (b.af) fibrillating = true;
          for (const [k, w] of (pacedBeat[j] ? PACED : MORPHOLOGY[b.cls]).entries()) {
            if (b.af && k === 0 && b.cls === 'N') continue; // no P wave in AF
            const z = (d - w.atMs) / w.sdMs;
            if (z > -5 && z < 5) v += w.uV * Math.exp(-0.5 * z * z);
          }
        }
        // Phase of a 6 Hz oscillation whose rate wanders ±1 Hz over ~7 s (device time, so
        // consecutive frames join smoothly).
        if (fibrillating) v += 50 * Math.sin(2 * Math.PI * ((6 * t) / 1000 + Math.sin((2 * Math.PI * t) / 7000) / (2 * Math.PI * 0.14)));
        out[i] = v;
      }
      if (!paced) return;
      const pace: number[] = [];
      for (const p of pulseTimes(nearbyBeats, pacedBeat)) {
        const at = Math.round(((p - startMs) * fsHz) / 1000);
        PULSE_UV.forEach((uV, j) => { if (at + j >= 0 && at + j < out.length) out[at + j] = out[at + j]! + uV; });
        if (at >= 0 && at < out.length) pace.push(at);
      }
      return pace;
    },
  };
}
