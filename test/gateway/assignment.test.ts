/**
 * Time-bounded assignments on the hot path: a frame belongs to the patient assigned at the
 * frame's device time, so reassigning a device at T never mixes two patients' data.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DeadLetterRecord, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { connectDevice, frameJson, publishQos1 } from '../helpers/gateway-fixture.ts';
import { startLifecycleGateway, type LifecycleFixture } from './lifecycle-fixture.ts';

let bus: InProcessBus;
let fx: LifecycleFixture;
beforeEach(async () => {
  bus = new InProcessBus();
  fx = await startLifecycleGateway(bus);
});
afterEach(async () => {
  await fx.close();
  await bus.close();
});

it('after reassigning from A to B at T (from another process), frames stamped before T go to A and from T on to B, also when they arrive late', async () => {
  const creds = fx.addDevice('dev-1', 'pat-a');
  const T = Date.now() - 60_000;
  const cli = new DeviceRegistry(fx.registryPath);
  cli.assign('dev-1', 'pat-b', T, 'cli:ops');
  cli.unassign('dev-1', T + 30_000, 'cli:ops');
  cli.close();
  const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
  // Sent out of order, as a backlog after a reconnect would be.
  for (const [seq, ts] of [[3, T + 1000], [1, T - 2000], [2, T], [4, T - 1], [5, T + 30_000]] as const) {
    await publishQos1(client, 'pb/v1/dev/dev-1/telemetry', frameJson(seq, ts));
  }
  client.end(true);
  const records = bus.read(STREAMS.telemetry).map((m) => ({ key: m.key, ...JSON.parse(m.value.toString()) as TelemetryRecord }));
  expect(records.map((r) => [r.frame.seq, r.key, r.patientId])).toEqual([[3, 'pat-b', 'pat-b'], [1, 'pat-a', 'pat-a'], [2, 'pat-b', 'pat-b'], [4, 'pat-a', 'pat-a']]);
  const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
  expect(dead.map((d) => d.reason)).toEqual(['unassigned_device']);
});
