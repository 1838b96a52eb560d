/**
 * ECG samples in the processor's changelog (stream-state.ts): int16 (the contract's range),
 * little-endian, base64 — a third of the size of a JSON number array.
 */

/** Values outside int16 are clamped (the gateway validates the range; this never throws). */
export function int16ToBase64(values: ArrayLike<number>): string {
  const bytes = Buffer.alloc(2 * values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    bytes.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : Math.trunc(v) || 0, 2 * i);
  }
  return bytes.toString('base64');
}

export function base64ToInt16(b64: string): Int16Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
  return out;
}
