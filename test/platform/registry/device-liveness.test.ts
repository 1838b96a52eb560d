import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../../platform/bus/index.ts';
import { DEVICE_LIVENESS_STREAM, GATEWAY_RESTART_REASON } from '../../../platform/registry/index.ts';
import { T, busInstances, busRegistry, inProcessInstances, sqliteRegistry } from './device-commands-scenarios.ts';
import { livenessAcrossInstances, livenessContract, livenessRow, sansUpSince } from './device-liveness-scenarios.ts';

describe('liveness contract: SQLite registry', () => {
  livenessContract(sqliteRegistry);
});

describe('liveness contract: bus-backed registry on the in-process bus', () => {
  livenessContract(busRegistry(inProcessInstances));
});

describe('liveness across bus-backed registry instances on the in-process bus', () => {
  livenessAcrossInstances(inProcessInstances);

  // The stream is compacted (Kafka keeps only the latest message per key): the late
  // "disconnected" of the gateway the device left must not be all a new instance sees.
  it('after compaction, a new instance still sees a device connected on the gateway it moved to', async () => {
    const written = new InProcessBus();
    const compacted = new InProcessBus();
    const writers = busInstances(() => written);
    const readers = busInstances(() => compacted);
    try {
      const gateway = await writers.open(() => T);
      const moved = livenessRow('dev-1', 'gw-2', { connectedAtMs: T + 1000 });
      await gateway.liveness.write('gw-1', [livenessRow('dev-1', 'gw-1')]);
      await gateway.liveness.write('gw-2', [moved]);
      await gateway.liveness.write('gw-1', [livenessRow('dev-1', 'gw-1', { connected: false, disconnectedAtMs: T, disconnectReason: 'keepalive_timeout' })]);
      expect(gateway.liveness.get('dev-1')).toMatchObject({ connected: true, gatewayId: 'gw-2' });
      // What compaction may leave: the latest message of each key, in log order.
      const log = written.read(DEVICE_LIVENESS_STREAM);
      const latest = log.filter((m, i) => !log.slice(i + 1).some((later) => later.key === m.key));
      await compacted.publish(DEVICE_LIVENESS_STREAM, latest.map(({ key, value }) => ({ key, value })));
      const api = await readers.open(() => T);
      expect(sansUpSince(api.liveness.get('dev-1'))).toEqual({ ...moved, online: true, gatewayHeardAtMs: T });
    } finally {
      await writers.closeAll();
      await readers.closeAll();
    }
  });

  // processor/silence-cause.ts gives a device time to reconnect after its gateway's outage.
  it('says since when, on the reader\'s clock, the gateway has been up: reset by a gap in its heartbeats or by its restart', async () => {
    const instances = inProcessInstances();
    let readerNow = T;
    try {
      const gateway = await instances.open(() => T);
      const reader = await instances.open(() => readerNow);
      const heartbeat = async (atMs: number, rows = [livenessRow('dev-1', 'gw-1')]) => {
        readerNow = atMs;
        await gateway.liveness.write('gw-1', rows);
        await reader.liveness.sync();
      };
      await heartbeat(T);
      expect(reader.liveness.get('dev-1')?.gatewayUpSinceMs).toBe(T);
      await heartbeat(T + 1000, []);
      await heartbeat(T + 3900, []); // 2.9 s: a late heartbeat, no interruption
      expect(reader.liveness.get('dev-1')?.gatewayUpSinceMs).toBe(T);
      await heartbeat(T + 7000, []); // 3.1 s without one: an interruption
      expect(reader.liveness.get('dev-1')?.gatewayUpSinceMs).toBe(T + 7000);
      // A quick restart shows in its rows, however short the pause in heartbeats.
      readerNow = T + 7500;
      await gateway.liveness.resetGateway('gw-1', GATEWAY_RESTART_REASON);
      await reader.liveness.sync();
      expect(reader.liveness.get('dev-1')).toMatchObject({ connected: false, disconnectReason: GATEWAY_RESTART_REASON, gatewayUpSinceMs: T + 7500 });
    } finally {
      await instances.closeAll();
    }
  });
});
