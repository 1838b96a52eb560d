/**
 * Reader for WFDB signal files (`.dat`) in formats 212 and 16.
 *
 * Samples of all signals stored in one file are interleaved frame by frame (s0 s1 s0 s1 …).
 * - Format 16: each sample is a little-endian two's-complement 16-bit integer.
 * - Format 212: samples are 12-bit two's complement, packed in pairs into 3 bytes: byte 0 holds
 *   the low 8 bits of the first sample, the low nibble of byte 1 its high 4 bits, the high nibble
 *   of byte 1 the high 4 bits of the second sample, byte 2 the second sample's low 8 bits.
 *   Pairs run across frame boundaries (the interleaved sample stream is what gets packed).
 * Source: PhysioNet, "signal(5)" in the WFDB Applications Guide.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PulsebridgeError } from '../platform/errors.ts';
import type { WfdbHeader, WfdbSignalSpec } from './wfdb-header.ts';

/** Raw ADC samples of one signal, with the spec that calibrates them. */
export interface WfdbSignal {
  spec: WfdbSignalSpec;
  /** Digital samples as stored (ADC units). */
  adc: Int16Array;
}

/** Samples WFDB marks as invalid ("no data"): the most negative value of each format. */
export const INVALID_SAMPLE = { 212: -2048, 16: -32768 } as const;

/**
 * Decodes a format-212 sample stream.
 * @param bytes file contents after the byte offset
 * @param sampleCount number of 12-bit samples to decode (all signals of the file together)
 */
export function decodeFormat212(bytes: Uint8Array, sampleCount: number): Int16Array {
  const out = new Int16Array(sampleCount);
  for (let i = 0, b = 0; i < sampleCount; i += 2, b += 3) {
    const b0 = bytes[b] ?? 0;
    const b1 = bytes[b + 1] ?? 0;
    const b2 = bytes[b + 2] ?? 0;
    // Sign-extend 12 bits by shifting the top nibble into bit 31 and back.
    out[i] = ((((b1 & 0x0f) << 8) | b0) << 20) >> 20;
    if (i + 1 < sampleCount) out[i + 1] = ((((b1 & 0xf0) << 4) | b2) << 20) >> 20;
  }
  return out;
}

/**
 * Decodes a format-16 sample stream.
 * @param bytes file contents after the byte offset
 * @param sampleCount number of 16-bit samples to decode
 */
export function decodeFormat16(bytes: Uint8Array, sampleCount: number): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(sampleCount);
  for (let i = 0; i < sampleCount; i++) out[i] = view.getInt16(2 * i, true);
  return out;
}

/** Bytes needed to hold `sampleCount` samples of a format. */
function bytesFor(format: 16 | 212, sampleCount: number): number {
  return format === 16 ? 2 * sampleCount : Math.ceil((sampleCount * 3) / 2);
}

/** Samples that fit in `byteCount` bytes of a format. */
function samplesIn(format: 16 | 212, byteCount: number): number {
  return format === 16 ? Math.floor(byteCount / 2) : Math.floor((byteCount * 2) / 3);
}

/** WFDB checksum: the sum of all samples of a signal, as a signed 16-bit value. */
export function wfdbChecksum(adc: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < adc.length; i++) sum = (sum + (adc[i] as number)) | 0;
  return (sum << 16) >> 16;
}

/** Options for {@link readWfdbSignals}. */
export interface ReadWfdbSignalsOptions {
  /** Indexes of the signals to return (all when absent). Files holding none of them are not read. */
  signalIndexes?: number[];
  /** Compare the header's checksums with the decoded samples (default true). */
  verifyChecksums?: boolean;
}

/**
 * Reads the signals of a record from their `.dat` files.
 * @param header parsed header of the record
 * @param recordDir folder holding the header and its signal files
 * @returns one entry per requested signal, in the requested order
 * @throws PulsebridgeError `PB_WFDB_INVALID` when a file is missing, short, or fails its checksum
 */
export async function readWfdbSignals(header: WfdbHeader, recordDir: string, options: ReadWfdbSignalsOptions = {}): Promise<WfdbSignal[]> {
  const wanted = options.signalIndexes ?? header.signals.map((_, i) => i);
  const verify = options.verifyChecksums ?? true;
  for (const i of wanted) {
    if (!Number.isInteger(i) || i < 0 || i >= header.signals.length) {
      throw new PulsebridgeError('PB_WFDB_INVALID', `Record ${header.recordName} has no signal ${i} (it has ${header.signals.length}).`);
    }
  }
  // Signals are grouped by file in header order; every group shares one format.
  const groups = new Map<string, number[]>();
  header.signals.forEach((s, i) => {
    const g = groups.get(s.fileName);
    if (g) g.push(i);
    else groups.set(s.fileName, [i]);
  });

  const decoded = new Map<number, Int16Array>();
  for (const [fileName, members] of groups) {
    if (!members.some((i) => wanted.includes(i))) continue;
    const specs = members.map((i) => header.signals[i] as WfdbSignalSpec);
    const first = specs[0] as WfdbSignalSpec;
    const filePath = path.join(recordDir, fileName);
    const fail = (what: string, cause?: unknown): PulsebridgeError =>
      new PulsebridgeError('PB_WFDB_INVALID', `WFDB signal file ${filePath} ${what}.`, { cause, details: { source: filePath } });
    if (specs.some((s) => s.format !== first.format || s.byteOffset !== first.byteOffset)) throw fail('mixes formats or byte offsets between its signals');
    if (specs.some((s) => s.samplesPerFrame !== 1)) throw fail('uses several samples per frame, which is not supported');

    let bytes: Buffer;
    try {
      bytes = await readFile(filePath);
    } catch (cause) {
      throw fail(`could not be read (${(cause as Error).message})`, cause);
    }
    const body = bytes.subarray(Math.min(first.byteOffset, bytes.byteLength));
    const width = members.length;
    const available = Math.floor(samplesIn(first.format, body.byteLength) / width);
    const frames = header.sampleCount > 0 ? header.sampleCount : available;
    if (available < frames) throw fail(`holds ${available} samples per signal but the header announces ${frames}`);
    if (bytesFor(first.format, frames * width) > body.byteLength) throw fail('is shorter than its samples need');

    const stream = first.format === 212 ? decodeFormat212(body, frames * width) : decodeFormat16(body, frames * width);
    members.forEach((signalIndex, k) => {
      const adc = new Int16Array(frames);
      for (let f = 0; f < frames; f++) adc[f] = stream[f * width + k] as number;
      const spec = specs[k] as WfdbSignalSpec;
      // A checksum of 0 is taken as "not computed": a header written without reading its samples
      // back. Every CinC 2017 header has 0 there, and in 16 of the 300 strips here an initial value
      // that is not the first sample (the .mat holds the right signal: A00013 starts −20, −27, −33,
      // the header says 3), so neither is verified for such a header; the file size still is. A
      // real sum of 0 goes unchecked, 1 record in 65,536. (WFDB itself uses the initial value
      // only to decode difference formats, which this reader does not support.)
      const unverifiedHeader = spec.checksum === 0;
      if (verify && !unverifiedHeader && header.sampleCount > 0 && spec.checksum !== undefined && wfdbChecksum(adc) !== spec.checksum) {
        throw fail(`fails the checksum of signal ${signalIndex} (${spec.description || 'unnamed'}): header says ${spec.checksum}, samples sum to ${wfdbChecksum(adc)}`);
      }
      if (verify && !unverifiedHeader && spec.initialValue !== undefined && frames > 0 && adc[0] !== spec.initialValue) {
        throw fail(`starts signal ${signalIndex} with ${adc[0]} but the header's initial value is ${spec.initialValue}`);
      }
      decoded.set(signalIndex, adc);
    });
  }
  return wanted.map((i) => ({ spec: header.signals[i] as WfdbSignalSpec, adc: decoded.get(i) as Int16Array }));
}

/** A run of samples WFDB marks invalid ("no data"), as sample indexes [start, end). */
export interface MissingRun {
  startSample: number;
  endSample: number;
}

/**
 * The runs of invalid samples of a signal (e.g. the NaN stretches of CinC 2015 bedside records,
 * stored as -32768 in format 16). A device has no such thing as "no data" inside a frame: it
 * flags the frame lead-off (device-protocol.md `leadOff`), which is how replays send them.
 */
export function missingRuns(signal: WfdbSignal): MissingRun[] {
  const invalidValue = INVALID_SAMPLE[signal.spec.format];
  const runs: MissingRun[] = [];
  const { adc } = signal;
  for (let i = 0; i < adc.length; i++) {
    if (adc[i] !== invalidValue) continue;
    const startSample = i;
    while (i < adc.length && adc[i] === invalidValue) i++;
    runs.push({ startSample, endSample: i });
  }
  return runs;
}

/**
 * Converts raw samples to microvolts: (adc − baseline) / gain, with the gain in ADC units per mV
 * (× 1000 µV/mV), rounded and clamped to int16 as the telemetry contract requires. Invalid samples
 * become 0 µV.
 * @throws PulsebridgeError `PB_WFDB_INVALID` when the signal's units are not mV or µV
 */
export function adcToMicrovolts(signal: WfdbSignal): Int16Array {
  const { spec, adc } = signal;
  const unitScale = spec.units === 'mV' ? 1000 : spec.units === 'uV' || spec.units === 'µV' ? 1 : undefined;
  if (unitScale === undefined) {
    throw new PulsebridgeError('PB_WFDB_INVALID', `Signal ${spec.description || spec.fileName} is in ${spec.units}, not in mV or µV, so it is not an ECG the simulator can send.`);
  }
  const invalidValue = INVALID_SAMPLE[spec.format];
  const out = new Int16Array(adc.length);
  for (let i = 0; i < adc.length; i++) {
    const v = adc[i] as number;
    if (v === invalidValue) continue;
    const uV = Math.round(((v - spec.baselineAdc) / spec.gainAdcPerUnit) * unitScale);
    out[i] = Math.max(-0x8000, Math.min(0x7fff, uV));
  }
  return out;
}
