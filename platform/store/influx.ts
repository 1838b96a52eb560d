/**
 * InfluxDB adapter of the time-series store port (platform/store/vitals-store.ts), speaking the v1 HTTP
 * API: `POST /write?db=…&precision=ns` with line protocol and `/query?db=…&epoch=ms` with InfluxQL.
 * InfluxDB 1.x serves it natively; 2.x and 3.x through their v1 compatibility endpoints
 * (product.md), so one adapter serves all three. `@influxdata/influxdb-client` provides the
 * escaping (`Point`) and the HTTP transport (`transport.request()`); its v2 write/query APIs are
 * not used because 1.x does not have them.
 *
 * Schema (one series per patient × device [× beat class]):
 *   heart_rate,patient=…,device=…        hr_bpm=<float>   <device time in ns: ms, frame seq below>
 *   rr_interval,patient=…,device=…,cls=… rr_ms=<int>i     <device time in ns: ms, frame seq below>
 *   ecg_strip,patient=…,device=…,kind=…  alert_id="…",fs_hz=<float>,uv="<base64 int16 LE>",
 *                                        gaps="[[from,to),…]",lead_off="[…]",beats="[…]"  <strip start in ns, whole ms>
 * An ECG strip is one point (read whole, never aggregated); the alert id is a field, not a tag,
 * so strips do not make a series per alert. The kind tag keeps apart two alerts of one patient
 * with the same onset (e.g. brady and extreme_brady).
 * A re-written point (same series and time) replaces the old one, as in the SQLite store. Times
 * are written in nanoseconds: the device time in ms, and below the millisecond the frame's `seq`
 * (1 + seq mod 999,999; 0 without one: vitals-store.ts FrameSeq). The same frame resent lands on
 * its own points; another frame at the same device time (a clock stepped back by whole frames)
 * gets its own point instead of replacing the stored one. Queries read ms (`epoch=ms` truncates).
 */
import { InfluxDB, Point } from '@influxdata/influxdb-client';
import type { Transport } from '@influxdata/influxdb-client';
import { PulsebridgeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import type { FrameSeq, HeartRatePoint, RrPoint, VitalsStore } from './vitals-store.ts';
import { PATIENT_ID_PATTERN } from '../../contracts/topics.ts';

/** Options of InfluxVitalsStore. Give either `token` or `username`/`password`, or neither (open 1.x). */
export interface InfluxVitalsStoreOptions {
  /** Base URL, e.g. http://127.0.0.1:8086 (a path prefix behind a proxy is kept). */
  url: string;
  /** v1 database (2.x/3.x: the bucket mapped to it; a bucket named like the database is mapped automatically). */
  database: string;
  /**
   * Retention policy to write to and read from; the database's default when absent. With
   * `retentionDays`, init() creates it when it does not exist.
   */
  retentionPolicy?: string;
  /**
   * How long InfluxDB keeps the points, whole days (PULSEBRIDGE_VITALS_RETENTION_DAYS); absent:
   * the retention policy is left as it is (forever unless someone set one). See {@link InfluxVitalsStore.init}.
   */
  retentionDays?: number;
  /** Says at init which retention is in force, and that InfluxDB refused to set it (2.x/3.x). */
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** 2.x/3.x token, sent as `Authorization: Token …`. */
  token?: string;
  /** 1.x user, sent as `u`/`p` query parameters (the v1 API's own scheme). */
  username?: string;
  password?: string;
  /** Socket timeout of one request, ms. */
  timeoutMs?: number;
  /** Points per /write request; InfluxDB's guidance is 5,000–10,000 lines per batch. */
  maxPointsPerWrite?: number;
  /** Write bodies larger than this are gzipped, bytes (the client's WriteApi default). */
  gzipThresholdBytes?: number;
}

export const INFLUX_STORE_DEFAULTS = {
  timeoutMs: 10_000,
  maxPointsPerWrite: 5_000,
  gzipThresholdBytes: 1_000,
} as const;

interface InfluxSeries {
  name: string;
  columns: string[];
  values?: unknown[][];
  partial?: boolean;
}
interface InfluxQueryResponse {
  results?: { statement_id?: number; error?: string; series?: InfluxSeries[]; partial?: boolean }[];
  error?: string;
}

export class InfluxVitalsStore implements VitalsStore {
  readonly #transport: Transport;
  readonly #database: string;
  readonly #retentionPolicy: string | undefined;
  readonly #retentionDays: number | undefined;
  readonly #logger: Pick<Logger, 'info' | 'warn'> | undefined;
  readonly #credentials: { u: string; p: string } | undefined;
  readonly #maxPointsPerWrite: number;
  readonly #gzipThresholdBytes: number;
  #closed = false;

  constructor(options: InfluxVitalsStoreOptions) {
    if (!options.database) throw new PulsebridgeError('PB_CONFIG_INVALID', 'InfluxVitalsStore needs a database name');
    this.#database = options.database;
    this.#retentionPolicy = options.retentionPolicy;
    if (options.retentionDays !== undefined && !(Number.isInteger(options.retentionDays) && options.retentionDays >= 1)) {
      throw new PulsebridgeError('PB_CONFIG_INVALID', `retentionDays must be a whole number of days >= 1, not ${options.retentionDays}`);
    }
    this.#retentionDays = options.retentionDays;
    this.#logger = options.logger;
    this.#credentials = options.username !== undefined ? { u: options.username, p: options.password ?? '' } : undefined;
    this.#maxPointsPerWrite = options.maxPointsPerWrite ?? INFLUX_STORE_DEFAULTS.maxPointsPerWrite;
    this.#gzipThresholdBytes = options.gzipThresholdBytes ?? INFLUX_STORE_DEFAULTS.gzipThresholdBytes;
    // The client sends `Authorization: Token <token>` on every request when a token is given.
    this.#transport = new InfluxDB({
      url: options.url,
      timeout: options.timeoutMs ?? INFLUX_STORE_DEFAULTS.timeoutMs,
      ...(options.token ? { token: options.token } : {}),
    }).transport;
  }

  /**
   * Makes sure the database exists: nothing to do when SHOW DATABASES lists it, otherwise
   * `CREATE DATABASE` (idempotent on 1.x). On 2.x/3.x databases are buckets: create the bucket
   * (named like the database, or add a DBRP mapping) when provisioning; this then only checks it.
   * Then the retention ({@link #ensureRetention}), and one info line saying which is in force.
   */
  async init(): Promise<void> {
    await this.#ensureDatabase();
    await this.#ensureRetention();
  }

  async #ensureDatabase(): Promise<void> {
    this.#assertOpen();
    let listed: string[] | undefined;
    try {
      const res = await this.#query('SHOW DATABASES', 'GET', false);
      listed = (res.results?.[0]?.series?.[0]?.values ?? []).map((row) => String(row[0]));
    } catch {
      // Some v1-compatibility endpoints do not implement SHOW DATABASES; try creating instead.
    }
    if (listed?.includes(this.#database)) return;
    try {
      await this.#query(`CREATE DATABASE ${quoteIdentifier(this.#database)}`, 'POST', false);
    } catch (err) {
      throw new PulsebridgeError('PB_STORE_WRITE_FAILED', `could not create InfluxDB database ${this.#database}: ${(err as Error).message}`, {
        cause: err,
        details: { database: this.#database },
      });
    }
  }

  /**
   * With `retentionDays`: the retention policy the store writes to — `retentionPolicy`, else the
   * database's default one (`autogen` for a database CREATE DATABASE made) — gets DURATION <days>d,
   * altered in place so the points already stored fall under it too and the reads, which follow
   * the default, see every point; a named `retentionPolicy` that does not exist is created
   * (REPLICATION 1, not DEFAULT: the store names it in its writes and reads). Nothing is sent when
   * the policy already has that duration (idempotent). The shard group duration follows InfluxDB's
   * own rule for a new policy of that duration (1h under 2 days, 1d up to 6 months, 7d above): a
   * shard group is dropped whole once all of it is older than the duration, so a 7d shard of
   * `autogen` would keep a 1-day retention's points a week (and 1.x refuses a duration shorter
   * than the shard duration). Without `retentionDays` the policy is left as it is.
   *
   * InfluxDB 2.x/3.x: the v1 API cannot change a bucket's retention (the bucket's own setting, e.g.
   * `influx bucket update --retention 400d`): the refusal is logged as a warning and the start goes
   * on. Only a refusal is swallowed; no answer (or 5xx) fails init like the database step.
   */
  async #ensureRetention(): Promise<void> {
    // Nothing to set and nobody to tell: no request.
    if (this.#retentionDays === undefined && !this.#logger) return;
    let policies: RetentionPolicyRow[] | undefined;
    try {
      policies = retentionPolicyRows(await this.#query('SHOW RETENTION POLICIES', 'GET', true));
    } catch (err) {
      if (!refused(err)) throw err;
    }
    const target = this.#retentionPolicy ?? policies?.find((p) => p.default)?.name ?? 'autogen';
    let current = policies?.find((p) => p.name === target);
    const days = this.#retentionDays;
    if (days !== undefined && current?.duration !== goDuration(days * 24)) {
      const shard = shardGroupDuration(days);
      const q = current || !policies
        ? `ALTER RETENTION POLICY ${quoteIdentifier(target)} ON ${quoteIdentifier(this.#database)} DURATION ${days}d SHARD DURATION ${shard}`
        : `CREATE RETENTION POLICY ${quoteIdentifier(target)} ON ${quoteIdentifier(this.#database)} DURATION ${days}d REPLICATION 1 SHARD DURATION ${shard}`;
      try {
        await this.#query(q, 'POST', false);
        current = { name: target, duration: goDuration(days * 24), default: current?.default ?? false };
      } catch (err) {
        if (!refused(err)) {
          throw new PulsebridgeError('PB_STORE_WRITE_FAILED', `could not set the retention of InfluxDB database ${this.#database}: ${describeError(err)}`, { cause: err, details: { database: this.#database } });
        }
        this.#logger?.warn(
          `InfluxDB refused to set the retention of database ${this.#database} to ${days} days (${describeError(err)}); starting anyway. ` +
            `On InfluxDB 2.x/3.x the bucket's own retention is the setting (influx bucket update --retention ${days}d, or DOCKER_INFLUXDB_INIT_RETENTION at setup); on 1.x the user needs admin rights`,
          { database: this.#database, retentionPolicy: target, retentionDays: days },
        );
      }
    }
    const inForce = current ? describeRetention(current.duration) : 'unknown (InfluxDB does not list its retention policies)';
    this.#logger?.info(`vitals retention in InfluxDB: ${inForce}`, {
      database: this.#database, retentionPolicy: target, inForce, setting: days === undefined ? 'unset (left as InfluxDB has it)' : `${days} days`,
    });
  }

  async write(points: { heartRate: HeartRatePoint[]; rr: RrPoint[] }): Promise<void> {
    this.#assertOpen();
    let lines: string[];
    try {
      lines = [...points.heartRate.map(heartRateLine), ...points.rr.map(rrLine)];
    } catch (err) {
      throw new PulsebridgeError('PB_STORE_WRITE_FAILED', `invalid point: ${(err as Error).message}`, { cause: err });
    }
    await this.#writeLines(lines);
  }

  async writeEcgStrips(strips: EcgStrip[]): Promise<void> {
    this.#assertOpen();
    let lines: string[];
    try {
      lines = strips.map(ecgStripLine);
    } catch (err) {
      throw new PulsebridgeError('PB_STORE_WRITE_FAILED', `invalid ECG strip: ${(err as Error).message}`, { cause: err });
    }
    await this.#writeLines(lines);
  }

  async getEcgStrip(patientId: string, alertId: string): Promise<EcgStrip | undefined> {
    this.#assertOpen();
    if (!PATIENT_ID_PATTERN.test(patientId)) {
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `invalid patient id ${JSON.stringify(patientId)}`, { details: { patientId } });
    }
    const columns = ['alert_id', 'device', 'kind', 'fs_hz', 'uv', 'gaps', 'lead_off', 'beats'];
    const q = `SELECT ${columns.map(quoteIdentifier).join(', ')} FROM ${this.#measurement('ecg_strip')} WHERE "patient" = ${quoteString(patientId)} AND "alert_id" = ${quoteString(alertId)}`;
    let res: InfluxQueryResponse;
    try {
      res = await this.#query(q, 'GET', true);
    } catch (err) {
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `InfluxDB query on ecg_strip failed: ${describeError(err)}`, { cause: err, details: { database: this.#database, patientId } });
    }
    const series = res.results?.[0]?.series?.[0];
    const row = series?.values?.[0];
    if (!series || !row) return undefined;
    const col = (name: string) => row[series.columns.indexOf(name)];
    return ecgStripFromRow(patientId, Number(col('time')), {
      alertId: String(col('alert_id')), deviceId: String(col('device')), kind: col('kind'), fsHz: Number(col('fs_hz')),
      uv: String(col('uv')), gaps: String(col('gaps')), leadOff: String(col('lead_off')), beats: String(col('beats')),
    });
  }

  async #writeLines(lines: string[]): Promise<void> {
    const params = new URLSearchParams({ db: this.#database, precision: 'ns', ...this.#credentials });
    if (this.#retentionPolicy) params.set('rp', this.#retentionPolicy);
    for (let i = 0; i < lines.length; i += this.#maxPointsPerWrite) {
      const chunk = lines.slice(i, i + this.#maxPointsPerWrite);
      try {
        // 204 No Content on success; 4xx/5xx reject with the server's {"error": …}.
        await this.#transport.request(`/write?${params}`, chunk.join('\n'), {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          gzipThreshold: this.#gzipThresholdBytes,
        });
      } catch (err) {
        // An HTTP status is InfluxDB's answer; without one it was never reached (refused, timed out).
        const answered = (err as { statusCode?: unknown }).statusCode !== undefined;
        throw new PulsebridgeError('PB_STORE_WRITE_FAILED', `${answered ? 'InfluxDB rejected' : 'InfluxDB could not be reached for'} a write of ${chunk.length} point(s): ${describeError(err)}`, {
          cause: err,
          // Earlier chunks of this call are stored; re-writing them is harmless (same series and time).
          details: { database: this.#database, points: chunk.length, alreadyWritten: i },
        });
      }
    }
  }

  async queryHeartRate(patientId: string, fromMs: number, toMs: number): Promise<HeartRatePoint[]> {
    const rows = await this.#selectRange('heart_rate', ['hr_bpm', 'device'], patientId, fromMs, toMs);
    return rows.map(([time, hrBpm, device]) => ({ patientId, deviceId: String(device), timeMs: Number(time), hrBpm: Number(hrBpm) }));
  }

  async queryRr(patientId: string, fromMs: number, toMs: number): Promise<RrPoint[]> {
    const rows = await this.#selectRange('rr_interval', ['rr_ms', 'device', 'cls'], patientId, fromMs, toMs);
    return rows.map(([time, rrMs, device, cls]) => ({ patientId, deviceId: String(device), timeMs: Number(time), rrMs: Number(rrMs), cls: String(cls) }));
  }

  /**
   * One cheap read of the vitals database's metadata (`SHOW RETENTION POLICIES`): answers only when InfluxDB
   * is reachable, takes the credentials and has the database — what the API's reads need, which
   * `/ping` (reachability alone) would not show.
   */
  async ping(): Promise<void> {
    this.#assertOpen();
    try {
      await this.#query('SHOW RETENTION POLICIES', 'GET', true);
    } catch (err) {
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `InfluxDB does not answer a read of database ${this.#database}: ${describeError(err)}`, { cause: err, details: { database: this.#database } });
    }
  }

  async close(): Promise<void> {
    // Stateless HTTP: nothing to flush (writes resolve only once InfluxDB accepted them).
    this.#closed = true;
  }

  /** Closed: a background start-up retry stops (platform/adapters.ts). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Rows `[time, ...columns]` of one patient with fromMs <= time < toMs, oldest first. */
  async #selectRange(measurement: string, columns: string[], patientId: string, fromMs: number, toMs: number): Promise<unknown[][]> {
    this.#assertOpen();
    if (!PATIENT_ID_PATTERN.test(patientId)) {
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `invalid patient id ${JSON.stringify(patientId)}`, { details: { patientId } });
    }
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) {
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `invalid time range ${fromMs}..${toMs}`, { details: { fromMs, toMs } });
    }
    // Stored times are whole ms, so t >= x  <=>  t >= ceil(x), and t < y  <=>  t < ceil(y).
    const q =
      `SELECT ${columns.map(quoteIdentifier).join(', ')} FROM ${this.#measurement(measurement)}` +
      ` WHERE "patient" = ${quoteString(patientId)} AND time >= ${Math.ceil(fromMs)}ms AND time < ${Math.ceil(toMs)}ms` +
      ' ORDER BY time ASC';
    let res: InfluxQueryResponse;
    try {
      res = await this.#query(q, 'GET', true);
    } catch (err) {
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `InfluxDB query on ${measurement} failed: ${describeError(err)}`, {
        cause: err,
        details: { database: this.#database, measurement, patientId },
      });
    }
    const result = res.results?.[0];
    const series = result?.series ?? [];
    if (result?.partial || series.some((s) => s.partial)) {
      // The server's max-row-limit cut the answer; returning part of a trend silently would be wrong.
      throw new PulsebridgeError('PB_STORE_QUERY_FAILED', `InfluxDB truncated the ${measurement} result (max-row-limit); query a shorter range`, {
        details: { database: this.#database, measurement, patientId, fromMs, toMs },
      });
    }
    const rows: unknown[][] = [];
    for (const s of series) {
      // Map by column name: the server decides column order.
      const index = ['time', ...columns].map((c) => s.columns.indexOf(c));
      for (const v of s.values ?? []) rows.push(index.map((i) => (i < 0 ? undefined : v[i])));
    }
    return rows;
  }

  /**
   * A measurement in FROM: `"rp"."name"` when the store names its retention policy (the one its
   * writes go to; 1.x reads the policy from here), else the default's.
   */
  #measurement(name: string): string {
    return this.#retentionPolicy ? `${quoteIdentifier(this.#retentionPolicy)}.${quoteIdentifier(name)}` : quoteIdentifier(name);
  }

  /** Runs one InfluxQL statement; rejects on HTTP errors and on a statement-level `error` (an {@link InfluxStatementError}). */
  async #query(q: string, method: 'GET' | 'POST', useDatabase: boolean): Promise<InfluxQueryResponse> {
    // rp as a parameter too: the 2.x v1 API maps db + rp to a bucket and ignores the policy in FROM.
    const rp: Record<string, string> = useDatabase && this.#retentionPolicy ? { rp: this.#retentionPolicy } : {};
    const params = new URLSearchParams({ ...(useDatabase ? { db: this.#database } : {}), ...rp, epoch: 'ms', q, ...this.#credentials });
    const res = (await this.#transport.request(`/query?${params}`, null, { method, headers: { accept: 'application/json' } })) as InfluxQueryResponse;
    const statementError = res?.error ?? res?.results?.find((r) => r.error)?.error;
    if (statementError) throw new InfluxStatementError(statementError);
    return res;
  }

  #assertOpen(): void {
    if (this.#closed) throw new PulsebridgeError('PB_STORE_WRITE_FAILED', 'the InfluxDB vitals store is closed');
  }
}

/** InfluxDB answered, and the statement failed (HTTP 200 with `error`, as 1.x answers e.g. "retention policy not found"). */
class InfluxStatementError extends Error {}

/** InfluxDB answered and said no (a statement error or a 4xx): waiting would not change it. No answer or 5xx is not a refusal. */
function refused(err: unknown): boolean {
  if (err instanceof InfluxStatementError) return true;
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

interface RetentionPolicyRow {
  name: string;
  /** Go duration as SHOW RETENTION POLICIES prints it: "0s" (forever), "9600h0m0s". */
  duration: string;
  default: boolean;
}

function retentionPolicyRows(res: InfluxQueryResponse): RetentionPolicyRow[] | undefined {
  const series = res.results?.[0]?.series?.[0];
  if (!series) return undefined;
  const col = (name: string) => series.columns.indexOf(name);
  return (series.values ?? []).map((v) => ({ name: String(v[col('name')]), duration: String(v[col('duration')]), default: v[col('default')] === true }));
}

/** Whole hours as Go prints a duration ("9600h0m0s"), for comparing with SHOW RETENTION POLICIES. */
const goDuration = (hours: number): string => `${hours}h0m0s`;

/** InfluxDB's shard group duration for a new policy of this duration (docs: "Shard group duration management"). */
function shardGroupDuration(days: number): string {
  if (days < 2) return '1h';
  return days <= 183 ? '1d' : '7d';
}

/** "forever" for "0s", "400 days" for "9600h0m0s", else the duration as InfluxDB printed it. */
function describeRetention(duration: string): string {
  if (duration === '0s' || duration === '0' || duration === 'INF') return 'forever';
  const m = /^(\d+)h0m0s$/.exec(duration);
  if (m && Number(m[1]) % 24 === 0) return `${Number(m[1]) / 24} days`;
  return duration;
}

/** InfluxDB's limit on one string field value (bytes). */
const MAX_STRING_FIELD_BYTES = 64 * 1024;

function ecgStripLine(strip: EcgStrip): string {
  const samples = Int16Array.from(strip.uV, (v) => v ?? 0);
  const uv = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString('base64');
  if (uv.length > MAX_STRING_FIELD_BYTES) throw new Error(`strip of alert ${strip.alertId} has ${strip.uV.length} samples: more than one InfluxDB string field holds`);
  // Where uV is null (no sample, lead-off): [from, to) index ranges.
  const gaps: [number, number][] = [];
  strip.uV.forEach((v, i) => {
    if (v !== null) return;
    const last = gaps.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else gaps.push([i, i + 1]);
  });
  return new Point('ecg_strip')
    .tag('patient', strip.patientId)
    .tag('device', strip.deviceId)
    .tag('kind', strip.kind ?? 'unknown')
    .stringField('alert_id', strip.alertId)
    .floatField('fs_hz', strip.fsHz)
    .stringField('uv', uv)
    .stringField('gaps', JSON.stringify(gaps))
    .stringField('lead_off', JSON.stringify(strip.leadOff))
    .stringField('beats', JSON.stringify(strip.beats))
    .timestamp(nanoseconds(strip.startMs))
    .toLineProtocol()!;
}

function ecgStripFromRow(patientId: string, startMs: number, r: { alertId: string; deviceId: string; kind: unknown; fsHz: number; uv: string; gaps: string; leadOff: string; beats: string }): EcgStrip {
  const bytes = Buffer.from(r.uv, 'base64');
  const samples = new Int16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 2));
  const uV: (number | null)[] = Array.from(samples);
  for (const [from, to] of JSON.parse(r.gaps) as [number, number][]) uV.fill(null, from, to);
  return {
    schema: 'pb.ecg-strip.v1',
    alertId: r.alertId,
    ...(typeof r.kind === 'string' && r.kind !== 'unknown' ? { kind: r.kind as NonNullable<EcgStrip['kind']> } : {}),
    patientId,
    deviceId: r.deviceId,
    startMs,
    fsHz: r.fsHz,
    uV,
    leadOff: JSON.parse(r.leadOff) as [number, number][],
    beats: JSON.parse(r.beats) as EcgStrip['beats'],
  };
}

function heartRateLine(p: HeartRatePoint): string {
  return new Point('heart_rate')
    .tag('patient', p.patientId)
    .tag('device', p.deviceId)
    .floatField('hr_bpm', p.hrBpm)
    .timestamp(nanoseconds(p.timeMs, p.seq))
    .toLineProtocol()!;
}

function rrLine(p: RrPoint): string {
  return new Point('rr_interval')
    .tag('patient', p.patientId)
    .tag('device', p.deviceId)
    .tag('cls', p.cls)
    // RR intervals are whole milliseconds (device-protocol.md), stored as InfluxDB integers.
    .intField('rr_ms', Math.round(p.rrMs))
    .timestamp(nanoseconds(p.timeMs, p.seq))
    .toLineProtocol()!;
}

/** A line protocol timestamp in ns: whole ms, and the frame's seq below the millisecond (module comment). */
function nanoseconds(timeMs: number, seq?: FrameSeq): string {
  if (!Number.isFinite(timeMs)) throw new Error(`timeMs is not a finite number: ${timeMs}`);
  const belowMs = seq === undefined ? 0 : 1 + (seq % 999_999);
  return `${BigInt(Math.round(timeMs)) * 1_000_000n + BigInt(belowMs)}`;
}

/** InfluxQL string literal: single quotes, backslash-escaped. */
function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** InfluxQL identifier: double quotes, backslash-escaped. */
function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function describeError(err: unknown): string {
  const e = err as { statusCode?: number; json?: { error?: string }; message?: string };
  if (e.statusCode !== undefined) return `HTTP ${e.statusCode}${e.json?.error ? `: ${e.json.error}` : ''}`;
  return e.message ?? String(err);
}
