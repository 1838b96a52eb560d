/**
 * ECG drawn from beats with explicit wave shapes, for shapes device-sim/ecg-synth.ts does not draw
 * (wide ventricular complexes, biphasic QRS, pacing spikes): shared by the QRS-detector and
 * beat-source tests.
 */

/** One Gaussian wave of a beat: centre from the R-peak (ms), amplitude (µV), SD (ms). */
export type Wave = { atMs: number; uV: number; sdMs: number };

/** `seconds` of signal at `fsHz`: each beat's waves around its R peak `tMs`. */
export function drawBeats(beats: { tMs: number; waves: Wave[] }[], fsHz: number, seconds: number): Float64Array {
  const x = new Float64Array(Math.round(fsHz * seconds));
  for (let i = 0; i < x.length; i++) {
    const t = (i * 1000) / fsHz;
    for (const b of beats) {
      if (Math.abs(t - b.tMs) > 700) continue;
      for (const w of b.waves) {
        const z = (t - b.tMs - w.atMs) / w.sdMs;
        if (Math.abs(z) < 6) x[i]! += w.uV * Math.exp(-0.5 * z * z);
      }
    }
  }
  return x;
}
