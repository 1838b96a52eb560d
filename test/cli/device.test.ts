/**
 * `pulsebridge device …` run in-process against a registry file, and `device command --wait`
 * against a real gateway and a device that answers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDeviceCommand, type DeviceCommandInput } from '../../cli/device.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { connectDevice, makeTempDir, publishQos1 } from '../helpers/gateway-fixture.ts';
import { startLifecycleGateway, type LifecycleFixture } from '../gateway/lifecycle-fixture.ts';

async function cli(dataDir: string, input: Partial<DeviceCommandInput>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDeviceCommand({
    config: loadConfig({ PULSEBRIDGE_DATA_DIR: dataDir }), action: undefined, deviceId: undefined, patientId: undefined, json: false,
    actor: 'cli:tester', out: (l) => out.push(l), err: (l) => err.push(l), waitPollMs: 20, ...input,
  });
  return { code, out, err };
}

describe('device registry commands', () => {
  let dataDir: string;
  beforeEach(() => { dataDir = makeTempDir('pb-cli-'); });

  it('assign --from and unassign --at change the assignment history that show prints, and audit lists who did it', async () => {
    await cli(dataDir, { action: 'add', deviceId: 'dev-1', patientId: 'pat-a' });
    const assigned = await cli(dataDir, { action: 'assign', deviceId: 'dev-1', patientId: 'pat-b', from: '2099-01-01T00:00:00Z' });
    expect(assigned).toEqual({ code: 0, out: ['device dev-1 assigned to patient pat-b from 2099-01-01T00:00:00.000Z'], err: [] });
    const unassigned = await cli(dataDir, { action: 'unassign', deviceId: 'dev-1', at: '2099-02-01T00:00:00Z' });
    expect(unassigned.out).toEqual(['device dev-1 unassigned at 2099-02-01T00:00:00.000Z']);
    const shown = JSON.parse((await cli(dataDir, { action: 'show', deviceId: 'dev-1' })).out.join('\n')) as Record<string, unknown>;
    expect(shown).toMatchObject({
      deviceId: 'dev-1', enabled: true, patientId: 'pat-a', online: false, lastSeenAt: null, fw: null,
      assignments: [
        { patientId: 'pat-a', from: expect.any(String), to: '2099-01-01T00:00:00.000Z' },
        { patientId: 'pat-b', from: '2099-01-01T00:00:00.000Z', to: '2099-02-01T00:00:00.000Z' },
      ],
    });
    const trail = JSON.parse((await cli(dataDir, { action: 'audit', deviceId: 'dev-1' })).out.join('\n')) as { actor: string; action: string }[];
    expect(trail.map((e) => [e.actor, e.action])).toEqual([['cli:tester', 'add'], ['cli:tester', 'assign'], ['cli:tester', 'unassign']]);
  });

  it('add of a registered device says on stderr that it moved it to the new patient; the same patient again says nothing', async () => {
    await cli(dataDir, { action: 'add', deviceId: 'dev-1', patientId: 'pat-a', json: true });
    expect((await cli(dataDir, { action: 'add', deviceId: 'dev-1', patientId: 'pat-a', json: true })).err).toEqual([]);
    const moved = await cli(dataDir, { action: 'add', deviceId: 'dev-1', patientId: 'pat-b', json: true });
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.out[0]!)).toMatchObject({ deviceId: 'dev-1', patientId: 'pat-b' });
    expect(moved.err).toEqual(['Device dev-1 was already registered and assigned to patient pat-a; it is now assigned to patient pat-b (device assign says this explicitly; device audit shows the history).']);
  });

  it('refuses bad input with one clear message', async () => {
    await cli(dataDir, { action: 'add', deviceId: 'dev-1', patientId: 'pat-a' });
    await expect(cli(dataDir, { action: 'assign', deviceId: 'dev-1', patientId: 'pat-b', from: 'yesterday' })).rejects.toThrow('--from must be an ISO 8601 time (e.g. 2026-03-01T10:00:00Z) or ms since the epoch');
    await expect(cli(dataDir, { action: 'command', deviceId: 'dev-1', commandType: 'reboot' })).rejects.toThrow('device command needs --type config|ping|fw_offer');
    await expect(cli(dataDir, { action: 'command', deviceId: 'dev-1', commandType: 'config', commandJson: '{"frameMs":1000,"ecg":true}' }))
      .rejects.toThrow('invalid command: config.fs: Invalid input: expected number, received undefined');
    await expect(cli(dataDir, { action: 'show', deviceId: 'nope' })).rejects.toThrow('device "nope" is not registered');
  });

  it('list prints one line per device', async () => {
    await cli(dataDir, { action: 'add', deviceId: 'dev-b', patientId: 'pat-b' });
    await cli(dataDir, { action: 'add', deviceId: 'dev-a', patientId: 'pat-a' });
    await cli(dataDir, { action: 'disable', deviceId: 'dev-b' });
    expect((await cli(dataDir, { action: 'list' })).out).toEqual(['dev-a\tenabled\tpat-a\toffline\t-', 'dev-b\tdisabled\tpat-b\toffline\t-']);
  });
});

describe('device command', () => {
  let bus: InProcessBus;
  let fx: LifecycleFixture;
  beforeEach(async () => {
    bus = new InProcessBus();
    fx = await startLifecycleGateway(bus, { pollIntervalMs: 100 });
  });
  afterEach(async () => {
    await fx.close();
    await bus.close();
  });

  it('--wait returns once the device answered and prints the final command; exit 0 for ok', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const device = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    const answers: Promise<void>[] = [];
    device.on('message', (_topic, payload) => {
      const { id } = JSON.parse(payload.toString()) as { id: string };
      answers.push(publishQos1(device, 'pb/v1/dev/dev-1/cmd/ack', JSON.stringify({ id, ok: true })));
    });
    await device.subscribeAsync('pb/v1/dev/dev-1/cmd', { qos: 1 });
    const result = await cli(fx.dataDir, { action: 'command', deviceId: 'dev-1', commandType: 'config', commandJson: '{"frameMs":500,"ecg":false,"fs":250}', ttl: '10m', wait: true });
    // Every answer the device started must finish before it disconnects (no dangling publish).
    await Promise.all(answers);
    device.end(true);
    expect([result.code, result.err]).toEqual([0, []]);
    expect(JSON.parse(result.out[0]!)).toMatchObject({
      deviceId: 'dev-1', type: 'config', state: 'ok', createdBy: 'cli:tester', deliveryCount: 1, result: { ok: true, error: null },
      payload: { type: 'config', config: { frameMs: 500, ecg: false, fs: 250 } },
    });
  });

  it('--wait reports a device that never answers as timed out, exit 1', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const device = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    await device.subscribeAsync('pb/v1/dev/dev-1/cmd', { qos: 1 });
    const result = await cli(fx.dataDir, { action: 'command', deviceId: 'dev-1', commandType: 'ping', timeout: '300ms', wait: true });
    device.end(true);
    const printed = JSON.parse(result.out[0]!) as { id: string; state: string };
    expect([result.code, printed.state, result.err]).toEqual([1, 'timed_out', [`Command ${printed.id} failed: it timed out waiting for the device's answer.`]]);
    const registry = new DeviceRegistry(fx.registryPath);
    expect(registry.commands.get(printed.id)?.state).toBe('timed_out');
    registry.close();
  });
});
