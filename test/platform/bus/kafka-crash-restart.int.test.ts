/**
 * A Kafka subscription whose consumer crashed with an error kafkajs does not restart after is
 * started over by the bus. kafkajs restarts a crashed consumer only after a retriable error or
 * exhausted retries (and only then asks `retry.restartOnFailure`); "Failed to find group
 * coordinator" (KafkaJSGroupCoordinatorNotFound) is non-retriable: the operator walkthrough (a 30 s
 * broker outage, SASL_SSL) saw the gateway's pb.device-liveness.v1 follower crash with it and stay
 * dead after the broker came back, until the process restarted (platform/bus/kafka.ts, CRASH).
 *
 * The outage: the client's connections cut until kafkajs' own restart is under way, then
 * connections made again but closed at each coordinator lookup (test/helpers/cuttable-kafka.ts), so
 * the restart's join crashes with KafkaJSGroupCoordinatorNotFound (CRASH with restart false); then
 * lookups answered again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { KafkaBus } from '../../../platform/bus/index.ts';
import type { ConsumedMessage } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { cuttableBus } from '../../helpers/cuttable-kafka.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

const crashLines = (lines: string[]) => lines.filter((l) => l.includes('"kafka consumer crashed'));
/** kafkajs' crash after an error it does not restart after. */
const isCoordinatorCrash = (l: string) => l.includes('"kafka consumer crashed') && l.includes('Failed to find group coordinator');

/** Cuts the connections until kafkajs restarts the consumer, then fails coordinator lookups until it crashes without a restart of its own. */
async function crashWithoutKafkajsRestart(sockets: ReturnType<typeof cuttableBus>['sockets'], lines: string[]): Promise<void> {
  sockets.cut();
  await waitFor('a crash kafkajs starts over', () => (crashLines(lines).some((l) => l.includes('"restart":true')) ? true : undefined), 30_000);
  sockets.failCoordinatorLookups(true);
  sockets.restore();
  await waitFor('a crash with "Failed to find group coordinator"', () => (lines.some(isCoordinatorCrash) ? true : undefined), 30_000);
}

await describeWithService('KafkaBus subscription whose consumer kafkajs does not restart', kafkaAvailable, () => {
  const publisher = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test', logger: silentLogger });
  afterAll(async () => { await publisher.close(); });
  /** A new one-partition stream holding `values`. */
  const streamWith = async (name: string, values: string[]) => {
    const stream = `pb.test.${name}.${randomUUID()}`;
    await publisher.ensureStreams([{ name: stream, partitions: 1 }]);
    await publisher.publish(stream, values.map((v) => ({ key: 'k', value: Buffer.from(v) })));
    return stream;
  };
  /** Connections as usual again, then the subscription (if not stopped yet) and the bus closed. */
  const release = async ({ sockets, bus }: ReturnType<typeof cuttableBus>) => {
    sockets.restore();
    sockets.failCoordinatorLookups(false);
    await bus.close().catch(() => {});
  };

  it('a follower consumes again from where it was once the coordinator answers', async () => {
    const stream = await streamWith('crash-restart', ['m0', 'm1', 'm2']);

    const retry = { retries: 1, initialRetryTimeMs: 100, maxRetryTimeMs: 400 };
    const cuttable = cuttableBus(retry);
    const { sockets, lines, bus } = cuttable;
    const seen: ConsumedMessage[] = [];
    const sub = await bus.subscribe(stream, {
      groupId: `pb-test-crash-restart-${randomUUID()}`, ephemeralGroup: true, fromBeginning: true,
      onBatch: async (batch) => { seen.push(...batch); },
    });
    try {
      await waitFor('the first three messages', () => (seen.length >= 3 ? true : undefined), 15_000);
      await crashWithoutKafkajsRestart(sockets, lines);
      // The bus's restarts crash the same way while lookups fail: it goes on trying, backing off.
      await sleep(1_500);
      const whileCrashed = sub.status!();
      sockets.failCoordinatorLookups(false);
      await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m3') }]);
      await waitFor('m3', () => (seen.some((m) => m.value.toString() === 'm3') ? true : undefined), 30_000);
      // From where it was (the follower's position), not from the beginning.
      expect(seen.map((m) => `${m.offset}:${m.value.toString()}`)).toEqual(['0:m0', '1:m1', '2:m2', '3:m3']);
      expect(whileCrashed).toMatchObject({ consuming: false, state: 'crashed' });
      expect(whileCrashed.reason).toMatch(/Failed to find group coordinator.*the bus starts it over/);
      await waitFor('consuming', () => (sub.status!().consuming ? true : undefined), 10_000);
      // One line per crash kafkajs does not restart after, saying the bus starts it over and when: backing off up to the retry bound.
      const busRestarts = lines.filter(isCoordinatorCrash).map((l) => {
        expect(l).toMatch(/"restart":true,"restartInMs":\d+,"restartedBy":"bus"/);
        return Number(/"restartInMs":(\d+)/.exec(l)![1]);
      });
      expect(busRestarts.length).toBeGreaterThanOrEqual(2);
      expect(busRestarts[0]).toBe(retry.initialRetryTimeMs);
      expect(busRestarts.every((ms, i) => ms <= retry.maxRetryTimeMs && (i === 0 || ms >= busRestarts[i - 1]!))).toBe(true);
    } finally {
      await release(cuttable);
    }
  }, 90_000);

  it('a consumer group consumes again from its committed offsets, without delivering what it committed again', async () => {
    const stream = await streamWith('crash-restart-group', ['m0', 'm1']);

    const cuttable = cuttableBus({ retries: 1, initialRetryTimeMs: 100, maxRetryTimeMs: 400 });
    const { sockets, lines, bus } = cuttable;
    const seen: string[] = [];
    const sub = await bus.subscribe(stream, {
      groupId: `pb-test-crash-restart-group-${randomUUID()}`, fromBeginning: true,
      onBatch: async (batch) => { for (const m of batch) seen.push(`${m.offset}:${m.value.toString()}`); },
    });
    try {
      await waitFor('m0 and m1', () => (seen.length >= 2 ? true : undefined), 15_000);
      // The batch's commit follows its handler.
      await sleep(1_000);
      await crashWithoutKafkajsRestart(sockets, lines);
      sockets.failCoordinatorLookups(false);
      await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m2') }]);
      await waitFor('m2', () => (seen.includes('2:m2') ? true : undefined), 30_000);
      await sleep(2_000);
      expect(seen).toEqual(['0:m0', '1:m1', '2:m2']);
    } finally {
      await release(cuttable);
    }
  }, 90_000);

  it('stays stopped when stopped while the bus waits to start it over', async () => {
    const stream = await streamWith('crash-restart-stop', ['m0']);

    // The bus's first restart comes initialRetryTimeMs after the crash: time to stop inside it.
    const cuttable = cuttableBus({ retries: 1, initialRetryTimeMs: 2_000, maxRetryTimeMs: 4_000 });
    const { sockets, lines, bus } = cuttable;
    const seen: string[] = [];
    let stopped = false;
    const afterStop: string[] = [];
    const sub = await bus.subscribe(stream, {
      groupId: `pb-test-crash-restart-stop-${randomUUID()}`, ephemeralGroup: true, fromBeginning: true,
      onBatch: async (batch) => { for (const m of batch) (stopped ? afterStop : seen).push(m.value.toString()); },
    });
    try {
      await waitFor('m0', () => (seen.length >= 1 ? true : undefined), 15_000);
      await crashWithoutKafkajsRestart(sockets, lines);
      stopped = true;
      await sub.stop();
      const linesAtStop = lines.length;
      sockets.failCoordinatorLookups(false);
      await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m1') }]);
      // Past the restart the bus had planned, and a join's worth.
      await sleep(8_000);
      expect(afterStop).toEqual([]);
      expect(bus.subscriptionStatuses()).toEqual([]);
      expect(lines.slice(linesAtStop).filter((l) => l.includes('kafka consumer crashed') || l.includes('"restart":true'))).toEqual([]);
    } finally {
      await release(cuttable);
    }
  }, 90_000);
});
