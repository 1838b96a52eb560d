/**
 * `pulsebridge deadletter` on Kafka: reads `pb.deadletter.v1` straight from the broker (any
 * host, no data folder), and replays from the command line. The stream is shared with other
 * tests, so this one filters on its own device id and replays into a stream of its own.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDeadLetterCommand, type DeadLetterCommandInput } from '../../cli/deadletter.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { KafkaBus, type ConsumedMessage } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { silentLogger } from '../../platform/log.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

await describeWithService('pulsebridge deadletter on Kafka', kafkaAvailable, () => {
  const run = randomUUID().slice(0, 8);
  const deviceId = `dl-dev-${run}`;
  const replayStream = `pb-test-dl-replay-${run}`;
  let bus: KafkaBus;
  const dataDir = makeTempDir('pb-dl-kafka-');

  const cli = async (input: Partial<DeadLetterCommandInput>) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDeadLetterCommand({
      config: loadConfig({ PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: kafkaBrokers.join(',') }),
      action: undefined, id: undefined, json: true, actor: 'cli:operator', out: (l) => out.push(l), err: (l) => err.push(l), ...input,
    });
    return { code, out, err };
  };

  beforeAll(async () => {
    bus = new KafkaBus({ brokers: kafkaBrokers, clientId: `pb-test-dl-${run}`, logger: silentLogger });
    await bus.ensureStreams([{ name: STREAMS.deadLetter, partitions: 1 }, { name: replayStream, partitions: 1 }]);
    const record = (extra: Record<string, unknown>) => Buffer.from(JSON.stringify({
      schema: 'pb.deadletter.v1', deviceId, reason: 'x', detail: 'd', receivedAt: Date.now(), ...extra,
    }));
    await bus.publish(STREAMS.deadLetter, [
      { key: deviceId, value: record({ source: 'gateway', topic: `pb/v1/dev/${deviceId}/telemetry`, reason: 'unassigned_device', payloadBase64: Buffer.from(JSON.stringify({ v: 1, seq: 1, ts: Date.now(), durMs: 1000, hr: 70, battery: 90, leadOff: false, beats: [] })).toString('base64') }) },
      { key: 'pat-x', value: record({ source: 'processor', topic: STREAMS.telemetry, stream: replayStream, key: 'pat-x', reason: 'invalid_record', payloadBase64: Buffer.from('raw-bytes').toString('base64') }) },
    ]);
  }, 60_000);
  afterAll(async () => { await bus?.close(); });

  it('lists this device\'s dead letters with reason and prefix, shows one by partition:offset, and replays to the stream it came from', async () => {
    const listed = JSON.parse((await cli({ action: 'list', deviceId })).out[0]!) as { id: string; source: string; reason: string; prefix: string }[];
    expect(listed.map((r) => [r.source, r.reason])).toEqual([['gateway', 'unassigned_device'], ['processor', 'invalid_record']]);
    expect(listed[1]!.prefix).toBe('raw-bytes');
    expect(listed[0]!.id).toMatch(/^0:\d+$/);

    const shown = JSON.parse((await cli({ action: 'show', id: listed[1]!.id })).out[0]!) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: listed[1]!.id, deviceId, stream: replayStream, payloadText: 'raw-bytes' });

    // The device is registered nowhere: the gateway's checks (with the registry on Kafka) still refuse it.
    const refused = await cli({ action: 'replay', id: listed[0]!.id });
    expect(refused.code).toBe(1);
    expect(refused.err[0]).toContain('the gateway still refuses it: unassigned_device');

    expect((await cli({ action: 'replay', id: listed[1]!.id })).code).toBe(0);
    const seen: ConsumedMessage[] = [];
    const sub = await bus.subscribe(replayStream, { groupId: `pb-test-dl-read-${run}`, fromBeginning: true, onBatch: async (batch) => { seen.push(...batch); } });
    try {
      const m = await waitFor('the replayed message', () => seen[0], 30_000);
      expect([m.key, m.value.toString(), m.headers?.['pb-replay-of']]).toEqual(['pat-x', 'raw-bytes', listed[1]!.id]);
    } finally {
      await sub.stop();
    }
  }, 120_000);
});
