/**
 * Memory under abuse (issue 13 item 5). Not a test: prints numbers. Each case runs in a fresh
 * process (bench/abuse-memory-server.ts, --expose-gc) and reads its RSS, peak RSS (VmHWM) and
 * JS heap from the outside over IPC.
 *
 *   node bench/abuse-memory.ts mqtt     a device with a valid certificate publishes one 100 MB and
 *                                       one 200 MB telemetry PUBLISH; the gateway with the packet
 *                                       limit (default) and, as the baseline in the same run,
 *                                       with the limit lifted to 512 MB (the old behaviour)
 *   node bench/abuse-memory.ts body     one 200 MB request body to the API (kept: 64 KiB, the rest drained)
 *   node bench/abuse-memory.ts http [--rounds 5] [--concurrency 500] [--idle-s 30]
 *                                       rounds of N concurrent authorised requests (1 h of vitals,
 *                                       alert lists) against the dashboard API; memory after each
 *                                       round, after a full GC, and after idling; without the
 *                                       API's request limit (baseline) and with it
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import type { DeviceCredentials } from '../platform/security/index.ts';
import type { MemoryReading } from './abuse-memory-server.ts';
import { RpcChild } from './ipc-rpc.ts';

const SERVER = path.join(import.meta.dirname, 'abuse-memory-server.ts');
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (m: MemoryReading) => `rss ${m.rssMiB} MiB, peak ${m.peakRssMiB} MiB, heap ${m.heapUsedMiB} MiB, external ${m.externalMiB} MiB`;

async function publishHuge(port: number, creds: DeviceCredentials, bytes: number): Promise<string> {
  const client = mqtt.connect(`mqtts://localhost:${port}`, {
    clientId: 'dev-big', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000,
    ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key),
  });
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
  const payload = Buffer.alloc(bytes, 0x7b);
  const started = performance.now();
  const outcome = await new Promise<string>((resolve) => {
    client.publish('pb/v1/dev/dev-big/telemetry', payload, { qos: 1 }, (err) => resolve(err ? `error: ${err.message}` : 'PUBACK'));
    client.once('close', () => resolve('connection closed by the gateway'));
    setTimeout(() => resolve('no answer in 120 s'), 120_000);
  });
  client.end(true);
  return `${outcome} after ${Math.round(performance.now() - started)} ms`;
}

async function mqttCase(label: string, maxPacketBytes: number | undefined): Promise<void> {
  const server = new RpcChild(SERVER, ['--expose-gc']);
  try {
    const { port, creds } = await server.call<{ port: number; creds: DeviceCredentials }>('mqtt', maxPacketBytes === undefined ? {} : { maxPacketBytes });
    console.log(`\n${label}`);
    console.log(`  idle:                     ${fmt(await server.call<MemoryReading>('gc'))}`);
    for (const size of [100, 200]) {
      const result = await publishHuge(port, creds, size * MiB);
      await sleep(1000);
      console.log(`  after a ${size} MB PUBLISH (${result}): ${fmt(await server.call<MemoryReading>('memory'))}`);
    }
    await sleep(5000);
    console.log(`  5 s later, after full GC: ${fmt(await server.call<MemoryReading>('gc'))}; dead letters on the bus: ${await server.call<number>('deadLetters')}`);
    await server.call('stop');
  } finally {
    await server.close();
  }
}

async function httpCase(label: string, maxConcurrentRequests: number | undefined, rounds: number, concurrency: number, idleS: number): Promise<void> {
  const server = new RpcChild(SERVER, ['--expose-gc']);
  try {
    const setup = await server.call<{ url: string; token: string; from: number; to: number }>('http', { patients: 20, pointsPerPatient: 3600, maxConcurrentRequests });
    const headers = { authorization: `Bearer ${setup.token}` };
    const requestAt = (i: number) => (i % 2 === 0
      ? `${setup.url}/v1/patients/p${i % 20}/vitals?from=${setup.from}&to=${setup.to}`
      : `${setup.url}/v1/alerts?limit=1000`);
    // Warm up (JIT, first SQLite pages), then the baseline.
    await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(requestAt(i), { headers }).then((r) => r.arrayBuffer())));
    const baseline = await server.call<MemoryReading>('gc');
    console.log(`\nHTTP, ${label}: ${concurrency} concurrent authorised requests per round (1 h vitals = 3600 points, alert lists of 200)`);
    console.log(`  baseline after warm-up and GC: ${fmt(baseline)}`);
    for (let r = 1; r <= rounds; r++) {
      const started = performance.now();
      const statuses = await Promise.all(Array.from({ length: concurrency }, (_, i) => fetch(requestAt(i), { headers }).then(async (res) => { await res.arrayBuffer(); return res.status; })));
      const ms = Math.round(performance.now() - started);
      const after = await server.call<MemoryReading>('memory');
      const gced = await server.call<MemoryReading>('gc');
      const bad = statuses.filter((s) => s !== 200).length;
      console.log(`  round ${r} (${ms} ms, ${bad} non-200): right after ${fmt(after)} | after GC ${fmt(gced)}`);
    }
    await sleep(idleS * 1000);
    console.log(`  ${idleS} s idle, after GC: ${fmt(await server.call<MemoryReading>('gc'))}`);
    console.log(`  V8 spaces after GC (MiB): ${JSON.stringify(await server.call('spaces'))}`);
    await server.call('stop');
  } finally {
    await server.close();
  }
}

/** One 200 MB request body (streamed by the client) to a route that takes a 64 KiB JSON body. */
async function bodyCase(): Promise<void> {
  const server = new RpcChild(SERVER, ['--expose-gc']);
  try {
    const setup = await server.call<{ url: string; token: string }>('http', { patients: 1, pointsPerPatient: 10 });
    console.log(`\nHTTP, one 200 MB request body to POST /v1/devices/dev-0/commands (limit 64 KiB)`);
    console.log(`  idle, after GC: ${fmt(await server.call<MemoryReading>('gc'))}`);
    const chunk = Buffer.alloc(MiB, 0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({ pull(c) { if (sent >= 200) { c.close(); return; } sent++; c.enqueue(chunk); } });
    const started = performance.now();
    const res = await fetch(`${setup.url}/v1/devices/dev-0/commands`, { method: 'POST', headers: { authorization: `Bearer ${setup.token}`, 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    const text = await res.text();
    console.log(`  answer ${res.status} after ${Math.round(performance.now() - started)} ms (${sent} MiB sent): ${text.slice(0, 100)}`);
    console.log(`  after: ${fmt(await server.call<MemoryReading>('memory'))}`);
    await server.call('stop');
  } finally {
    await server.close();
  }
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string' }, concurrency: { type: 'string' }, 'idle-s': { type: 'string' } } });
const which = positionals[0] ?? 'mqtt';
if (which === 'mqtt') {
  await mqttCase('MQTT, packet limit lifted to 512 MB (baseline: the behaviour before issue 13)', 512 * MiB);
  await mqttCase('MQTT, packet limit on (default: payload limit + 512 B)', undefined);
} else if (which === 'body') {
  await bodyCase();
} else if (which === 'http') {
  const args = [Number(values.rounds ?? 5), Number(values.concurrency ?? 500), Number(values['idle-s'] ?? 30)] as const;
  await httpCase('request limit lifted (baseline: the behaviour before issue 13)', 1_000_000, ...args);
  await httpCase('request limit on (default: 32 answered at once)', undefined, ...args);
} else {
  console.error('usage: node bench/abuse-memory.ts mqtt | body | http [--rounds 5] [--concurrency 500] [--idle-s 30]');
  process.exitCode = 2;
}
