/**
 * The operator alarm `clock_skew` (dashboard-api/operator-alarms.ts): a processor's or gateway's
 * wall clock, read from its heartbeats, disagrees with the dashboard API's. A processor behind
 * stamps alerts' `updatedAt` in the past (a `?since=` poller misses them); a gateway off shows as
 * every device's clock skew. Time is injected: `nowMs` is the API's clock, and each beat is folded
 * before the clock moves on, so its lag is exactly the one a test sets.
 */
import { describe, expect, it } from 'vitest';
import { PROCESSOR_HEARTBEAT_MS } from '../../contracts/processor-heartbeat.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { CLOCK_PEER_GONE_MS, CLOCK_SKEW_BEATS, openOperatorAlarmBoard, type OperatorAlarmBoard } from '../../dashboard-api/operator-alarms.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { BusDeviceLivenessStore } from '../../platform/registry/liveness-bus.ts';
import { http, startFixture } from './helpers.ts';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const settle = () => new Promise((r) => setTimeout(r, 5));

/** `slowReplayMs`: the API's clock advances this much at each reading while the board opens (a broker that hands the old beats over slowly). */
async function setup(o: { before?: (bus: InProcessBus) => Promise<void>; slowReplayMs?: number } = {}) {
  const bus = new InProcessBus();
  const metrics = new MetricsRegistry();
  const logs: { level: string; msg: string }[] = [];
  const logger = createLogger('warn', {}, (line) => { logs.push(JSON.parse(line) as { level: string; msg: string }); });
  const clock = { nowMs: T0, perReadingMs: o.slowReplayMs ?? 0 };
  await o.before?.(bus);
  const board = await openOperatorAlarmBoard({ bus, logger, metrics, now: () => (clock.nowMs += clock.perReadingMs) });
  clock.perReadingMs = 0;
  /** A processor beat stamped `atMs` (its clock), folded here at the API's `clock.nowMs`. */
  const beat = async (instanceId: string, atMs: number) => {
    await bus.publish(STREAMS.processorHeartbeats, [{ key: instanceId, value: Buffer.from(JSON.stringify({ schema: 'pb.processor-heartbeat.v1', instanceId, groupId: 'g', atMs })) }]);
    await settle();
  };
  /**
   * `n` beats, one every 2 s, of a processor whose clock is `offsetMs` from the API's, the i-th
   * folded here `delays(i)` after it was sent (default 50 ms; in order, as a bus delivers them).
   */
  const beats = async (instanceId: string, n: number, offsetMs: number, delays: (i: number) => number = () => 50) => {
    let sentMs = clock.nowMs;
    for (let i = 0; i < n; i++) {
      clock.nowMs = Math.max(clock.nowMs, sentMs + delays(i));
      await beat(instanceId, sentMs + offsetMs);
      sentMs += PROCESSOR_HEARTBEAT_MS;
    }
    clock.nowMs = Math.max(clock.nowMs, sentMs);
  };
  /** `n` heartbeats of a gateway through its liveness store (stamped with its own clock), one a second. */
  const gatewayBeats = async (store: BusDeviceLivenessStore, gatewayId: string, n: number) => {
    for (let i = 0; i < n; i++) {
      await store.write(gatewayId, []);
      await settle();
      clock.nowMs += 1000;
    }
  };
  const gauge = (name: string, labels: Record<string, string> = {}) => metrics.gauge(name, '').get(labels);
  return { bus, board, clock, logs, metrics, beat, beats, gatewayBeats, gauge, close: () => board.close() };
}

const clockAlarms = (board: OperatorAlarmBoard) => board.active().filter((a) => a.kind === 'clock_skew');

describe('operator alarm clock_skew', () => {
  it('raises for a processor 42 s behind after several beats, names it and the offset in /healthz, the metrics and one log line, and clears once its clock is corrected', async () => {
    const t = await setup();
    const fx = await startFixture({ bus: t.bus, operatorAlarms: t.board });
    try {
      // The first beats are not enough: one late beat could be a slow moment of the bus.
      await t.beats('proc-1', CLOCK_SKEW_BEATS, -42_000);
      expect(clockAlarms(t.board)).toEqual([]);
      await t.beats('proc-1', 1, -42_000);
      expect(clockAlarms(t.board)).toMatchObject([{
        source: 'dashboard-api', kind: 'clock_skew', state: 'active', gateways: [],
        clock: { component: 'processor', instance: 'proc-1', offsetMs: -42_050 },
        reason: expect.stringMatching(/^processor proc-1's clock is 42\.0 s behind this dashboard API's .*GET \/v1\/alerts\?since= pollers miss them/),
      }]);
      const health = await http('GET', `${fx.url}/healthz`);
      expect(health.body).toMatchObject({ status: 'degraded', operatorAlarms: [{ kind: 'clock_skew', clock: { instance: 'proc-1' }, reason: expect.stringContaining('42.0 s behind') }] });
      expect(t.gauge('pb_dashboard_operator_alarms_active')).toBe(1);
      expect(t.gauge('pb_dashboard_clock_offset_seconds', { component: 'processor', instance: 'proc-1' })).toBeCloseTo(-42.05);
      // Still behind: no second log line.
      await t.beats('proc-1', 3, -42_000);
      t.board.active();
      expect(t.logs.filter((l) => l.msg.includes('proc-1'))).toMatchObject([{ level: 'error', msg: expect.stringMatching(/^OPERATOR ALARM: processor proc-1's clock is 42\.0 s behind/) }]);
      // NTP steps the clock forward: that beat jumps 42 s (not judged), the next one is prompt and clears.
      await t.beats('proc-1', 2, 0);
      expect(clockAlarms(t.board)).toEqual([]);
      expect((await http('GET', `${fx.url}/healthz`)).body).toMatchObject({ status: 'ok' });
      expect(t.gauge('pb_dashboard_operator_alarms_active')).toBe(0);
      expect(t.logs.filter((l) => l.msg.includes('proc-1')).map((l) => l.level)).toEqual(['error', 'warn']);
      expect(t.logs.at(-1)!.msg).toMatch(/^operator alarm cleared: processor proc-1's clock agrees with this dashboard API's again/);
    } finally {
      await t.close();
      await fx.close();
    }
  });

  it('raises for a processor 10 s ahead (beats from the future: no delay explains them), and clears once its early beats have left the window', async () => {
    const t = await setup();
    try {
      // A delay on one beat does not hide it: every beat is still early.
      await t.beats('proc-2', CLOCK_SKEW_BEATS + 1, 10_000, (i) => (i === 2 ? 900 : 50));
      expect(clockAlarms(t.board)).toMatchObject([{ clock: { component: 'processor', instance: 'proc-2', offsetMs: 9_950 }, reason: expect.stringMatching(/^processor proc-2's clock is (9\.9|10\.0) s ahead of this dashboard API's/) }]);
      expect(t.gauge('pb_dashboard_operator_alarms_active')).toBe(1);
      // Stepped back: the alarm holds while an early beat is among the last ones, then clears.
      await t.beats('proc-2', CLOCK_SKEW_BEATS - 1, 0);
      expect(clockAlarms(t.board)).toHaveLength(1);
      await t.beats('proc-2', 1, 0);
      expect(clockAlarms(t.board)).toEqual([]);
      expect(t.logs.map((l) => l.level)).toEqual(['error', 'warn']);
    } finally {
      await t.close();
    }
  });

  it('raises nothing for a processor in step whose beats take up to 1.5 s, nor for a few late beats in a row', async () => {
    const t = await setup();
    try {
      const delays = [50, 1500, 200, 900, 30, 1200, 400, 80, 1500, 700, 60, 300];
      await t.beats('proc-3', 40, 0, (i) => delays[i % delays.length]!);
      // A run of 4 beats 4 s late (fewer than the window): still nothing.
      await t.beats('proc-3', CLOCK_SKEW_BEATS - 1, 0, () => 4000);
      await t.beats('proc-3', 3, 0);
      expect(clockAlarms(t.board)).toEqual([]);
      expect(t.board.active()).toEqual([]);
      expect(t.gauge('pb_dashboard_clock_offset_seconds', { component: 'processor', instance: 'proc-3' })).toBeCloseTo(-0.05);
      expect(t.logs).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('does not judge the replay of old heartbeats at start: a processor that stopped an hour ago and one that runs in step raise nothing', async () => {
    const t = await setup({
      before: async (bus) => {
        // The compacted topic keeps old beats until the broker compacts it: an hour old, paced every 2 s.
        const old = (instanceId: string, atMs: number) => ({ key: instanceId, value: Buffer.from(JSON.stringify({ schema: 'pb.processor-heartbeat.v1', instanceId, groupId: 'g', atMs })) });
        await bus.publish(STREAMS.processorHeartbeats, Array.from({ length: 20 }, (_, i) => old('gone', T0 - 3_600_000 + i * 2000)));
        await bus.publish(STREAMS.processorHeartbeats, Array.from({ length: 20 }, (_, i) => old('proc-4', T0 - 40_000 + i * 2000)));
      },
    });
    try {
      expect(clockAlarms(t.board)).toEqual([]);
      await t.beats('proc-4', 10, 0);
      expect(clockAlarms(t.board)).toEqual([]);
      expect(t.gauge('pb_dashboard_clock_offset_seconds', { component: 'processor', instance: 'proc-4' })).toBeCloseTo(-0.05);
      // The stopped one is forgotten once not heard for a while.
      t.clock.nowMs += CLOCK_PEER_GONE_MS;
      await t.beats('proc-4', 1, 0);
      expect(t.board.active()).toEqual([]);
      expect([...t.metrics.gauge('pb_dashboard_clock_offset_seconds', '').series.values()].map((x) => x.labels)).toEqual(['component="processor",instance="proc-4"']);
      expect(t.logs).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('does not judge the replay at start when the broker hands it over slowly (old beats folded 2 s apart, as paced as live ones)', async () => {
    const t = await setup({
      slowReplayMs: PROCESSOR_HEARTBEAT_MS,
      before: async (bus) => {
        await bus.publish(STREAMS.processorHeartbeats, Array.from({ length: 20 }, (_, i) => ({ key: 'gone', value: Buffer.from(JSON.stringify({ schema: 'pb.processor-heartbeat.v1', instanceId: 'gone', groupId: 'g', atMs: T0 - 3_600_000 + i * 2000 })) })));
      },
    });
    try {
      expect(clockAlarms(t.board)).toEqual([]);
      expect(t.logs).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it.each([
    // The API's consumer stalls for 30 s, then folds the 15 beats sent meanwhile at once.
    { what: 'a burst of backlogged beats (a bus that delivers 30 s of beats at once)', stallMs: 30_000, sentAgoMs: 30_000, count: 15 },
    // A follower that reconnected without a committed position folds the old beats again.
    { what: 'a re-read of the topic mid-run (beats from an hour ago folded again)', stallMs: 0, sentAgoMs: 3_600_000, count: 20 },
  ])('does not judge $what', async ({ stallMs, sentAgoMs, count }) => {
    const t = await setup();
    try {
      await t.beats('proc-5', 3, 0);
      t.clock.nowMs += stallMs;
      const sentFrom = t.clock.nowMs - sentAgoMs;
      for (let i = 0; i < count; i++) await t.beat('proc-5', sentFrom + i * PROCESSOR_HEARTBEAT_MS);
      expect(clockAlarms(t.board)).toEqual([]);
      await t.beats('proc-5', CLOCK_SKEW_BEATS, 0);
      expect(clockAlarms(t.board)).toEqual([]);
      expect(t.logs).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('clears when the skewed processor is no longer heard (one log line)', async () => {
    const t = await setup();
    try {
      await t.beats('proc-6', CLOCK_SKEW_BEATS + 1, -20_000);
      expect(clockAlarms(t.board)).toHaveLength(1);
      t.clock.nowMs += CLOCK_PEER_GONE_MS + 1;
      expect(clockAlarms(t.board)).toEqual([]);
      expect(t.logs.at(-1)).toMatchObject({ level: 'warn', msg: 'operator alarm cleared: processor proc-6 is no longer heard, so its clock is no longer compared' });
    } finally {
      await t.close();
    }
  });

  it('raises for a gateway whose clock is 5 min behind, from the heartbeat it writes with every liveness flush', async () => {
    const t = await setup();
    // The gateway's side as it runs: its liveness store stamps heartbeats with its own clock.
    const gateway = await BusDeviceLivenessStore.open({ bus: t.bus, logger: silentLogger, now: () => t.clock.nowMs - 300_000 });
    try {
      await t.gatewayBeats(gateway, 'gw-1', CLOCK_SKEW_BEATS + 1);
      expect(clockAlarms(t.board)).toMatchObject([{
        kind: 'clock_skew', gateways: ['gw-1'], clock: { component: 'gateway', instance: 'gw-1', offsetMs: -300_000 },
        reason: expect.stringMatching(/^gateway gw-1's clock is 300\.0 s behind this dashboard API's .*every device on it shows that much clock skew/),
      }]);
      expect(t.gauge('pb_dashboard_clock_offset_seconds', { component: 'gateway', instance: 'gw-1' })).toBe(-300);
    } finally {
      await gateway.close();
      await t.close();
    }
  });

  it('raises nothing for a gateway in step', async () => {
    const t = await setup();
    const gateway = await BusDeviceLivenessStore.open({ bus: t.bus, logger: silentLogger, now: () => t.clock.nowMs });
    try {
      await t.gatewayBeats(gateway, 'gw-2', 3 * CLOCK_SKEW_BEATS);
      expect(t.board.active()).toEqual([]);
      expect(t.gauge('pb_dashboard_clock_offset_seconds', { component: 'gateway', instance: 'gw-2' })).toBeCloseTo(0);
    } finally {
      await gateway.close();
      await t.close();
    }
  });
});
