/**
 * /healthz shows the operator alarms the processor publishes (dashboard-api/operator-alarms.ts):
 * an infrastructure gap turns the status to "degraded" with the alarm, and back to "ok" once
 * the processor cleared it.
 */
import { describe, expect, it } from 'vitest';
import type { OperatorAlarmRecord } from '../../contracts/operator-alarm.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { openOperatorAlarmBoard } from '../../dashboard-api/operator-alarms.ts';
import { PROCESSOR_SILENT_MS } from '../../contracts/processor-heartbeat.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { createProcessor } from '../../processor/processor.ts';
import { http, startFixture } from './helpers.ts';

const alarm = (state: OperatorAlarmRecord['state']): OperatorAlarmRecord => ({
  schema: 'pb.operator-alarm.v1', source: 'processor/p-1', kind: 'infrastructure_gap', state, sinceMs: 1000, atMs: 2000,
  streams: ['pat-1 (device dev-1)'], streamCount: 1, gateways: ['gw-1'], reason: 'no heartbeat of gateway gw-1 reached the processor',
});

describe('operator alarms in /healthz', () => {
  it('reports an active infrastructure gap as degraded, and ok again once cleared', async () => {
    const bus = new InProcessBus();
    const metrics = new MetricsRegistry();
    const board = await openOperatorAlarmBoard({ bus, logger: silentLogger, metrics });
    const fx = await startFixture({ bus, operatorAlarms: board });
    try {
      expect((await http('GET', `${fx.url}/healthz`)).body).toMatchObject({ status: 'ok' });
      const publish = (r: OperatorAlarmRecord) => bus.publish(STREAMS.operatorAlarms, [{ key: r.source, value: Buffer.from(JSON.stringify(r)) }]);
      await publish(alarm('active'));
      await new Promise((r) => setTimeout(r, 50));
      const degraded = await http('GET', `${fx.url}/healthz`);
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({ status: 'degraded', operatorAlarms: [{ kind: 'infrastructure_gap', state: 'active', gateways: ['gw-1'] }] });
      expect(metrics.gauge('pb_dashboard_operator_alarms_active', '').get()).toBe(1);
      await publish(alarm('cleared'));
      await new Promise((r) => setTimeout(r, 50));
      const ok = await http('GET', `${fx.url}/healthz`);
      expect(ok.body).toMatchObject({ status: 'ok' });
      expect((ok.body as Record<string, unknown>).operatorAlarms).toBeUndefined();
      expect(metrics.gauge('pb_dashboard_operator_alarms_active', '').get()).toBe(0);
    } finally {
      await board.close();
      await fx.close();
    }
  });

  // Found by an operator walkthrough (session 32): /healthz said "ok" through a processor crash and
  // a Kafka outage, while no alarm was evaluated and the board's heart rates kept moving.
  it('raises processor_silent when no processor heartbeat came for 15 s, and clears it at the next beat', async () => {
    const bus = new InProcessBus();
    const metrics = new MetricsRegistry();
    let nowMs = 1_000_000;
    const board = await openOperatorAlarmBoard({ bus, logger: silentLogger, metrics, now: () => nowMs });
    const beat = () => bus.publish(STREAMS.processorHeartbeats, [{ key: 'proc-1', value: Buffer.from(JSON.stringify({ schema: 'pb.processor-heartbeat.v1', instanceId: 'proc-1', groupId: 'g', atMs: nowMs })) }]);
    try {
      // None yet: counted from the API's start.
      nowMs += PROCESSOR_SILENT_MS;
      expect(board.active()).toEqual([]);
      nowMs += 1;
      expect(board.active()).toMatchObject([{ kind: 'processor_silent', source: 'dashboard-api', state: 'active', sinceMs: 1_000_000, reason: expect.stringContaining('no alarm is being evaluated') }]);
      await beat();
      await new Promise((r) => setTimeout(r, 50));
      expect(board.active()).toEqual([]);
      // The processor dies (or the bus goes): 15 s later the alarm is back.
      nowMs += PROCESSOR_SILENT_MS + 1;
      expect(board.active()).toMatchObject([{ kind: 'processor_silent', reason: expect.stringMatching(/^no processor heartbeat for 15 s/) }]);
      expect(metrics.gauge('pb_dashboard_operator_alarms_active', '').get()).toBe(1);
    } finally {
      await board.close();
    }
  });

  // Found in session 33: a broker that had seen a processor killed during an infrastructure gap
  // kept its `active` record on the compacted stream, and every API started on it said "degraded"
  // for good, although another processor had taken over and no gap was left.
  it('stops reporting a processor\'s alarm once that processor is no longer heard, and reports it again when it beats', async () => {
    const bus = new InProcessBus();
    let nowMs = 1_000_000;
    const warnings: string[] = [];
    const board = await openOperatorAlarmBoard({ bus, logger: { ...silentLogger, warn: (m: string) => { warnings.push(m); } }, metrics: new MetricsRegistry(), now: () => nowMs });
    const beat = (instanceId: string) => bus.publish(STREAMS.processorHeartbeats, [{ key: instanceId, value: Buffer.from(JSON.stringify({ schema: 'pb.processor-heartbeat.v1', instanceId, groupId: 'g', atMs: nowMs })) }]);
    const settle = () => new Promise((r) => setTimeout(r, 20));
    try {
      await bus.publish(STREAMS.operatorAlarms, [{ key: 'processor/p-1', value: Buffer.from(JSON.stringify(alarm('active'))) }]);
      await beat('p-1');
      await beat('p-2');
      await settle();
      expect(board.active()).toMatchObject([{ kind: 'infrastructure_gap', source: 'processor/p-1' }]);
      // p-1 is killed: p-2 goes on beating. Up to 15 s the alarm stands (a processor's beat can be late)…
      nowMs += PROCESSOR_SILENT_MS;
      await beat('p-2');
      await settle();
      expect(board.active()).toMatchObject([{ kind: 'infrastructure_gap' }]);
      // …then it is no longer reported, with one warning, and no processor_silent: p-2 runs.
      nowMs += 1;
      expect(board.active()).toEqual([]);
      expect(board.active()).toEqual([]);
      expect(warnings.filter((w) => w.includes('no longer reported'))).toHaveLength(1);
      expect(warnings[0]).toMatch(/infrastructure_gap of processor\/p-1/);
      // p-1 comes back (a stall, not a crash) with its alarm still active: reported again.
      await beat('p-1');
      await settle();
      expect(board.active()).toMatchObject([{ kind: 'infrastructure_gap', source: 'processor/p-1' }]);
    } finally {
      await board.close();
    }
  });

  it('hears a running processor: the processor beats while it runs', async () => {
    const bus = new InProcessBus();
    const processor = createProcessor({ bus, store: new SqliteVitalsStore(':memory:'), logger: silentLogger, metrics: new MetricsRegistry() });
    await processor.start();
    try {
      const beats = bus.read(STREAMS.processorHeartbeats).map((m) => JSON.parse(m.value.toString()));
      expect(beats[0]).toMatchObject({ schema: 'pb.processor-heartbeat.v1', atMs: expect.any(Number) });
    } finally {
      await processor.stop();
      await bus.close();
    }
  });
});
