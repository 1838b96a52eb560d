import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../../platform/bus/index.ts';
import { DEVICE_LIVENESS_STREAM } from '../../../platform/registry/index.ts';
import { T, busInstances, busRegistry, inProcessInstances, sqliteRegistry } from './device-commands-scenarios.ts';
import { livenessAcrossInstances, livenessContract, livenessRow } from './device-liveness-scenarios.ts';

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
      expect(api.liveness.get('dev-1')).toEqual({ ...moved, online: true, gatewayHeardAtMs: T });
    } finally {
      await writers.closeAll();
      await readers.closeAll();
    }
  });
});
