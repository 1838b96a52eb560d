/**
 * Seedable pseudo-random numbers, so a simulated device with the same seed produces the same
 * heart rhythm every run (reproducible scenarios and ground truth).
 */

/** A source of uniform numbers in [0, 1). */
export type RandomSource = () => number;

/** Hashes a string (e.g. a device id plus a seed) to a 32-bit seed (FNV-1a). */
export function seedFromString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Mulberry32: a small, fast 32-bit generator with good statistical quality for simulation
 * (not for cryptography).
 */
export function createPrng(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform number in [min, max). */
export function uniform(random: RandomSource, min: number, max: number): number {
  return min + (max - min) * random();
}

/** Standard normal deviate (Box–Muller). */
export function gaussian(random: RandomSource): number {
  const u = 1 - random(); // (0, 1]: log(0) avoided
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
