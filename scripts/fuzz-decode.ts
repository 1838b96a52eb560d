/**
 * Fuzzes the gateway's decode and validation path (gateway/decode.ts decodeTelemetry: dispatch,
 * JSON v1, binary v2, payload and clock-skew limits) with mutated and random inputs. Not a test:
 * a script whose numbers go into the issue note (issue 3, "Done when").
 *
 * Usage: node scripts/fuzz-decode.ts [--iterations 1000000] [--seed N]
 *
 * Inputs, seeded and reproducible:
 *   - mutated valid v2 frames (1–4 of: bit flip, byte set, truncate, extend, insert, delete,
 *     duplicate a chunk, splice with another frame); half get their CRC repaired afterwards so the
 *     mutation reaches the structure and range checks behind the CRC;
 *   - valid v2 frames with 1–3 bytes changed in place (same length) and the CRC repaired, so
 *     the range, order, class and sample-count checks are reached;
 *   - mutated valid v1 JSON frames (the same byte mutations, or a JSON value replaced by an
 *     awkward one: -1, 1e309, 2^32, 1.5, null, "x", [], {} …);
 *   - random bytes (raw, or behind a "PB\x02" or "{" prefix so they get past the dispatch);
 *   - unmutated valid frames of both formats, which must be accepted.
 *
 * Checked for every input: decodeTelemetry does not throw, and returns either a record or a
 * reject with a snake_case reason and a non-empty detail. An accepted frame must satisfy the
 * contract (the JSON v1 zod schema, an implementation independent of the v2 decoder), and an
 * accepted v2 payload must be byte-for-byte what the simulator's encoder writes for the decoded
 * frame (the v2 encoding is canonical). Exit code 1 if anything is violated.
 */
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import { BEAT_CLASSES, telemetryV1Schema, type Beat, type TelemetryFrame } from '../contracts/telemetry.ts';
import { encodeV2 } from '../device-sim/encode-v2.ts';
import { encodeV1 } from '../device-sim/frames.ts';
import { createPrng } from '../device-sim/prng.ts';
import { decodeTelemetry, type DecodeResult } from '../gateway/decode.ts';

const { values } = parseArgs({
  options: { iterations: { type: 'string', default: '1000000' }, seed: { type: 'string', default: '1' } },
});
const iterations = Number(values.iterations);
const seed = Number(values.seed);
if (!Number.isInteger(iterations) || iterations <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('usage: node scripts/fuzz-decode.ts [--iterations 1000000] [--seed N]\n');
  process.exit(2);
}

const random = createPrng(seed);
const int = (n: number) => Math.floor(random() * n);
const between = (min: number, max: number) => min + int(max - min + 1);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

/** Fixed "gateway time" so the run is reproducible; seed frames are stamped within an hour of it. */
const NOW_MS = 1_764_064_800_000;
const POOL_SIZE = 512;

function randomFrame(ecgMaxSamples: number): TelemetryFrame {
  const durMs = random() < 0.5 ? 1000 : between(100, 5000);
  const n = random() < 0.1 ? between(200, 255) : between(0, 12);
  const beats: Beat[] = [];
  for (let i = 0; i < n; i++) beats.push({ off: int(durMs), rr: random() < 0.1 ? 0 : between(250, 2000), cls: pick(BEAT_CLASSES) });
  beats.sort((a, b) => a.off - b.off);
  const frame: TelemetryFrame = {
    seq: random() < 0.1 ? 0xffffffff - int(3) : int(0x1_0000_0000), ts: NOW_MS + between(-3_600_000, 3_600_000), durMs,
    hr: int(256), battery: random() < 0.1 ? 255 : int(101), leadOff: random() < 0.2, charging: random() < 0.2, beats,
  };
  if (random() < 0.3) {
    // Keep the ECG short enough that one run stays in the order of seconds, not minutes.
    const fs = between(125, 1000);
    const m = Math.floor((fs * durMs) / 1000);
    if (m <= ecgMaxSamples) frame.ecg = { fs, uV: Array.from({ length: m }, () => between(-0x8000, 0x7fff)) };
  }
  return frame;
}

const v2Pool = Array.from({ length: POOL_SIZE }, () => encodeV2(randomFrame(2500)));
const v1Pool = Array.from({ length: POOL_SIZE }, () => encodeV1(randomFrame(250)));

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0x7b, 0x7d, 0x22, 0x2c, 0x3a, 0x2d, 0x30, 0x39, 0x50, 0x42, 0x4e, 0x56];

function fixCrc(frame: Buffer): void {
  if (frame.length >= 4) frame.writeUInt32BE(crc32(frame.subarray(0, frame.length - 4)), frame.length - 4);
}

function mutateBytes(input: Buffer, pool: readonly Buffer[]): Buffer {
  let out = Buffer.from(input);
  const count = between(1, 4);
  for (let k = 0; k < count; k++) {
    const len = out.length;
    switch (int(8)) {
      case 0: if (len) out[int(len)]! ^= 1 << int(8); break;
      case 1: if (len) out[int(len)] = random() < 0.5 ? pick(INTERESTING_BYTES) : int(256); break;
      case 2: out = out.subarray(0, int(len + 1)); break;
      case 3: out = Buffer.concat([out, randomBytes(between(1, 32))]); break;
      case 4: { const at = int(len + 1); out = Buffer.concat([out.subarray(0, at), randomBytes(between(1, 8)), out.subarray(at)]); break; }
      case 5: { const at = int(len + 1); out = Buffer.concat([out.subarray(0, at), out.subarray(at + between(1, 8))]); break; }
      case 6: { const at = int(len + 1); const chunk = out.subarray(at, at + between(1, 16)); out = Buffer.concat([out.subarray(0, at), chunk, out.subarray(at)]); break; }
      default: { const other = pick(pool); const at = int(len + 1); out = Buffer.concat([out.subarray(0, at), other.subarray(int(other.length + 1))]); }
    }
  }
  return out;
}

const AWKWARD_JSON_VALUES = ['-1', '0', '1e309', '4294967296', '9007199254740993', '1.5', '-0', 'null', 'true', '"x"', '"N"', '[]', '{}', '[{"off":1,"rr":1,"cls":"Z"}]', '""', '65536', '255', '101'];

/** Replaces one JSON value (after a random ':') with an awkward one: structure-aware mutation. */
function mutateJsonValue(input: Buffer): Buffer {
  const text = input.toString('latin1');
  let colon = text.indexOf(':', int(text.length));
  if (colon < 0) colon = text.indexOf(':');
  if (colon < 0) return input;
  let end = colon + 1;
  let depth = 0;
  for (; end < text.length; end++) {
    const c = text[end];
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') { if (depth === 0) break; depth--; }
    else if (c === ',' && depth === 0) break;
  }
  return Buffer.from(text.slice(0, colon + 1) + pick(AWKWARD_JSON_VALUES) + text.slice(end), 'latin1');
}

function randomBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = int(256);
  return out;
}

type InputKind = 'v2-mutated' | 'v2-mutated-crc-fixed' | 'v2-inplace-crc-fixed' | 'v1-mutated-bytes' | 'v1-mutated-value' | 'random-raw' | 'random-pb' | 'random-brace' | 'v2-valid' | 'v1-valid';

function nextInput(): { kind: InputKind; payload: Buffer } {
  const r = random();
  if (r < 0.15) return { kind: 'v2-mutated', payload: mutateBytes(pick(v2Pool), v2Pool) };
  if (r < 0.3) {
    const payload = mutateBytes(pick(v2Pool), v2Pool);
    fixCrc(payload); // mutateBytes always returns a fresh copy, never a view of the pool
    return { kind: 'v2-mutated-crc-fixed', payload };
  }
  if (r < 0.4) {
    // Same length, CRC repaired: reaches the range, order, class and count checks.
    const payload = Buffer.from(pick(v2Pool));
    for (let k = between(1, 3); k > 0; k--) {
      const at = 3 + int(payload.length - 7);
      if (random() < 0.5) payload[at]! ^= 1 << int(8);
      else payload[at] = random() < 0.5 ? pick(INTERESTING_BYTES) : int(256);
    }
    fixCrc(payload);
    return { kind: 'v2-inplace-crc-fixed', payload };
  }
  if (r < 0.6) return { kind: 'v1-mutated-bytes', payload: mutateBytes(pick(v1Pool), v1Pool) };
  if (r < 0.75) return { kind: 'v1-mutated-value', payload: mutateJsonValue(pick(v1Pool)) };
  if (r < 0.8) return { kind: 'random-raw', payload: randomBytes(int(random() < 0.9 ? 64 : 2048)) };
  if (r < 0.85) return { kind: 'random-pb', payload: Buffer.concat([Buffer.from([0x50, 0x42, 0x02]), randomBytes(int(random() < 0.9 ? 64 : 2048))]) };
  if (r < 0.9) return { kind: 'random-brace', payload: Buffer.concat([Buffer.from('{'), randomBytes(int(128))]) };
  if (r < 0.95) return { kind: 'v2-valid', payload: pick(v2Pool) };
  return { kind: 'v1-valid', payload: pick(v1Pool) };
}

/** Returns a description of what is wrong with the result, or undefined when it is well-formed. */
function violation(kind: InputKind, payload: Buffer, result: DecodeResult): string | undefined {
  if (!result.ok) {
    if (!/^[a-z0-9_]+$/.test(result.reason) || result.detail.length === 0) return `malformed reject ${JSON.stringify(result)}`;
    if (kind === 'v2-valid' || kind === 'v1-valid') return `valid ${kind} frame rejected: ${result.reason}: ${result.detail}`;
    return undefined;
  }
  if (result.format !== 'json-v1' && result.format !== 'binary-v2') return `unknown format ${String(result.format)}`;
  const check = telemetryV1Schema.safeParse({ v: 1, ...result.frame });
  if (!check.success) return `accepted a frame that breaks the contract: ${JSON.stringify(check.error.issues.slice(0, 3))}`;
  if (result.format === 'binary-v2') {
    let reencoded: Buffer;
    try {
      reencoded = encodeV2(result.frame);
    } catch (err) {
      return `accepted v2 frame cannot be re-encoded: ${(err as Error).message}`;
    }
    if (!reencoded.equals(payload)) return 'accepted v2 payload is not the canonical encoding of its decoded frame';
  }
  return undefined;
}

const outcomes = new Map<string, number>();
const byKind = new Map<InputKind, Map<string, number>>();
const problems: string[] = [];
let crashes = 0;
let violations = 0;
let bytes = 0;
let decodeNs = 0n;
const decodeNsByKind = new Map<InputKind, bigint>();

const started = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) {
  const { kind, payload } = nextInput();
  bytes += payload.length;
  let result: DecodeResult;
  const t0 = process.hrtime.bigint();
  try {
    result = decodeTelemetry(payload, NOW_MS);
  } catch (err) {
    crashes++;
    if (problems.length < 10) problems.push(`CRASH (${kind}) ${(err as Error).stack ?? String(err)}\n  input: ${payload.toString('hex').slice(0, 400)}`);
    continue;
  }
  const tookNs = process.hrtime.bigint() - t0;
  decodeNs += tookNs;
  decodeNsByKind.set(kind, (decodeNsByKind.get(kind) ?? 0n) + tookNs);
  const outcome = result.ok ? `ok ${result.format}` : `reject ${result.reason}`;
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  let perKind = byKind.get(kind);
  if (!perKind) byKind.set(kind, (perKind = new Map()));
  perKind.set(outcome, (perKind.get(outcome) ?? 0) + 1);
  const wrong = violation(kind, payload, result);
  if (wrong) {
    violations++;
    if (problems.length < 10) problems.push(`VIOLATION (${kind}) ${wrong}\n  input: ${payload.toString('hex').slice(0, 400)}`);
  }
}
const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
const decodeS = Number(decodeNs) / 1e9;

const pad = (s: string | number, w: number) => String(s).padStart(w);
const lines: string[] = [];
lines.push(`fuzz-decode: ${iterations.toLocaleString('en-US')} inputs, seed ${seed}, node ${process.version}`);
lines.push('', 'outcomes (all inputs):');
for (const [outcome, count] of [...outcomes].sort((a, b) => b[1] - a[1])) lines.push(`  ${outcome.padEnd(32)} ${pad(count, 9)}  ${pad(((100 * count) / iterations).toFixed(2), 6)} %`);
lines.push('', 'outcomes per input kind:');
for (const [kind, perKind] of [...byKind].sort((a, b) => a[0].localeCompare(b[0]))) {
  const total = [...perKind.values()].reduce((a, b) => a + b, 0);
  const perSecond = Math.round(total / (Number(decodeNsByKind.get(kind) ?? 1n) / 1e9));
  lines.push(`  ${kind} (${total.toLocaleString('en-US')}; ${perSecond.toLocaleString('en-US')}/s decode only): ${[...perKind].sort((a, b) => b[1] - a[1]).map(([o, c]) => `${o} ${c}`).join(', ')}`);
}
lines.push('');
lines.push(`crashes (exceptions out of decodeTelemetry): ${crashes}`);
lines.push(`contract violations: ${violations}`);
lines.push(`bytes decoded: ${(bytes / 1e6).toFixed(1)} MB`);
lines.push(`time: ${elapsedS.toFixed(2)} s total (input generation + checks included); ${decodeS.toFixed(2)} s inside decodeTelemetry`);
lines.push(`throughput: ${Math.round(iterations / elapsedS).toLocaleString('en-US')} inputs/s overall; ${Math.round(iterations / decodeS).toLocaleString('en-US')} inputs/s decode only`);
for (const p of problems) lines.push('', p);
process.stdout.write(lines.join('\n') + '\n');
process.exit(crashes + violations === 0 ? 0 : 1);
