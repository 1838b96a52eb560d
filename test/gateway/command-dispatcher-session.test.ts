/**
 * CommandDispatcher.subscribed with commands the device's persistent MQTT session re-sent on this
 * connection (c57bc08): not published again, but a re-delivery all the same — the answer timeout
 * restarts (platform/registry/commands.ts planDelivery), as after the gateway's own resend. Before
 * the review of c57bc08 the deadline stayed the first delivery's: a device that reconnected late in
 * the timeout got the command and had it time out under it. sessionMayResend: the session's copy
 * of a command past its deadline is refused (counted, logged). A store of the shared rules in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandDispatcher } from '../../gateway/command-dispatcher.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { DeviceRegistry, dueFinal, isDeliverable, newCommand, planDelivery, type DeviceCommand, type DeviceCommandStore } from '../../platform/registry/index.ts';

function memoryStore(clock: { now: number }) {
  const commands = new Map<string, DeviceCommand>();
  const store = {
    // The SQLite store's get() sweeps (a write transaction): sessionMayResend must not use it.
    get: () => { throw new Error('get() is not for sessionMayResend'); },
    peek: (id: string) => { const c = commands.get(id); return c && (dueFinal(c, clock.now) ?? c); },
    deliverable: (deviceId: string) => [...commands.values()].filter((c) => c.deviceId === deviceId && isDeliverable(c, clock.now)),
    markDelivered: (id: string, _actor: string, seen?: number) => {
      const after = planDelivery(commands.get(id)!, clock.now, seen);
      if (after) commands.set(id, after);
      return after;
    },
  } as unknown as DeviceCommandStore;
  return { store, commands };
}

describe('command dispatcher: a command the persistent session re-sent', () => {
  it('is not published again, and its answer timeout restarts at the reconnect', async () => {
    const clock = { now: 1_000_000 };
    const { store, commands } = memoryStore(clock);
    const created = newCommand('dev-1', { type: 'ping' }, 'test', clock.now);
    commands.set(created.id, planDelivery(created, clock.now)!);
    const firstDeadline = commands.get(created.id)!.deadlineAtMs!;
    const published: string[] = [];
    const metrics = new MetricsRegistry();
    const counter = metrics.counter('pb_gateway_commands_total', '');
    const dispatcher = new CommandDispatcher({ store, actor: 'gateway:gw', logger: silentLogger, counter, publish: async (topic) => { published.push(topic); } });
    // The device reconnects before the deadline; its session re-sends the command at CONNECT.
    clock.now = firstDeadline - 1000;
    await dispatcher.subscribed('dev-1', new Set([created.id]));
    expect(published).toEqual([]);
    expect(counter.get({ event: 'session_resent' })).toBe(1);
    expect(commands.get(created.id)).toMatchObject({ state: 'delivered', deliveryCount: 2, deadlineAtMs: clock.now + created.timeoutMs });
  });

  it('lets the session re-send a command only within its deadline; a timed-out one is refused, counted and logged', () => {
    const clock = { now: 1_000_000 };
    const { store, commands } = memoryStore(clock);
    const created = newCommand('dev-1', { type: 'ping' }, 'test', clock.now);
    commands.set(created.id, planDelivery(created, clock.now)!);
    const deadline = commands.get(created.id)!.deadlineAtMs!;
    const metrics = new MetricsRegistry();
    const counter = metrics.counter('pb_gateway_commands_total', '');
    const lines: string[] = [];
    const logger = createLogger('info', {}, (line) => lines.push(line));
    const dispatcher = new CommandDispatcher({ store, actor: 'gateway:gw', logger, counter, publish: async () => {} });
    clock.now = deadline - 1;
    expect(dispatcher.sessionMayResend('dev-1', created.id)).toBe(true);
    expect(counter.get({ event: 'session_suppressed' })).toBe(0);
    // The deadline passed (no sweep has recorded the timeout yet): the session's copy must not go out.
    clock.now = deadline;
    expect(dispatcher.sessionMayResend('dev-1', created.id)).toBe(false);
    // Another device's command id on this device's topic is refused too.
    expect(dispatcher.sessionMayResend('dev-2', created.id)).toBe(false);
    expect(counter.get({ event: 'session_suppressed' })).toBe(2);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({ level: 'info', deviceId: 'dev-1', commandId: created.id, state: 'timed_out', deadlineAtMs: deadline });
    expect(logged[1]).toMatchObject({ level: 'info', deviceId: 'dev-2', commandId: created.id, state: 'unknown' });
  });

  it('a store that cannot be read: refused (not noted as re-sent), logged as a warning, never thrown into aedes\' CONNECT handling', () => {
    const metrics = new MetricsRegistry();
    const counter = metrics.counter('pb_gateway_commands_total', '');
    const lines: string[] = [];
    const logger = createLogger('info', {}, (line) => lines.push(line));
    const busy = () => { throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }); };
    const failing = [
      { deliverable: busy, peek: busy },
      // deliverable() answers (without the command), then the read for the log line fails.
      { deliverable: () => [], peek: busy },
    ];
    for (const store of failing) {
      const dispatcher = new CommandDispatcher({ store: store as unknown as DeviceCommandStore, actor: 'gateway:gw', logger, counter, publish: async () => {} });
      let answer: boolean | undefined;
      expect(() => { answer = dispatcher.sessionMayResend('dev-1', 'c-1'); }).not.toThrow();
      expect(answer).toBe(false);
    }
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toHaveLength(2);
    for (const l of logged) {
      expect(l).toMatchObject({ level: 'warn', deviceId: 'dev-1', commandId: 'c-1' });
      expect(JSON.stringify(l)).toContain('database is locked');
    }
  });

  it('SQLite store: refusing a timed-out command records nothing; the poll tick times it (and another device\'s expired one) out, counted and logged', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pb-session-resend-'));
    let now = Date.parse('2026-03-01T10:00:00.000Z');
    const registry = new DeviceRegistry(path.join(dir, 'registry.sqlite'), { now: () => now });
    try {
      registry.add('dev-1', 'pat-1', 'test', now - 1000);
      registry.add('dev-2', 'pat-2', 'test', now - 1000);
      const store = registry.commands;
      const silent = await store.create('dev-1', { type: 'ping', timeoutMs: 2000 }, 'test');
      await store.markDelivered(silent.id, 'gateway:gw');
      const expiring = await store.create('dev-2', { type: 'ping', ttlMs: 5000 }, 'test');
      const metrics = new MetricsRegistry();
      const counter = metrics.counter('pb_gateway_commands_total', '');
      const lines: string[] = [];
      const logger = createLogger('info', {}, (line) => lines.push(line));
      const dispatcher = new CommandDispatcher({ store, actor: 'gateway:gw', logger, counter, publish: async () => {} });
      now += 6000;
      // dev-1 reconnects; its session holds the timed-out command.
      expect(dispatcher.sessionMayResend('dev-1', silent.id)).toBe(false);
      const actions = async () => (await registry.audit('dev-1')).concat(await registry.audit('dev-2')).map((e) => e.action);
      expect(await actions()).not.toContain('command.timed_out');
      expect(await actions()).not.toContain('command.expired');
      const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged()).toEqual([expect.objectContaining({ level: 'info', deviceId: 'dev-1', commandId: silent.id, state: 'timed_out' })]);
      await dispatcher.tick();
      expect(counter.get({ event: 'timed_out' })).toBe(1);
      expect(counter.get({ event: 'expired' })).toBe(1);
      const finished = logged().filter((l) => l.msg === 'device command finished without a result').map((l) => [l.commandId, l.state]);
      expect(finished.sort()).toEqual([[expiring.id, 'expired'], [silent.id, 'timed_out']].sort());
    } finally {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
