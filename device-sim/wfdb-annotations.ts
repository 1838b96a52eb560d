/**
 * Reader for WFDB annotation files in MIT format (`.atr`, `.qrs`, `.ecg`, …).
 *
 * Format (PhysioNet, "annot(5)" in the WFDB Applications Guide): a sequence of 16-bit
 * little-endian words. The top 6 bits are a code A, the low 10 bits a value I.
 *  - A = 1…49: an annotation of type A whose time is the previous annotation's time plus I.
 *  - A = 59 SKIP: I unused; the next 4 bytes are a signed 32-bit interval in PDP-11 order
 *    (high 16-bit word first, each word little-endian) added to the time. It precedes the
 *    annotation it delays.
 *  - A = 60 NUM, 61 SUB, 62 CHN: set the `num`, `subtyp`, `chan` fields of the annotation they
 *    follow. As in the WFDB C library, `num` and `chan` carry over to later annotations,
 *    `subtyp` does not.
 *  - A = 63 AUX: I bytes of auxiliary text follow (padded to an even count), attached to the
 *    annotation they follow; rhythm changes use it (`(N`, `(AFIB`, `(VT`, …).
 *  - A word of 0 ends the file.
 */
import { readFile } from 'node:fs/promises';
import { PulsebridgeError } from '../platform/errors.ts';

/**
 * Annotation mnemonics indexed by code, from the WFDB library's `ecgcodes.h` / `annot.c`
 * (code 0 NOTQRS has no symbol; unused codes are empty strings).
 */
export const ANNOTATION_SYMBOLS: readonly string[] = [
  '', //  0 NOTQRS
  'N', //  1 NORMAL   normal beat
  'L', //  2 LBBB     left bundle branch block beat
  'R', //  3 RBBB     right bundle branch block beat
  'a', //  4 ABERR    aberrated atrial premature beat
  'V', //  5 PVC      premature ventricular contraction
  'F', //  6 FUSION   fusion of ventricular and normal beat
  'J', //  7 NPC      nodal (junctional) premature beat
  'A', //  8 APC      atrial premature contraction
  'S', //  9 SVPB     premature or ectopic supraventricular beat
  'E', // 10 VESC     ventricular escape beat
  'j', // 11 NESC     nodal (junctional) escape beat
  '/', // 12 PACE     paced beat
  'Q', // 13 UNKNOWN  unclassifiable beat
  '~', // 14 NOISE    signal quality change
  '', // 15 unused
  '|', // 16 ARFCT    isolated QRS-like artifact
  '', // 17 unused
  's', // 18 STCH     ST change
  'T', // 19 TCH      T-wave change
  '*', // 20 SYSTOLE
  'D', // 21 DIASTOLE
  '"', // 22 NOTE     comment annotation
  '=', // 23 MEASURE
  'p', // 24 PWAVE    P-wave peak
  'B', // 25 BBB      left or right bundle branch block
  '^', // 26 PACESP   non-conducted pacer spike
  't', // 27 TWAVE    T-wave peak
  '+', // 28 RHYTHM   rhythm change (aux holds the new rhythm)
  'u', // 29 UWAVE    U-wave peak
  '?', // 30 LEARN
  '!', // 31 FLWAV    ventricular flutter wave
  '[', // 32 VFON     start of ventricular flutter/fibrillation
  ']', // 33 VFOFF    end of ventricular flutter/fibrillation
  'e', // 34 AESC     atrial escape beat
  'n', // 35 SVESC    supraventricular escape beat
  '@', // 36 LINK     link to external data
  'x', // 37 NAPC     non-conducted P-wave (blocked APC)
  'f', // 38 PFUS     fusion of paced and normal beat
  '(', // 39 WFON     waveform onset
  ')', // 40 WFOFF    waveform end
  'r', // 41 RONT     R-on-T premature ventricular contraction
];

/** Codes the WFDB library's `isqrs` table marks as QRS complexes (beats). */
const BEAT_CODES: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 31, 34, 35, 38, 41]);

/** Largest annotation type code (WFDB ACMAX). */
const MAX_ANNOTATION_CODE = 49;
const SKIP = 59;
const NUM = 60;
const SUB = 61;
const CHN = 62;
const AUX = 63;

/** One annotation. */
export interface WfdbAnnotation {
  /** Sample number (time in samples of the record's sampling frequency). */
  sample: number;
  /** Annotation type code (1…49). */
  code: number;
  /** Mnemonic (`N`, `V`, `+`, …); `[code]` for codes without one. */
  symbol: string;
  subtype: number;
  chan: number;
  num: number;
  /** Auxiliary text without trailing NULs, e.g. `(AFIB`; undefined when absent. */
  aux: string | undefined;
}

/** True when the annotation code denotes a beat (QRS complex) in WFDB's sense. */
export function isBeatCode(code: number): boolean {
  return BEAT_CODES.has(code);
}

const toSignedByte = (v: number): number => ((v & 0xff) << 24) >> 24;

/**
 * Decodes an MIT-format annotation file.
 * @param buf file contents
 * @param source name used in error messages (usually the file path)
 * @throws PulsebridgeError `PB_WFDB_INVALID` on a truncated file or an unknown code
 */
export function parseMitAnnotations(buf: Uint8Array, source = 'annotation file'): WfdbAnnotation[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (what: string, offset: number): PulsebridgeError =>
    new PulsebridgeError('PB_WFDB_INVALID', `WFDB annotation file ${source} is invalid: ${what} at byte ${offset}.`, { details: { source, offset } });

  const out: WfdbAnnotation[] = [];
  let time = 0;
  let num = 0;
  let chan = 0;
  let pos = 0;
  let current: WfdbAnnotation | undefined;

  while (pos + 1 < buf.byteLength) {
    const word = view.getUint16(pos, true);
    const at = pos;
    pos += 2;
    if (word === 0) return out; // end of file
    const code = word >> 10;
    const value = word & 0x3ff;
    switch (code) {
      case SKIP: {
        if (pos + 4 > buf.byteLength) throw fail('a SKIP is cut short', at);
        // PDP-11 long: high word first.
        const interval = (view.getInt16(pos, true) * 0x10000) + view.getUint16(pos + 2, true);
        time += interval;
        pos += 4;
        break;
      }
      case NUM:
        num = toSignedByte(value);
        if (current) current.num = num;
        break;
      case SUB:
        if (current) current.subtype = toSignedByte(value);
        break;
      case CHN:
        chan = value & 0xff;
        if (current) current.chan = chan;
        break;
      case AUX: {
        if (pos + value > buf.byteLength) throw fail(`an AUX string of ${value} bytes is cut short`, at);
        const text = Buffer.from(buf.buffer, buf.byteOffset + pos, value).toString('latin1').replace(/\0+$/, '');
        if (current) current.aux = text;
        pos += value + (value & 1);
        break;
      }
      default: {
        if (code > MAX_ANNOTATION_CODE) throw fail(`annotation code ${code} is not defined`, at);
        time += value;
        if (time < 0) throw fail('an annotation has a negative time', at);
        current = { sample: time, code, symbol: ANNOTATION_SYMBOLS[code] || `[${code}]`, subtype: 0, chan, num, aux: undefined };
        out.push(current);
      }
    }
  }
  if (pos !== buf.byteLength) throw fail('the file ends in the middle of a word', pos);
  return out; // tolerate a missing end-of-file word
}

/**
 * Reads and decodes an annotation file.
 * @param annotationPath e.g. `…/mitdb/100.atr`
 */
export async function readWfdbAnnotations(annotationPath: string): Promise<WfdbAnnotation[]> {
  let buf: Buffer;
  try {
    buf = await readFile(annotationPath);
  } catch (cause) {
    throw new PulsebridgeError('PB_WFDB_INVALID', `WFDB annotation file ${annotationPath} could not be read (${(cause as Error).message}).`, { cause, details: { source: annotationPath } });
  }
  return parseMitAnnotations(buf, annotationPath);
}
