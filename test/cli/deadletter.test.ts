/**
 * `pulsebridge deadletter list|show|replay` in embedded mode: a real gateway rejects frames into
 * the in-process dead-letter stream, the archiver (as the demo runs it) copies them into the data
 * folder, and the command — reading only the data folder, as another process does — lists each
 * with its reason and raw prefix, shows one, and replays one through the running process once the
 * operator fixed its cause. Every use lands in the PHI audit trail.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { startDeadLetterArchiver } from '../../cli/dead-letter-replay.ts';
import { printablePrefix, runDeadLetterCommand, type DeadLetterCommandInput } from '../../cli/deadletter.ts';
import { auditLogPath, type AuditEntry } from '../../dashboard-api/audit.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { DeadLetterArchive, deadLetterArchivePath, parseDeadLetter } from '../../platform/dead-letters/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { connectDevice, frameJson, makeTempDir, publishQos1, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';
import type { Running } from '../../cli/components.ts';

let bus: InProcessBus;
let fx: GatewayFixture;
let archive: DeadLetterArchive;
let archiver: Running;

async function cli(input: Partial<DeadLetterCommandInput>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDeadLetterCommand({
    config: loadConfig({ PULSEBRIDGE_DATA_DIR: fx.dataDir }), action: undefined, id: undefined, json: false,
    actor: 'cli:operator', out: (l) => out.push(l), err: (l) => err.push(l), pollMs: 20, ...input,
  });
  return { code, out, err };
}

beforeEach(async () => {
  bus = new InProcessBus();
  fx = await startGatewayFixture(bus, { rateLimit: false });
  archive = new DeadLetterArchive(deadLetterArchivePath(fx.dataDir));
  archiver = await startDeadLetterArchiver({ bus, registry: fx.registry, archive, logger: silentLogger, pollIntervalMs: 50 });
});
afterEach(async () => {
  await archiver.stop();
  archive.close();
  await fx.close();
  await bus.close();
});

describe('pulsebridge deadletter (embedded)', () => {
  it('lists rejected frames with reason and raw prefix, shows one, and replays an unassigned frame once the device is assigned', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    await publishQos1(client, 'pb/v1/dev/dev-1/telemetry', '{not json');
    // The device's assignment ended a minute ago: its next frame is unassigned_device.
    fx.registry.unassign('dev-1', Date.now() - 60_000, 'test');
    const early = frameJson(9, Date.now());
    await publishQos1(client, 'pb/v1/dev/dev-1/telemetry', early);
    client.end(true);
    await waitFor('two archived dead letters', () => (archive.list().length === 2 ? true : undefined));

    const listed = await cli({ action: 'list' });
    expect(listed.code).toBe(0);
    expect(listed.out).toHaveLength(2);
    expect(listed.out[0]).toMatch(/^1\t\S+Z\tgateway\tdev-1\tinvalid_json\t9 B\t\{not json$/);
    expect(listed.out[1]).toMatch(/^2\t\S+Z\tgateway\tdev-1\tunassigned_device\t\d+ B\t\{"v":1,"seq":9,/);
    const json = JSON.parse((await cli({ action: 'list', json: true, reason: 'unassigned_device' })).out[0]!) as { id: string; detail: string }[];
    expect(json.map((r) => r.id)).toEqual(['2']);
    expect(json[0]!.detail).toContain('has no patient assigned');

    const shown = JSON.parse((await cli({ action: 'show', id: '2', json: true })).out[0]!) as { payloadText: string; reason: string };
    expect(shown).toMatchObject({ reason: 'unassigned_device', payloadText: early });

    // Still unassigned: the replay says why and publishes nothing.
    const refused = await cli({ action: 'replay', id: '2' });
    expect(refused.code).toBe(1);
    expect(refused.err[0]).toContain('the gateway still refuses it: unassigned_device');
    expect(bus.read(STREAMS.telemetry)).toHaveLength(0);

    fx.registry.assign('dev-1', 'pat-1', Date.now() - 30_000, 'test');
    const replayed = await cli({ action: 'replay', id: '2' });
    expect(replayed).toEqual({ code: 0, out: ['replayed 2 to pb.telemetry.v1 (key pat-1)'], err: [] });
    const records = bus.read(STREAMS.telemetry);
    expect(records).toHaveLength(1);
    expect(records[0]!.headers).toEqual({ 'pb-replay-of': '2' });
    expect((JSON.parse(records[0]!.value.toString()) as TelemetryRecord).frame.seq).toBe(9);

    const audit = fs.readFileSync(auditLogPath(fx.dataDir), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(audit.map((e) => [e.actor.sub, e.actor.role, e.action, e.outcome])).toEqual([
      ['cli:operator', 'admin', 'deadletters.list', 'allowed'],
      ['cli:operator', 'admin', 'deadletters.list', 'allowed'],
      ['cli:operator', 'admin', 'deadletter.read', 'allowed'],
      ['cli:operator', 'admin', 'deadletter.replay', 'conflict'],
      ['cli:operator', 'admin', 'deadletter.replay', 'allowed'],
    ]);
    expect(audit.every((e) => !Number.isNaN(Date.parse(e.at)))).toBe(true);
  });

  it('an oversized packet keeps only its prefix, is listed as such and cannot be replayed; unknown ids are one clear sentence', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    const gone = new Promise<void>((r) => client.once('close', () => r()));
    client.publish('pb/v1/dev/dev-1/telemetry', Buffer.alloc(100_000, 0x41), { qos: 1 });
    await gone;
    client.end(true);
    await waitFor('the archived dead letter', () => archive.list()[0]);
    const listed = await cli({ action: 'list', source: 'gateway' });
    expect(listed.out[0]).toMatch(/\tpacket_too_large\t\d{6} B \(prefix kept\)\tA{48}…$/);
    const replay = await cli({ action: 'replay', id: '1' });
    expect(replay.code).toBe(1);
    expect(replay.err[0]).toMatch(/only the first 1024 of \d+ payload bytes were kept/);
    expect(await cli({ action: 'show', id: '77' })).toMatchObject({ code: 1, err: ['pulsebridge: There is no dead letter 77.'] });
    await expect(cli({ action: 'list', source: 'somewhere' })).rejects.toThrow('--source must be one of gateway, processor, ehr-exporter');
  });

  it('a processor or EHR record is replayed unchanged to the stream it came from, with its key', async () => {
    const payload = Buffer.from('{"schema":"pb.alerts.v1","id":"a-1"}');
    // As the EHR exporter writes it today (no source/stream fields; the stream in a header).
    await bus.publish(STREAMS.deadLetter, [{ key: 'dev-9', headers: { 'pb-source-stream': 'pb.test-source.v1', 'pb-source-offset': '4' }, value: Buffer.from(JSON.stringify({
      schema: 'pb.deadletter.v1', deviceId: 'dev-9', topic: STREAMS.alerts, reason: 'fhir_rejected', detail: 'HTTP 422', payloadBase64: payload.toString('base64'), receivedAt: Date.now(),
      outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] },
    })) }]);
    await waitFor('archived', () => archive.list()[0]);
    const shown = JSON.parse((await cli({ action: 'show', id: '1', json: true })).out[0]!) as Record<string, unknown>;
    expect(shown).toMatchObject({ source: 'ehr-exporter', stream: 'pb.test-source.v1', key: 'dev-9', outcome: { resourceType: 'OperationOutcome' } });
    expect(await cli({ action: 'replay', id: '1', json: true })).toMatchObject({ code: 0, out: [JSON.stringify({ id: '1', ok: true, stream: 'pb.test-source.v1', key: 'dev-9' })] });
    const replayed = bus.read('pb.test-source.v1');
    expect(replayed.map((m) => [m.key, m.value.toString()])).toEqual([['dev-9', payload.toString()]]);
  });
});

describe('dead-letter records', () => {
  it('older records get their source and replay target from the topic; non-records are skipped', () => {
    const base = { schema: 'pb.deadletter.v1', deviceId: 'd', reason: 'r', detail: '', payloadBase64: '', receivedAt: 1 };
    expect(parseDeadLetter(JSON.stringify({ ...base, topic: 'pb/v1/dev/d/telemetry' }), 'd')).toMatchObject({ source: 'gateway' });
    expect(parseDeadLetter(JSON.stringify({ ...base, topic: STREAMS.telemetry }), 'pat-1')).toMatchObject({ source: 'processor', stream: STREAMS.telemetry, key: 'pat-1' });
    expect(parseDeadLetter(JSON.stringify({ ...base, topic: STREAMS.alerts }), 'd')).toMatchObject({ source: 'ehr-exporter', stream: STREAMS.alerts });
    expect(parseDeadLetter('not json', 'k')).toBeUndefined();
    expect(parseDeadLetter(JSON.stringify({ schema: 'pb.log-sync.v1' }), 'k')).toBeUndefined();
  });

  it('the embedded archive keeps only its newest maxRecords', () => {
    const file = deadLetterArchivePath(makeTempDir('pb-dl-bound-'));
    const bounded = new DeadLetterArchive(file, { maxRecords: 200 });
    try {
      for (let i = 0; i < 1000; i++) {
        bounded.append({ schema: 'pb.deadletter.v1', source: 'gateway', deviceId: 'd', topic: 'pb/v1/dev/d/telemetry', reason: 'r', detail: '', payloadBase64: '', receivedAt: i });
      }
      const kept = bounded.list({}, 10_000);
      expect(kept.length).toBeLessThanOrEqual(202);
      expect(kept.length).toBeGreaterThanOrEqual(200);
      expect(kept.at(-1)!.record.receivedAt).toBe(999);
    } finally {
      bounded.close();
    }
  });

  it('a raw prefix is printable on a terminal', () => {
    expect(printablePrefix(Buffer.from([0x50, 0x42, 0x02, 0x00, 0x5c, 0x41]), 5)).toBe('PB\\x02\\x00\\x5c…');
  });
});
