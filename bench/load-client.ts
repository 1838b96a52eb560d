/**
 * Load generator of the gateway benchmark, in its own process so it does not share an event loop
 * with the server under test. Driven over IPC by bench/gateway-throughput.ts.
 *
 * Each simulated device opens its own mutual-TLS connection with its own certificate and does
 * what device-protocol.md asks on connect: Last Will `{"online":false}` (retained), SUBSCRIBE to
 * its `cmd` topic, a retained `status` PUBLISH. Then, under load, it keeps `windowPerDevice` QoS 1
 * telemetry PUBLISHes in flight (closed loop: each PUBACK releases the next frame) and records
 * PUBLISH→PUBACK latency.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import { deviceTopics } from '../contracts/topics.ts';
import { openDeviceSession, takePacketId } from './device-session.ts';
import { serveRpc } from './ipc-rpc.ts';
import {
  DISCONNECT, PACKET, PacketReader, packetIdBytes, publishTemplate, type IncomingPacket, type PublishTemplate,
} from './mqtt-wire.ts';

export interface DeviceCredentialFiles { id: string; cert: string; key: string; ca: string }
export interface ConnectParams { port: number; devices: DeviceCredentialFiles[]; concurrency: number }
/**
 * Closed loop (default): `windowPerDevice` frames in flight per device, each PUBACK releases the
 * next — the server's saturation throughput. Open loop with `ratePerDeviceHz`: each device sends
 * on its own clock whatever the PUBACKs do — latency at a given offered load.
 */
export interface LoadParams { payloads: Buffer[]; windowPerDevice: number; ratePerDeviceHz?: number }
export interface Mark {
  tMs: number;
  acks: number;
  /** PUBACK latencies since the previous mark. */
  latency: { count: number; p50Ms: number; p99Ms: number };
  cpuUserUs: number;
  cpuSystemUs: number;
}

const KEEPALIVE_S = 60;

interface Device {
  id: string;
  socket: tls.TLSSocket;
  reader: PacketReader;
  telemetry: PublishTemplate[];
  nextFrame: number;
  nextPacketId: number;
  /** Packet id → performance.now() at write. */
  sentAt: Map<number, number>;
  /** Resolves the handshake's CONNACK / SUBACK / status PUBACK waits. */
  waiting: Map<string, () => void>;
}

const devices: Device[] = [];
let loading = false;
let closedLoop = true;
const timers: NodeJS.Timeout[] = [];
let acks = 0;
let unexpectedPackets = 0;
let closedUnexpectedly = 0;
let latencies = new Float64Array(1 << 20);
let latencyCount = 0;
let drained: (() => void) | undefined;

function recordLatency(ms: number): void {
  if (latencyCount === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[latencyCount++] = ms;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function sendFrame(d: Device): void {
  const t = d.telemetry[d.nextFrame] as PublishTemplate;
  d.nextFrame = (d.nextFrame + 1) % d.telemetry.length;
  const id = takePacketId(d);
  d.sentAt.set(id, performance.now());
  d.socket.write(Buffer.concat([t.head, packetIdBytes(id), t.tail]));
}

function inFlightTotal(): number {
  let n = 0;
  for (const d of devices) n += d.sentAt.size;
  return n;
}

function onPacket(d: Device, p: IncomingPacket): void {
  if (p.type === PACKET.puback) {
    const id = p.body.readUInt16BE(0);
    const sent = d.sentAt.get(id);
    if (sent === undefined) {
      d.waiting.get(`puback:${id}`)?.();
      return;
    }
    d.sentAt.delete(id);
    acks++;
    recordLatency(performance.now() - sent);
    if (loading && closedLoop) sendFrame(d);
    else if (drained && d.sentAt.size === 0 && inFlightTotal() === 0) drained();
  } else if (p.type === PACKET.connack) {
    const rc = p.body[1];
    if (rc === 0) d.waiting.get('connack')?.();
    else d.socket.destroy(new Error(`CONNACK return code ${rc}`));
  } else if (p.type === PACKET.suback) {
    d.waiting.get('suback')?.();
  } else {
    unexpectedPackets++;
  }
}

async function connectDevice(port: number, cred: DeviceCredentialFiles): Promise<Device> {
  const socket = tls.connect({
    host: '127.0.0.1', port, servername: 'localhost',
    ca: fs.readFileSync(cred.ca), cert: fs.readFileSync(cred.cert), key: fs.readFileSync(cred.key),
    rejectUnauthorized: true,
  });
  socket.setNoDelay(true);
  const d: Device = { id: cred.id, socket, reader: new PacketReader(), telemetry: [], nextFrame: 0, nextPacketId: 1, sentAt: new Map(), waiting: new Map() };
  socket.on('data', (chunk: Buffer) => {
    // Frames released by the PUBACKs of one read leave in one TLS write.
    socket.cork();
    d.reader.push(chunk, (p) => onPacket(d, p));
    process.nextTick(() => socket.uncork());
  });
  socket.on('error', () => { /* reported through 'close' */ });
  socket.on('close', () => { if (loading || d.sentAt.size > 0) closedUnexpectedly++; });
  await openDeviceSession(d, cred.id, { keepaliveS: KEEPALIVE_S, timeoutMs: 10_000 });
  return d;
}

serveRpc({
  async connect(p: ConnectParams) {
    const started = performance.now();
    const queue = [...p.devices];
    const worker = async () => {
      for (let cred = queue.shift(); cred; cred = queue.shift()) devices.push(await connectDevice(p.port, cred));
    };
    await Promise.all(Array.from({ length: Math.min(p.concurrency, p.devices.length) }, worker));
    return { connected: devices.length, ms: performance.now() - started };
  },

  startLoad(p: LoadParams) {
    if (p.payloads.length === 0) throw new Error('no payloads');
    for (const d of devices) d.telemetry = p.payloads.map((payload) => publishTemplate(deviceTopics(d.id).telemetry, Buffer.from(payload)));
    loading = true;
    acks = 0;
    latencyCount = 0;
    closedLoop = p.ratePerDeviceHz === undefined;
    // Stagger the devices' starting frames so that not every device sends the same bytes at once.
    devices.forEach((d, i) => { d.nextFrame = i % d.telemetry.length; });
    if (p.ratePerDeviceHz === undefined) {
      for (const d of devices) {
        d.socket.cork();
        for (let k = 0; k < p.windowPerDevice; k++) sendFrame(d);
        d.socket.uncork();
      }
    } else {
      const periodMs = 1000 / p.ratePerDeviceHz;
      // Devices' clocks are not in phase: each starts at a random point of its period.
      for (const d of devices) {
        timers.push(setTimeout(() => {
          if (!loading) return;
          sendFrame(d);
          timers.push(setInterval(() => sendFrame(d), periodMs));
        }, Math.random() * periodMs));
      }
    }
    return { devices: devices.length };
  },

  mark(): Mark {
    const sorted = latencies.slice(0, latencyCount).sort();
    latencyCount = 0;
    const cpu = process.cpuUsage();
    return {
      tMs: performance.now(), acks,
      latency: { count: sorted.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) },
      cpuUserUs: cpu.user, cpuSystemUs: cpu.system,
    };
  },

  /** Stops sending new frames and waits until every frame in flight is acknowledged. */
  async stopLoad() {
    loading = false;
    for (const t of timers) clearTimeout(t);
    timers.length = 0;
    if (inFlightTotal() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        drained = () => { clearTimeout(timer); resolve(); };
      });
      drained = undefined;
    }
    return { acks, unacknowledged: inFlightTotal(), closedUnexpectedly, unexpectedPackets };
  },

  async disconnect() {
    const closing = devices.map((d) => new Promise<void>((resolve) => {
      if (d.socket.destroyed) return resolve();
      d.socket.once('close', () => resolve());
      d.socket.end(DISCONNECT);
      setTimeout(() => d.socket.destroy(), 2_000).unref();
    }));
    loading = false;
    await Promise.all(closing);
    const n = devices.length;
    devices.length = 0;
    closedUnexpectedly = 0;
    unexpectedPackets = 0;
    return { disconnected: n };
  },
});
