/**
 * Reader for WFDB header files (`.hea`), the text file that describes a PhysioNet record.
 *
 * Format (PhysioNet, "header(5)" in the WFDB Applications Guide):
 *   record line:  `name[/nseg] nsig [fs[/counterfreq[(basecounter)]] [nsamples [basetime [basedate]]]]`
 *   signal lines: `file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adcres [adczero
 *                  [initval [checksum [blocksize [description…]]]]]]]`
 *   `#` lines are comments (MIT-BIH puts age, sex and medication there).
 * Only single-segment records are supported; the simulator replays mitdb, nsr2db and afdb,
 * none of which is multi-segment.
 */
import { readFile } from 'node:fs/promises';
import { PulsebridgeError } from '../platform/errors.ts';

/** Signal storage formats this reader can decode (wfdb-signal.ts). */
export const SUPPORTED_SIGNAL_FORMATS = [16, 212] as const;
export type WfdbSignalFormat = (typeof SUPPORTED_SIGNAL_FORMATS)[number];

/** WFDB's DEFGAIN: a gain of 0 or a missing gain means 200 ADC units per physical unit. */
export const WFDB_DEFAULT_GAIN = 200;
/** WFDB's DEFFREQ: sampling frequency when the record line omits it. */
export const WFDB_DEFAULT_FS_HZ = 250;

/** One signal line of a header. */
export interface WfdbSignalSpec {
  /** Name of the signal file, relative to the header's folder. */
  fileName: string;
  format: WfdbSignalFormat;
  /** Samples per frame (`212x2`); only 1 is supported by the signal reader. */
  samplesPerFrame: number;
  /** Skew in frames (`:n`), read but not applied. */
  skew: number;
  /** Bytes to skip at the start of the signal file (`+n`). */
  byteOffset: number;
  /** ADC units per physical unit (per mV for ECG). */
  gainAdcPerUnit: number;
  /** ADC value that corresponds to 0 physical units. Defaults to `adcZero`. */
  baselineAdc: number;
  /** Physical units, `mV` when absent. */
  units: string;
  adcResolutionBits: number;
  adcZero: number;
  /** First sample value, when given. */
  initialValue: number | undefined;
  /** 16-bit sum of all samples of this signal, when given. */
  checksum: number | undefined;
  blockSize: number;
  /** Lead or signal name, e.g. `MLII`, `V5`. Empty when absent. */
  description: string;
}

/** A parsed header. */
export interface WfdbHeader {
  recordName: string;
  /** Number of signals; 0 for annotation-only records (afdb, nsr2db as distributed here). */
  signalCount: number;
  /** Sampling frequency of the signals and the time base of the annotations, Hz. */
  fsHz: number;
  /** Samples per signal; 0 when unknown (then the annotations define the record length). */
  sampleCount: number;
  /** `hh:mm:ss[.sss]` as written, when present. */
  baseTime: string | undefined;
  /** `dd/mm/yyyy` as written, when present. */
  baseDate: string | undefined;
  signals: WfdbSignalSpec[];
  /** Comment lines, without the leading `#` and surrounding blanks. */
  comments: string[];
}

const invalid = (source: string, what: string): PulsebridgeError =>
  new PulsebridgeError('PB_WFDB_INVALID', `WFDB header ${source} is invalid: ${what}.`, { details: { source } });

/** Parses a non-negative decimal number, or returns undefined. */
function parseNumber(token: string): number | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(token)) return undefined;
  return Number(token);
}

function parseInteger(token: string): number | undefined {
  return /^[+-]?\d+$/.test(token) ? Number(token) : undefined;
}

function parseRecordLine(tokens: string[], source: string): Omit<WfdbHeader, 'signals' | 'comments'> {
  const [nameToken, nsigToken, fsToken, nToken, timeToken, dateToken] = tokens;
  if (nameToken === undefined || nsigToken === undefined) throw invalid(source, 'the record line needs at least a record name and a signal count');
  if (nameToken.includes('/')) throw invalid(source, `record "${nameToken}" is a multi-segment record, which is not supported`);
  const signalCount = parseInteger(nsigToken);
  if (signalCount === undefined || signalCount < 0) throw invalid(source, `signal count "${nsigToken}" is not a non-negative integer`);

  let fsHz = WFDB_DEFAULT_FS_HZ;
  if (fsToken !== undefined) {
    // `360`, `360/10(0)`: only the sampling frequency before the slash matters here.
    const fsPart = fsToken.split('/')[0] ?? '';
    const fs = parseNumber(fsPart);
    if (fs === undefined || !(fs > 0)) throw invalid(source, `sampling frequency "${fsToken}" is not a positive number`);
    fsHz = fs;
  }
  let sampleCount = 0;
  if (nToken !== undefined) {
    const n = parseInteger(nToken);
    if (n === undefined || n < 0) throw invalid(source, `sample count "${nToken}" is not a non-negative integer`);
    sampleCount = n;
  }
  if (timeToken !== undefined && !/^\d{1,2}(:\d{1,2}){0,2}(\.\d+)?$/.test(timeToken)) throw invalid(source, `base time "${timeToken}" is not hh:mm:ss`);
  if (dateToken !== undefined && !/^\d{1,2}\/\d{1,2}\/\d{4}$/.test(dateToken)) throw invalid(source, `base date "${dateToken}" is not dd/mm/yyyy`);
  return { recordName: nameToken, signalCount, fsHz, sampleCount, baseTime: timeToken, baseDate: dateToken };
}

function parseFormatToken(token: string, source: string): Pick<WfdbSignalSpec, 'format' | 'samplesPerFrame' | 'skew' | 'byteOffset'> {
  const m = /^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$/.exec(token);
  if (!m) throw invalid(source, `signal format "${token}" is not of the form format[xspf][:skew][+offset]`);
  const format = Number(m[1]);
  if (!(SUPPORTED_SIGNAL_FORMATS as readonly number[]).includes(format)) {
    throw invalid(source, `signal format ${format} is not supported (only ${SUPPORTED_SIGNAL_FORMATS.join(' and ')})`);
  }
  return {
    format: format as WfdbSignalFormat,
    samplesPerFrame: m[2] === undefined ? 1 : Number(m[2]),
    skew: m[3] === undefined ? 0 : Number(m[3]),
    byteOffset: m[4] === undefined ? 0 : Number(m[4]),
  };
}

function parseSignalLine(tokens: string[], source: string): WfdbSignalSpec {
  const [fileName, formatToken, gainToken, resToken, zeroToken, initToken, sumToken, blockToken, ...descTokens] = tokens;
  if (fileName === undefined || formatToken === undefined) throw invalid(source, 'a signal line needs at least a file name and a format');
  const fmt = parseFormatToken(formatToken, source);

  let gainAdcPerUnit = WFDB_DEFAULT_GAIN;
  let baselineFromGain: number | undefined;
  let units = 'mV';
  if (gainToken !== undefined) {
    const m = /^([^(/]+)(?:\(([^)]*)\))?(?:\/(\S+))?$/.exec(gainToken);
    const gain = m ? parseNumber(m[1] ?? '') : undefined;
    const baseline = m?.[2] === undefined ? undefined : parseInteger(m[2]);
    if (!m || gain === undefined || (m[2] !== undefined && baseline === undefined)) throw invalid(source, `gain "${gainToken}" is not of the form gain[(baseline)][/units]`);
    // A gain of 0 means "uncalibrated"; WFDB then uses DEFGAIN.
    gainAdcPerUnit = gain === 0 ? WFDB_DEFAULT_GAIN : gain;
    baselineFromGain = baseline;
    if (m[3] !== undefined) units = m[3];
  }
  const intOr = (token: string | undefined, fallback: number, what: string): number => {
    if (token === undefined) return fallback;
    const v = parseInteger(token);
    if (v === undefined) throw invalid(source, `${what} "${token}" is not an integer`);
    return v;
  };
  // WFDB default ADC resolution: 12 bits for format 212, 16 for format 16.
  const adcResolutionBits = intOr(resToken, fmt.format === 212 ? 12 : 16, 'ADC resolution') || (fmt.format === 212 ? 12 : 16);
  const adcZero = intOr(zeroToken, 0, 'ADC zero');
  const initialValue = initToken === undefined ? undefined : intOr(initToken, 0, 'initial value');
  const checksum = sumToken === undefined ? undefined : intOr(sumToken, 0, 'checksum');
  const blockSize = intOr(blockToken, 0, 'block size');
  return {
    fileName,
    ...fmt,
    gainAdcPerUnit,
    baselineAdc: baselineFromGain ?? adcZero,
    units,
    adcResolutionBits,
    adcZero,
    initialValue,
    checksum,
    blockSize,
    description: descTokens.join(' '),
  };
}

/**
 * Parses the text of a `.hea` file.
 * @param text file contents
 * @param source name used in error messages (usually the file path)
 * @throws PulsebridgeError `PB_WFDB_INVALID` with a sentence naming the problem
 */
export function parseWfdbHeader(text: string, source = 'header'): WfdbHeader {
  const comments: string[] = [];
  const lines: string[][] = [];
  for (const raw of text.split(/\r?\n/)) {
    const hash = raw.indexOf('#');
    if (hash >= 0) {
      const comment = raw.slice(hash + 1).trim();
      if (comment) comments.push(comment);
    }
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content) lines.push(content.split(/\s+/));
  }
  const [recordTokens, ...signalLines] = lines;
  if (!recordTokens) throw invalid(source, 'it has no record line');
  const record = parseRecordLine(recordTokens, source);
  if (signalLines.length < record.signalCount) {
    throw invalid(source, `the record line announces ${record.signalCount} signals but only ${signalLines.length} signal lines follow`);
  }
  const signals = signalLines.slice(0, record.signalCount).map((t) => parseSignalLine(t, source));
  return { ...record, signals, comments };
}

/**
 * Reads and parses a header file.
 * @param headerPath path to the `.hea` file
 */
export async function readWfdbHeader(headerPath: string): Promise<WfdbHeader> {
  let text: string;
  try {
    text = await readFile(headerPath, 'latin1');
  } catch (cause) {
    throw new PulsebridgeError('PB_WFDB_INVALID', `WFDB header ${headerPath} could not be read (${(cause as Error).message}).`, { cause, details: { source: headerPath } });
  }
  return parseWfdbHeader(text, headerPath);
}
