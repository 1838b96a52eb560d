import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../../platform/bus/index.ts';
import { BusDeviceDirectory, DEVICE_EVENTS_STREAM } from '../../../platform/registry/index.ts';
import { DeviceRegistry } from '../../../platform/registry/index.ts';
import { createLogger, silentLogger } from '../../../platform/log.ts';
import { directoryContract } from './device-directory-scenarios.ts';

describe('device directory contract: SQLite registry', () => {
  directoryContract({ open: async (now) => new DeviceRegistry(':memory:', { now }) });
});

describe('device directory contract: on the in-process bus', () => {
  directoryContract({
    open: async (now) => {
      const bus = new InProcessBus();
      const dir = await BusDeviceDirectory.open({ bus, logger: silentLogger, now });
      return Object.assign(dir, { close: async () => { await BusDeviceDirectory.prototype.close.call(dir); await bus.close(); } });
    },
  });
});

describe('bus-backed directory across instances', () => {
  it('a change made by one instance is seen by another (a gateway) after it synced, and moves its change version', async () => {
    const bus = new InProcessBus();
    const cli = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    const gateway = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    await cli.add('dev-1', 'pat-a', 'cli', 1000);
    await gateway.sync();
    const v = gateway.changeVersion();
    expect(gateway.get('dev-1')?.enabled).toBe(true);
    await cli.setEnabled('dev-1', false, 'cli');
    await gateway.sync();
    expect([gateway.get('dev-1')?.enabled, gateway.changeVersion() > v]).toEqual([false, true]);
    // A late joiner replays everything.
    const late = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    expect([late.get('dev-1')?.enabled, (await late.audit('dev-1')).map((e) => e.action)]).toEqual([false, ['add', 'disable']]);
    await Promise.all([cli.close(), gateway.close(), late.close()]);
    await bus.close();
  });

  it('a rekey event replays with its serials, and an event with an action this version does not know is folded and listed, not refused', async () => {
    const bus = new InProcessBus();
    const cli = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    await cli.add('dev-1', 'pat-a', 'cli', 1000);
    await cli.recordRekey('dev-1', { revokedSerial: '0A', serial: '0B' }, 'cli:bob');
    // A newer version's change: an action and a field unknown here.
    const state = { deviceId: 'dev-1', enabled: true, createdAt: 1000, assignments: [{ patientId: 'pat-a', fromMs: 1000 }] };
    await bus.publish(DEVICE_EVENTS_STREAM, [{ key: 'dev-1', value: Buffer.from(JSON.stringify({
      schema: 'pb.device-event.v1', eventId: 'e-future', key: 'dev-1', deviceId: 'dev-1', atMs: 5000, actor: 'cli:carol', action: 'certificate.renewed',
      baseRevision: 2, after: state, renewal: { days: 825 },
    })) }]);
    const late = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    const trail = await late.audit('dev-1');
    expect(trail.map((e) => [e.actor, e.action])).toEqual([['cli', 'add'], ['cli:bob', 'rekey'], ['cli:carol', 'certificate.renewed']]);
    expect([(trail[1]!.before as { certificateSerial: string }).certificateSerial, (trail[1]!.after as { certificateSerial: string }).certificateSerial]).toEqual(['0A', '0B']);
    expect(late.get('dev-1')).toMatchObject({ enabled: true, patientId: 'pat-a' });
    // Folded like any change: the next change names the revision after it.
    await late.setEnabled('dev-1', false, 'cli');
    expect(late.get('dev-1')?.enabled).toBe(false);
    await Promise.all([cli.close(), late.close()]);
    await bus.close();
  });

  it('two instances changing one device at once: one change wins, the other is recomputed on top of it, and both end up the same', async () => {
    const bus = new InProcessBus();
    const a = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    const b = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    await a.add('dev-1', 'pat-a', 'test', 1000);
    await b.sync();
    await Promise.all([a.assign('dev-1', 'pat-b', 5000, 'api:a'), b.setEnabled('dev-1', false, 'cli:b')]);
    await Promise.all([a.sync(), b.sync()]);
    for (const d of [a, b]) {
      expect(d.get('dev-1')).toMatchObject({ enabled: false });
      expect(d.assignments('dev-1').map((x) => x.patientId)).toEqual(['pat-a', 'pat-b']);
    }
    expect((await a.audit('dev-1')).map((e) => e.action).sort()).toEqual(['add', 'assign', 'disable']);
    // Exactly one rejected event: the loser's first attempt.
    const events = bus.read(DEVICE_EVENTS_STREAM).map((m) => JSON.parse(m.value.toString()) as { schema: string }).filter((e) => e.schema === 'pb.device-event.v1');
    expect(events).toHaveLength(4);
    await Promise.all([a.close(), b.close()]);
    await bus.close();
  });
});

describe('bus-backed directory: at-least-once delivery', () => {
  it('an event delivered twice (a redelivery after a consumer restart) changes the device once and is audited once', async () => {
    const bus = new InProcessBus();
    const dir = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    await dir.add('dev-1', 'pat-a', 'test', 1000);
    await dir.assign('dev-1', 'pat-b', 5000, 'test');
    // Re-publish every change event as it was: a redelivery of the whole log.
    const events = bus.read(DEVICE_EVENTS_STREAM).filter((m) => (JSON.parse(m.value.toString()) as { schema: string }).schema === 'pb.device-event.v1');
    await bus.publish(DEVICE_EVENTS_STREAM, events.map((m) => ({ key: m.key, value: m.value })));
    await dir.sync();
    const late = await BusDeviceDirectory.open({ bus, logger: silentLogger });
    for (const d of [dir, late]) {
      expect(d.assignments('dev-1').map((a) => [a.patientId, a.fromMs, a.toMs])).toEqual([['pat-a', 1000, 5000], ['pat-b', 5000, undefined]]);
      expect((await d.audit('dev-1')).map((e) => e.action)).toEqual(['add', 'assign']);
    }
    await Promise.all([dir.close(), late.close()]);
    await bus.close();
  });
});

it('a late joiner replays the log without a warning (nothing is skipped)', async () => {
  const bus = new InProcessBus();
  const first = await BusDeviceDirectory.open({ bus, logger: silentLogger });
  await first.add('dev-1', 'pat-a', 'test', 1000);
  await first.setEnabled('dev-1', false, 'test');
  const warnings: string[] = [];
  const late = await BusDeviceDirectory.open({ bus, logger: createLogger('warn', {}, (line) => warnings.push(line)) });
  expect([late.get('dev-1')?.enabled, warnings]).toEqual([false, []]);
  await Promise.all([first.close(), late.close()]);
  await bus.close();
});
