/**
 * A follower (ephemeral consumer group, read from the beginning) that loses the broker past its
 * retries goes on from where it was, not from the beginning of its stream. kafkajs restarts such a
 * crashed consumer as a new member that starts at the group's committed offsets, and an ephemeral
 * group commits none: after a broker restart every registry, liveness and changelog follower
 * folded its whole stream again, and the processor dropped the streams it held as "taken over by
 * another processor instance" on reading their old changelog records (hardened walk, 2026-12-07;
 * platform/bus/kafka.ts `resumeAt`). The outage is made by cutting the client's connections
 * (KafkaBusOptions.socketFactory), not by restarting the shared broker.
 *
 * And a subscription stopped while its crashed consumer starts over stays stopped: kafkajs' stop()
 * during that start's join let the join crash afterwards and schedule another start, which nobody
 * stopped; an ehr-exporter SIGTERMed during a broker outage kept consuming and never exited
 * (hardened walk; platform/bus/kafka.ts `restartOnFailure`).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { KafkaBus } from '../../../platform/bus/index.ts';
import type { ConsumedMessage } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { cuttableBus } from '../../helpers/cuttable-kafka.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

await describeWithService('KafkaBus follower across a lost broker', kafkaAvailable, () => {
  const publisher = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test', logger: silentLogger });
  afterAll(async () => { await publisher.close(); });

  it('goes on after its consumer crashed and restarted, without reading the stream again', async () => {
    const stream = `pb.test.resume.${randomUUID()}`;
    await publisher.ensureStreams([{ name: stream, partitions: 1 }]);
    await publisher.publish(stream, [0, 1, 2].map((i) => ({ key: 'k', value: Buffer.from(`m${i}`) })));

    const { sockets, lines, bus } = cuttableBus({ retries: 1, initialRetryTimeMs: 100, maxRetryTimeMs: 200 });
    const seen: ConsumedMessage[] = [];
    const sub = await bus.subscribe(stream, {
      groupId: `pb-test-resume-${randomUUID()}`, ephemeralGroup: true, fromBeginning: true,
      onBatch: async (batch) => { seen.push(...batch); },
    });
    try {
      await waitFor('the first three messages', () => (seen.length >= 3 ? true : undefined), 15_000);
      sockets.cut();
      await waitFor('the consumer to crash', () => (lines.some((l) => l.includes('kafka consumer crashed')) ? true : undefined), 30_000);
      sockets.restore();
      await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m3') }]);
      await waitFor('m3', () => (seen.some((m) => m.value.toString() === 'm3') ? true : undefined), 30_000);
      expect(seen.map((m) => `${m.offset}:${m.value.toString()}`)).toEqual(['0:m0', '1:m1', '2:m2', '3:m3']);
    } finally {
      await sub.stop().catch(() => {});
      await bus.close().catch(() => {});
    }
  }, 90_000);

  it('stays stopped when stopped while its crashed consumer starts over against an unreachable broker', async () => {
    const stream = `pb.test.resume-stop.${randomUUID()}`;
    await publisher.ensureStreams([{ name: stream, partitions: 1 }]);
    await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m0') }]);

    const { sockets, lines, bus } = cuttableBus({ retries: 2, initialRetryTimeMs: 300, maxRetryTimeMs: 600 });
    const seen: string[] = [];
    let stopped = false;
    const afterStop: string[] = [];
    const sub = await bus.subscribe(stream, {
      groupId: `pb-test-resume-stop-${randomUUID()}`, ephemeralGroup: true, fromBeginning: true,
      onBatch: async (batch) => { for (const m of batch) (stopped ? afterStop : seen).push(m.value.toString()); },
    });
    try {
      await waitFor('m0', () => (seen.length >= 1 ? true : undefined), 15_000);
      sockets.cut();
      // The bus logs the crash with kafkajs' restart delay, and kafkajs starts again that much later: stop while that start joins.
      const restarting = await waitFor('a consumer restart', () => lines.map((l) => /"kafka consumer crashed".*"restart":true,"restartInMs":(\d+)/.exec(l)).find((m) => m !== null) ?? undefined, 30_000);
      await sleep(Number(restarting[1]) + 100);
      stopped = true;
      await sub.stop();
      const linesAtStop = lines.length;
      await sleep(5_000);
      sockets.restore();
      await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m1') }]);
      await sleep(8_000);
      expect(afterStop).toEqual([]);
      expect(lines.slice(linesAtStop).filter((l) => l.includes('"restart":true'))).toEqual([]);
    } finally {
      sockets.restore();
      await bus.close().catch(() => {});
    }
  }, 90_000);
});
