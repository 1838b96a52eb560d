/**
 * The device-directory contract on Apache Kafka (the production bus): the same scenarios as the
 * SQLite registry, plus two instances in separate consumer groups seeing each other's changes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { KafkaBus } from '../../../platform/bus/index.ts';
import { BusDeviceDirectory } from '../../../platform/registry/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';
import { directoryContract } from './device-directory-scenarios.ts';

await describeWithService('device directory contract: on Kafka', kafkaAvailable, () => {
  const buses: KafkaBus[] = [];
  const newBus = () => {
    const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: `pb-devdir-${randomUUID().slice(0, 8)}`, logger: silentLogger });
    buses.push(bus);
    return bus;
  };
  afterAll(async () => { for (const b of buses) await b.close(); });

  directoryContract({ open: async (now) => BusDeviceDirectory.open({ bus: newBus(), logger: silentLogger, now }) });

  it('a disable by one instance (the CLI) is seen by another (a gateway) after sync, from a separate connection', async () => {
    const id = `dev-${randomUUID().slice(0, 8)}`;
    const cli = await BusDeviceDirectory.open({ bus: newBus(), logger: silentLogger });
    const gateway = await BusDeviceDirectory.open({ bus: newBus(), logger: silentLogger });
    await cli.add(id, 'pat-a', 'cli', Date.now() - 1000);
    await cli.setEnabled(id, false, 'cli');
    await gateway.sync();
    expect(gateway.get(id)).toMatchObject({ deviceId: id, enabled: false, patientId: 'pat-a' });
    await Promise.all([cli.close(), gateway.close()]);
  });
});
