/**
 * ECG samples in the processor's changelog (stream-state.ts): int16 (the contract's range),
 * little-endian, base64 — a third of the size of a JSON number array. Filtered signals and
 * averages in a hand-over's detector state are float32 or float64 (the precision they are kept
 * in, so the successor computes exactly what the predecessor would have), little-endian, base64.
 */

/** Values outside int16 are clamped (the gateway validates the range; this never throws). */
export function int16ToBase64(values: ArrayLike<number>): string {
  return encode(values, 2, (bytes, v, at) => bytes.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : Math.trunc(v) || 0, at));
}

export function base64ToInt16(b64: string): Int16Array {
  return decode(b64, 2, (n) => new Int16Array(n), (bytes, at) => bytes.readInt16LE(at));
}

export function float32ToBase64(values: ArrayLike<number>): string {
  return encode(values, 4, (bytes, v, at) => bytes.writeFloatLE(v, at));
}

export function base64ToFloat32(b64: string): Float32Array {
  return decode(b64, 4, (n) => new Float32Array(n), (bytes, at) => bytes.readFloatLE(at));
}

export function float64ToBase64(values: ArrayLike<number>): string {
  return encode(values, 8, (bytes, v, at) => bytes.writeDoubleLE(v, at));
}

export function base64ToFloat64(b64: string): Float64Array {
  return decode(b64, 8, (n) => new Float64Array(n), (bytes, at) => bytes.readDoubleLE(at));
}

function encode(values: ArrayLike<number>, width: number, write: (bytes: Buffer, v: number, at: number) => void): string {
  const bytes = Buffer.alloc(width * values.length);
  for (let i = 0; i < values.length; i++) write(bytes, values[i]!, width * i);
  return bytes.toString('base64');
}

/** (Trailing bytes short of a whole value are ignored.) */
function decode<T extends { length: number; [i: number]: number }>(b64: string, width: number, create: (n: number) => T, read: (bytes: Buffer, at: number) => number): T {
  const bytes = Buffer.from(b64, 'base64');
  const out = create(Math.floor(bytes.length / width));
  for (let i = 0; i < out.length; i++) out[i] = read(bytes, width * i);
  return out;
}
