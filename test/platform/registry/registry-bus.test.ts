/**
 * BusRegistry options beyond the shared contracts: a gateway opens it without the audit trail
 * (it never reads it), which must not change what it can do — only what it holds in memory.
 */
import { expect, it } from 'vitest';
import { InProcessBus } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { BusRegistry } from '../../../platform/registry/index.ts';

it('an instance without the audit trail changes, delivers and records like any other; the audit is read from an instance that keeps it', async () => {
  const bus = new InProcessBus();
  // One clock that moves on every reading: the merged audit's order does not hang on ms ties.
  let t = Date.parse('2026-03-01T10:00:00Z');
  const now = () => ++t;
  const api = await BusRegistry.open({ bus, logger: silentLogger, now });
  const gateway = await BusRegistry.open({ bus, logger: silentLogger, now, keepAuditTrail: false });
  try {
    await api.add('dev-1', 'pat-1', 'cli:ops', 1000);
    const command = await api.commands.create('dev-1', { type: 'ping' }, 'api:admin');
    await gateway.sync();
    expect(await gateway.commands.markDelivered(command.id, 'gateway:gw-1', 0)).toMatchObject({ state: 'delivered' });
    expect((await gateway.commands.recordResult('dev-1', { id: command.id, ok: true }, 'device:dev-1')).outcome).toBe('recorded');
    await gateway.setEnabled('dev-1', false, 'gateway:test');
    await expect(gateway.audit('dev-1')).rejects.toThrow(/without its audit trail/);
    await api.sync();
    expect((await api.audit('dev-1')).map((e) => `${e.actor} ${e.action}`)).toEqual([
      'cli:ops add', 'api:admin command.create', 'gateway:gw-1 command.deliver', 'device:dev-1 command.ok', 'gateway:test disable',
    ]);
  } finally {
    await Promise.all([api.close(), gateway.close()]);
    await bus.close();
  }
});
