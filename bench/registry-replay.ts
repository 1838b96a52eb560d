/**
 * How long an instance takes to start on the registry's Kafka streams, and what it holds in
 * memory: every instance replays the device log and the command log from the beginning
 * (platform/registry/entity-log.ts). Publishes synthetic logs to throw-away topics on the local broker,
 * replays each with and without the in-memory audit trail (gateways fold without it), each replay
 * in a fresh process (so one replay's garbage does not colour the next), prints a table, and
 * deletes the topics. A benchmark, not a test: nothing is asserted.
 *
 *   node bench/registry-replay.ts [--devices 50000] [--commands 20000] [--kafka-brokers 127.0.0.1:9092]
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaBus } from '../platform/bus/index.ts';
import { BusEntityLog } from '../platform/registry/index.ts';
import { newCommand, planDelivery, planResult } from '../platform/registry/index.ts';
import { silentLogger } from '../platform/log.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '50000' }, commands: { type: 'string', default: '20000' }, 'kafka-brokers': { type: 'string', default: '127.0.0.1:9092' },
    // Internal: one replay in this process, printed as JSON.
    replay: { type: 'string' }, schema: { type: 'string' }, audit: { type: 'string' },
  },
});
const brokers = values['kafka-brokers']!.split(',');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

if (values.replay) {
  const bus = new KafkaBus({ brokers, clientId: 'pulsebridge-bench-registry-replay', logger: silentLogger });
  await bus.ensureStreams([{ name: values.replay, partitions: 1, retainForever: true }]); // connects the admin client first
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const log = await BusEntityLog.open({ bus, stream: values.replay, eventSchema: values.schema!, logger: silentLogger, audited: (s: unknown) => s, keepAuditTrail: values.audit === 'yes' });
  const seconds = (performance.now() - t0) / 1000;
  gc();
  console.log(JSON.stringify({ seconds, heapMiB: (process.memoryUsage().heapUsed - heapBefore) / 1048576, entities: [...log.entities()].length }));
  await log.close();
  await bus.close();
  process.exit(0);
}

interface Event { key: string; value: Buffer }
const event = (schema: string, key: string, deviceId: string, action: string, baseRevision: number, after: unknown): Event => ({
  key, value: Buffer.from(JSON.stringify({ schema, eventId: randomUUID(), key, deviceId, atMs: Date.now(), actor: 'bench', action, baseRevision, after })),
});

/** One `add` per device, as `pulsebridge device add` writes it. */
function deviceLog(n: number): Event[] {
  return Array.from({ length: n }, (_, i) => event('pb.device-event.v1', `dev-${i}`, `dev-${i}`, 'add', 0,
    { deviceId: `dev-${i}`, enabled: true, createdAt: Date.now(), assignments: [{ patientId: `pat-${i}`, fromMs: 1000 }] }));
}

/** create → deliver → ok per command, spread over 1,000 devices. */
function commandLog(n: number): Event[] {
  const out: Event[] = [];
  for (let i = 0; i < n; i++) {
    const dev = `dev-${i % 1000}`;
    const created = newCommand(dev, { type: 'config', config: { frameMs: 1000, ecg: true, fs: 250 } }, 'api:admin', Date.now());
    const delivered = planDelivery(created, Date.now())!;
    const answered = planResult(delivered, dev, { id: created.id, ok: true }, Date.now()).after!;
    out.push(...[[created, 'command.create'], [delivered, 'command.deliver'], [answered, 'command.ok']]
      .map(([after, action], rev) => event('pb.device-command-event.v1', created.id, dev, action as string, rev, after)));
  }
  return out;
}

const bus = new KafkaBus({ brokers, clientId: 'pulsebridge-bench-registry', logger: silentLogger });
const topics: string[] = [];
const rows: string[] = [];
try {
  for (const [what, schema, events] of [
    [`${values.devices} devices (add)`, 'pb.device-event.v1', deviceLog(Number(values.devices))],
    [`${values.commands} commands (create, deliver, ok)`, 'pb.device-command-event.v1', commandLog(Number(values.commands))],
  ] as const) {
    const stream = `pb-bench-registry-${randomUUID().slice(0, 8)}`;
    topics.push(stream);
    await bus.ensureStreams([{ name: stream, partitions: 1, retainForever: true }]);
    for (let i = 0; i < events.length; i += 1000) await bus.publish(stream, events.slice(i, i + 1000));
    for (const audit of ['yes', 'no']) {
      const out = execFileSync(process.execPath, ['--expose-gc', import.meta.filename, '--replay', stream, '--schema', schema, '--audit', audit, '--kafka-brokers', brokers.join(',')],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const { seconds, heapMiB } = JSON.parse(out.trim().split('\n').at(-1)!) as { seconds: number; heapMiB: number };
      rows.push(`| ${what} | ${events.length.toLocaleString('en')} | ${audit === 'yes' ? 'yes' : 'no (gateways)'} | ${seconds.toFixed(2)} | ${Math.round(events.length / seconds).toLocaleString('en')} | ${heapMiB.toFixed(1)} |`);
    }
  }
} finally {
  await bus.close();
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
}
console.log(`registry replay on Kafka at ${brokers.join(',')} (one partition per log, loopback), node ${process.version}\n`);
console.log('| log | events | audit trail in memory | replay (s) | events/s | heap after replay (MiB) |');
console.log('|---|---:|---|---:|---:|---:|');
for (const r of rows) console.log(r);
