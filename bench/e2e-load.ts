/**
 * Load generator of the end-to-end benchmark (bench/e2e.ts), in its own process: N devices, each
 * with its own mutual-TLS connection and certificate, each sending one 1 s telemetry frame per
 * second at QoS 1 on its own phase (open loop: a slow PUBACK does not slow the device down, as
 * with real firmware). A device's clock is this process's wall clock, so the device time of a
 * beat IS the generator's wall time of that beat, and latencies measured against Date.now() in
 * the orchestrator (same machine, same clock) need no mapping.
 *
 * Scripted episodes (a known fraction of devices, alternating):
 * - asystole: the last beat L, then no beat for 6 s. The criterion (no QRS for ≥ 4 s, asystole.ts)
 *   holds at L + 4 s, placed exactly at the end of a frame: that frame leaves at that instant.
 * - extreme bradycardia: RR 1.7 s (35 bpm) × 8 beats. The criterion (HR < 40 for 5 consecutive
 *   beats, extreme-brady.ts) holds at the 5th slow beat, placed 1 ms before the end of its frame.
 * So "criterion satisfied" and "frame with the deciding data sent" are the same moment (±1 ms)
 * and the alert latency measured from the criterion is the pipeline's, not the frame length's.
 * `E2eStartParams.criterionLeadMs` moves the criterion that far before its frame's end (a number,
 * or `random`: each episode device its own, spread evenly over the frame by the golden ratio), as
 * criteria fall on a real patient: the alert latency then includes the wait for the frame's end,
 * and, with ECG only, whether the QRS detector can decide the deciding beat from that frame's
 * samples or needs the next frame's.
 *
 * ECG (`E2eStartParams.ecg`): `none` sends beats only; `with-beats` adds the simulator's 250 Hz
 * synthetic ECG of the same beats (device-sim/ecg-synth.ts), as a patch that streams both;
 * `only` sends that ECG without beats (hr 0), so the processor's QRS detector finds the beats
 * (processor/ecg-beats.ts). The criterion times stay those of the scripted beats: with ECG only,
 * the alert latency includes the QRS detector's decision lag, as a clinician would see it.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Beat, TelemetryFrame } from '../contracts/telemetry.ts';
import { deviceTopics } from '../contracts/topics.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import type { EcgSource, TimedBeat } from '../device-sim/frames.ts';
import { encoderOf, type WireFormat } from '../device-sim/wire-format.ts';
import { openDeviceSession, takePacketId } from './device-session.ts';
import { serveRpc } from './ipc-rpc.ts';
import { DISCONNECT, PACKET, PacketReader, packetIdBytes, publishTemplate, type IncomingPacket } from './mqtt-wire.ts';

export interface E2eDevice { id: string; patientId: string; cert: string; key: string; ca: string; episode?: 'asystole' | 'extreme_brady' }
export interface E2eConnectParams { port: number; devices: E2eDevice[]; concurrency: number }
/** What the devices stream besides the frame header: beats only, beats and ECG, or ECG only. */
export type E2eEcgMode = 'none' | 'with-beats' | 'only';
export interface E2eStartParams {
  format: WireFormat;
  /** Frame index (per device) the criterion falls in. */
  episodeFrame: number;
  ecg?: E2eEcgMode;
  /** How far before its frame's end the criterion falls, ms (0 … 998; default 0), or `random` (each episode device its own). */
  criterionLeadMs?: number | 'random';
}
/** `leadMs`: the criterion's distance before the end of its frame; `frameSentMs`: when that frame left. */
export interface EpisodeTruth { deviceId: string; patientId: string; kind: 'asystole' | 'extreme_brady'; criterionMs: number; leadMs: number; frameSentMs?: number }
export interface LoadStats { sent: number; acked: number; inFlight: number; closedUnexpectedly: number; pubackP50Ms: number; pubackP99Ms: number; cpuUserUs: number; cpuSystemUs: number; tMs: number }

const FRAME_MS = 1000;
const NORMAL_RR_MS = 800;
const ECG_FS_HZ = 250;
/** The synthetic ECG draws beats up to this far from a sample (device-sim/ecg-synth.ts REACH_MS), ms. */
const ECG_BEAT_REACH_MS = 600;

/** Beats at start + rr·j (j ≥ 0) while < end. */
interface Segment { start: number; rr: number; end: number }

interface Device {
  spec: E2eDevice;
  socket: tls.TLSSocket;
  reader: PacketReader;
  topic: string;
  t0: number;
  segments: Segment[];
  lastBeatMs: number | undefined;
  nextPacketId: number;
  sentAt: Map<number, number>;
  waiting: Map<string, () => void>;
  episode?: EpisodeTruth;
  episodeFrame: number;
  ecgSource?: EcgSource;
}

const devices: Device[] = [];
let running = false;
let timer: NodeJS.Timeout | undefined;
let sent = 0;
let acked = 0;
let closedUnexpectedly = 0;
let latencies: number[] = [];
let ecgMode: E2eEcgMode = 'none';

function onPacket(d: Device, p: IncomingPacket): void {
  if (p.type === PACKET.puback) {
    const id = p.body.readUInt16BE(0);
    const at = d.sentAt.get(id);
    if (at === undefined) return d.waiting.get(`puback:${id}`)?.();
    d.sentAt.delete(id);
    acked++;
    latencies.push(performance.now() - at);
  } else if (p.type === PACKET.connack) {
    if (p.body[1] === 0) d.waiting.get('connack')?.();
    else d.socket.destroy(new Error(`CONNACK return code ${p.body[1]}`));
  } else if (p.type === PACKET.suback) {
    d.waiting.get('suback')?.();
  }
}

const fileCache = new Map<string, Buffer>();
const readCached = (p: string) => { let b = fileCache.get(p); if (!b) fileCache.set(p, (b = fs.readFileSync(p))); return b; };

async function connect(port: number, spec: E2eDevice): Promise<Device> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readCached(spec.ca), cert: fs.readFileSync(spec.cert), key: readCached(spec.key) });
  socket.setNoDelay(true);
  const topics = deviceTopics(spec.id);
  const d: Device = { spec, socket, reader: new PacketReader(), topic: topics.telemetry, t0: 0, segments: [], lastBeatMs: undefined, nextPacketId: 1, sentAt: new Map(), waiting: new Map(), episodeFrame: -1 };
  socket.on('data', (chunk: Buffer) => d.reader.push(chunk, (p) => onPacket(d, p)));
  socket.on('error', () => {});
  socket.on('close', () => { if (running) closedUnexpectedly++; });
  await openDeviceSession(d, spec.id, { keepaliveS: 120, timeoutMs: 30_000 });
  return d;
}

/** Normal rhythm on a grid through `anchor` (beats at anchor − 800·j), from the device's start. */
function normalUpTo(t0: number, anchor: number): Segment {
  const back = Math.ceil((anchor - t0) / NORMAL_RR_MS);
  return { start: anchor - back * NORMAL_RR_MS, rr: NORMAL_RR_MS, end: anchor + 1 };
}

/** Golden-ratio sequence: the k-th of n leads spread evenly over [1, 998] ms whatever n is. */
const spreadLeadMs = (k: number) => 1 + Math.floor(((k * 0.6180339887498949) % 1) * 998);

/** The device's beat script and, for episode devices, the criterion time (`leadMs` before the end of the episode frame). */
function script(d: Device, index: number, episodeFrame: number, leadMs: number): void {
  const { t0 } = d;
  const kind = d.spec.episode;
  if (!kind) {
    d.segments = [{ start: t0 + 1 + (index * 37) % NORMAL_RR_MS, rr: NORMAL_RR_MS, end: Infinity }];
    return;
  }
  d.episodeFrame = episodeFrame;
  const frameEnd = t0 + (episodeFrame + 1) * FRAME_MS;
  if (kind === 'asystole') {
    const criterion = frameEnd - leadMs;
    const last = criterion - 4000; // asystole.ts: no QRS for ≥ 4 s
    d.segments = [normalUpTo(t0, last), { start: last + 6000, rr: NORMAL_RR_MS, end: Infinity }];
    d.episode = { deviceId: d.spec.id, patientId: d.spec.patientId, kind, criterionMs: criterion, leadMs };
  } else {
    const deciding = frameEnd - Math.max(1, leadMs); // extreme-brady.ts: HR < 40 bpm for 5 consecutive beats (a beat at the frame's end belongs to the next frame)
    const slowStart = deciding - 5 * 1700;
    d.segments = [normalUpTo(t0, slowStart), { start: slowStart + 1700, rr: 1700, end: slowStart + 8 * 1700 + 1 }, { start: slowStart + 8 * 1700 + NORMAL_RR_MS, rr: NORMAL_RR_MS, end: Infinity }];
    d.episode = { deviceId: d.spec.id, patientId: d.spec.patientId, kind, criterionMs: deciding, leadMs: frameEnd - deciding };
  }
}

/** R-peak times of the script in [from, to). */
function beatTimesIn(d: Device, from: number, to: number): number[] {
  const out: number[] = [];
  for (const s of d.segments) {
    if (s.end <= from || s.start >= to) continue;
    let j = Math.max(0, Math.ceil((from - s.start) / s.rr));
    for (let t = s.start + j * s.rr; t < to && t < s.end; t = s.start + ++j * s.rr) out.push(t);
  }
  return out;
}

function beatsIn(d: Device, from: number, to: number): Beat[] {
  return beatTimesIn(d, from, to).map((t) => {
    const beat: Beat = { off: t - from, rr: d.lastBeatMs === undefined ? 0 : Math.min(0xffff, t - d.lastBeatMs), cls: 'N' };
    d.lastBeatMs = t;
    return beat;
  });
}

/** The frame's 250 Hz synthetic ECG of the scripted beats (int16 µV, as the contract carries it). */
function ecgOf(d: Device, ts: number): { fs: number; uV: number[] } {
  const nearby: TimedBeat[] = beatTimesIn(d, ts - ECG_BEAT_REACH_MS, ts + FRAME_MS + ECG_BEAT_REACH_MS).map((tMs) => ({ tMs, cls: 'N' }));
  const uV = new Array<number>((ECG_FS_HZ * FRAME_MS) / 1000);
  d.ecgSource!.read(ts, ECG_FS_HZ, uV, nearby);
  for (let i = 0; i < uV.length; i++) uV[i] = Math.max(-32768, Math.min(32767, Math.round(uV[i]!)));
  return { fs: ECG_FS_HZ, uV };
}

function frameOf(d: Device, k: number): TelemetryFrame {
  const ts = d.t0 + k * FRAME_MS;
  const beats = beatsIn(d, ts, ts + FRAME_MS);
  const rr = beats.filter((b) => b.rr > 0);
  const hr = rr.length > 0 ? Math.min(255, Math.round(60000 / (rr.reduce((a, b) => a + b.rr, 0) / rr.length))) : 0;
  if (ecgMode === 'none') return { seq: k, ts, durMs: FRAME_MS, hr, battery: 80, leadOff: false, beats };
  const ecg = ecgOf(d, ts);
  // ECG only: the firmware computes neither beats nor a rate (device-protocol.md: hr 0 = not computed).
  if (ecgMode === 'only') return { seq: k, ts, durMs: FRAME_MS, hr: 0, battery: 80, leadOff: false, beats: [], ecg };
  return { seq: k, ts, durMs: FRAME_MS, hr, battery: 80, leadOff: false, beats, ecg };
}

serveRpc({
  async connect(p: E2eConnectParams) {
    const started = performance.now();
    const queue = [...p.devices];
    let failed = 0;
    const worker = async () => {
      for (let spec = queue.shift(); spec; spec = queue.shift()) {
        try {
          devices.push(await connect(p.port, spec));
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(p.concurrency, p.devices.length) }, worker));
    return { connected: devices.length, failed, ms: performance.now() - started };
  },

  /** Every device starts its clock now + its phase (spread evenly over one second). */
  start(p: E2eStartParams) {
    const encode = encoderOf(p.format);
    ecgMode = p.ecg ?? 'none';
    const startMs = Date.now() + 200;
    const lead = p.criterionLeadMs ?? 0; // (checked by bench/e2e.ts, which parses --criterion-lead-ms)
    let episodeDevices = 0;
    devices.forEach((d, i) => {
      d.t0 = startMs + Math.floor((i * FRAME_MS) / devices.length);
      script(d, i, p.episodeFrame, lead === 'random' ? (d.spec.episode ? spreadLeadMs(episodeDevices++) : 0) : lead);
      if (ecgMode !== 'none') d.ecgSource = syntheticEcgSource(i + 1, ECG_FS_HZ);
    });
    running = true;
    // Devices in phase order: device i sends frame k at t0_i + (k + 1) s.
    let cursor = 0;
    let round = 0;
    const tick = () => {
      if (!running) return;
      const now = Date.now();
      for (;;) {
        const d = devices[cursor]!;
        const due = d.t0 + (round + 1) * FRAME_MS;
        if (due > now) break;
        const frame = frameOf(d, round);
        const id = takePacketId(d);
        const t = publishTemplate(d.topic, encode(frame));
        d.sentAt.set(id, performance.now());
        d.socket.write(Buffer.concat([t.head, packetIdBytes(id), t.tail]));
        if (round === d.episodeFrame && d.episode) d.episode.frameSentMs = Date.now();
        sent++;
        if (++cursor === devices.length) { cursor = 0; round++; }
      }
      timer = setTimeout(tick, 2);
    };
    timer = setTimeout(tick, 2);
    return { devices: devices.length, startMs, episodeDevices: devices.filter((d) => d.episode).length };
  },

  stats(): LoadStats {
    const sorted = latencies.sort((a, b) => a - b);
    latencies = [];
    const q = (x: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))]! : NaN;
    let inFlight = 0;
    for (const d of devices) inFlight += d.sentAt.size;
    const cpu = process.cpuUsage();
    return { sent, acked, inFlight, closedUnexpectedly, pubackP50Ms: q(0.5), pubackP99Ms: q(0.99), cpuUserUs: cpu.user, cpuSystemUs: cpu.system, tMs: Date.now() };
  },

  episodes(): EpisodeTruth[] {
    return devices.flatMap((d) => (d.episode ? [d.episode] : []));
  },

  /** Stops sending; waits (≤ 15 s) until every frame in flight is acknowledged. */
  async stop() {
    running = false;
    if (timer) clearTimeout(timer);
    const deadline = Date.now() + 15_000;
    const inFlight = () => devices.reduce((n, d) => n + d.sentAt.size, 0);
    while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return { sent, acked, unacknowledged: inFlight(), closedUnexpectedly };
  },

  async disconnect() {
    running = false;
    await Promise.all(devices.map((d) => new Promise<void>((resolve) => {
      if (d.socket.destroyed) return resolve();
      d.socket.once('close', () => resolve());
      d.socket.end(DISCONNECT);
      setTimeout(() => { d.socket.destroy(); resolve(); }, 3_000).unref();
    })));
    const n = devices.length;
    devices.length = 0;
    return { disconnected: n };
  },
});
