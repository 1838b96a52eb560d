/**
 * Synthetic single-lead ECG for simulated devices: each beat is a sum of Gaussian waves (P, Q,
 * R, S, T) placed around its R-peak, the approach of McSharry et al., "A dynamical model for
 * generating synthetic electrocardiogram signals", IEEE TBME 50:289–294 (2003), reduced to
 * fixed Gaussians per beat. Beats conducted from atrial fibrillation (`TimedBeat.af`) have no
 * P wave; instead fibrillatory waves (≈ 6 Hz, i.e. 360/min, within the 350–600/min of AF's f waves,
 * 50 µV, with a slowly wandering rate so they bear no fixed relation to the QRS) run through the
 * baseline around them — the AF detector's P-wave evidence reads this when a device streams ECG.
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

/** Beats further than this from a sample do not contribute to it, ms. */
const REACH_MS = 600;

/**
 * An ECG source that draws the waveform of the beats around each frame, plus baseline wander
 * (0.3 Hz, 40 µV, breathing) and 10 µV white noise.
 * @param seed noise seed (same seed, same signal)
 */
export function syntheticEcgSource(seed: number, nativeFsHz = 250): EcgSource {
  const random = createPrng(seed);
  return {
    fsHz: nativeFsHz,
    read(startMs, fsHz, out, nearbyBeats: readonly TimedBeat[]) {
      for (let i = 0; i < out.length; i++) {
        const t = startMs + (i * 1000) / fsHz;
        let v = 40 * Math.sin((2 * Math.PI * 0.3 * t) / 1000) + 10 * gaussian(random);
        let fibrillating = false;
        for (const b of nearbyBeats) {
          const d = t - b.tMs;
          if (d < -REACH_MS || d > REACH_MS) continue;
          if (b.af) fibrillating = true;
          for (const [k, w] of MORPHOLOGY[b.cls].entries()) {
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
    },
  };
}
