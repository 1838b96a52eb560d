/**
 * The device-command port's contract (platform/registry/commands.ts `DeviceCommandStore`), as
 * scenarios run against every registry: the SQLite registry, the bus-backed registry on the
 * in-process bus (device-commands.test.ts) and on Kafka (registry-bus.int.test.ts). Each scenario
 * opens a whole {@link Registry}, so the audit trail is checked where callers read it.
 *
 * Plus scenarios of several bus-backed registry instances (an API and gateways, separate processes
 * in production) sharing one bus, and the adapters both test files use.
 *
 * Every store call is awaited: the SQLite store answers synchronously, the bus store resolves
 * once its change is folded in the calling instance. Device ids are unique per test because a
 * Kafka stream outlives a test run (a new instance replays everything ever written).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Bus } from '../../../platform/bus/index.ts';
import { InProcessBus } from '../../../platform/bus/index.ts';
import type { DeviceCommand } from '../../../platform/registry/index.ts';
import { DeviceRegistry, type Registry } from '../../../platform/registry/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { BusRegistry } from '../../../platform/registry/index.ts';

export const T = Date.parse('2026-03-01T10:00:00.000Z');

// ---- adapters ------------------------------------------------------------------------------------

export interface RegistryAdapter {
  /** A fresh registry whose clock is `now()`; `close()` releases everything it holds. */
  open(now: () => number): Promise<Registry>;
}

/** Bus-backed registry instances (separate processes in production) on one bus, opened within one test. */
export interface BusInstances {
  /** Opens another instance, with its own clock. */
  open(now: () => number): Promise<BusRegistry>;
  /** Closes every instance opened so far, then the buses. */
  closeAll(): Promise<void>;
}

/** Instances whose buses come from `busFor` (the one shared in-process bus, or a Kafka connection each). */
export function busInstances(busFor: () => Bus): BusInstances {
  const opened: BusRegistry[] = [];
  const buses = new Set<Bus>();
  return {
    async open(now) {
      const bus = busFor();
      buses.add(bus);
      const registry = await BusRegistry.open({ bus, logger: silentLogger, now });
      opened.push(registry);
      return registry;
    },
    async closeAll() {
      // The prototype's close: a contract adapter replaces the instance's own `close` with this function.
      for (const r of opened.splice(0)) await BusRegistry.prototype.close.call(r);
      for (const b of buses) await b.close();
      buses.clear();
    },
  };
}

/** Instances sharing one new in-process bus. */
export function inProcessInstances(): BusInstances {
  const bus = new InProcessBus();
  return busInstances(() => bus);
}

export const sqliteRegistry: RegistryAdapter = { open: async (now) => new DeviceRegistry(':memory:', { now }) };

/** One bus-backed instance per contract scenario; closing it closes its bus too. */
export function busRegistry(newInstances: () => BusInstances): RegistryAdapter {
  return {
    async open(now) {
      const instances = newInstances();
      const registry = await instances.open(now);
      return Object.assign(registry, { close: () => instances.closeAll() });
    },
  };
}


/** Unique per test: Kafka streams are shared across tests and runs. */
export const uniqueSuffix = (): string => randomUUID().slice(0, 8);

/** Changes may throw (SQLite, synchronous) or reject (bus); callers await either way. */
const attempt = (change: () => unknown): Promise<unknown> => Promise.resolve().then(change);

/** The command actions of a device's audit trail, oldest first. */
async function commandActions(registry: Registry, deviceId: string): Promise<string[]> {
  return (await registry.audit(deviceId)).map((e) => e.action).filter((a) => a.startsWith('command.'));
}

// ---- the contract --------------------------------------------------------------------------------

/** Oldest first, as the port promises (the dispatcher delivers in that order). */
const PENDING_OLDEST_FIRST = 'pending commands are listed oldest first across devices, and expired ones are left out';

export function commandContract(adapter: RegistryAdapter): void {
  let now: number;
  let registry: Registry;
  let dev1: string;
  let dev2: string;
  beforeEach(async () => {
    now = T;
    registry = await adapter.open(() => now);
    const s = uniqueSuffix();
    [dev1, dev2] = [`dev-1-${s}`, `dev-2-${s}`];
    await registry.add(dev1, 'pat-1', 'test', T - 1000);
    await registry.add(dev2, 'pat-2', 'test', T - 1000);
  });
  afterEach(async () => { await registry.close(); });
  const store = () => registry.commands;
  /** This test's commands (a Kafka registry also holds other tests' and runs'). */
  const own = (commands: DeviceCommand[]) => commands.filter((c) => c.deviceId === dev1 || c.deviceId === dev2);
  /** pending() of every device, restricted to this test's. */
  const ownPending = () => own(store().pending());

  it('a command goes pending → delivered → ok, and the device sees exactly the documented payload', async () => {
    const created = await store().create(dev1, { type: 'config', config: { frameMs: 500, ecg: false, fs: 250 }, timeoutMs: 30_000 }, 'api:admin');
    expect(created).toEqual({
      id: expect.stringMatching(/^c-[0-9a-f]{16}$/), deviceId: dev1, type: 'config',
      payload: { id: created.id, type: 'config', config: { frameMs: 500, ecg: false, fs: 250 } },
      state: 'pending', createdAtMs: T, createdBy: 'api:admin', expiresAtMs: T + 3_600_000, timeoutMs: 30_000,
      deliveredAtMs: undefined, deadlineAtMs: undefined, deliveryCount: 0, result: undefined, finishedAtMs: undefined,
    });
    expect(ownPending().map((c) => c.id)).toEqual([created.id]);
    now = T + 10;
    expect(await store().markDelivered(created.id, 'gateway:g1')).toMatchObject({ state: 'delivered', deliveredAtMs: T + 10, deadlineAtMs: T + 30_010, deliveryCount: 1 });
    expect(ownPending()).toEqual([]);
    now = T + 30;
    expect(await store().recordResult(dev1, { id: created.id, ok: true }, `device:${dev1}`)).toMatchObject({ outcome: 'recorded' });
    expect(store().get(created.id)).toMatchObject({ state: 'ok', result: { ok: true, atMs: T + 30 }, finishedAtMs: T + 30 });
    // A resent answer (QoS 1 duplicate) changes nothing.
    expect((await store().recordResult(dev1, { id: created.id, ok: false, error: 'x' }, `device:${dev1}`)).outcome).toBe('duplicate');
    expect((await registry.audit(dev1)).filter((e) => e.action.startsWith('command.')).map((e) => [e.actor, e.action, e.atMs])).toEqual([
      ['api:admin', 'command.create', T], ['gateway:g1', 'command.deliver', T + 10], [`device:${dev1}`, 'command.ok', T + 30],
    ]);
  });

  it('records an error answer with its message', async () => {
    const c = await store().create(dev1, { type: 'ping' }, 'test');
    await store().markDelivered(c.id, 'gw');
    await store().recordResult(dev1, { id: c.id, ok: false, error: 'busy' }, `device:${dev1}`);
    expect(store().get(c.id)).toMatchObject({ state: 'error', result: { ok: false, error: 'busy', atMs: T } });
  });

  it('an undelivered command expires after its TTL; a delivered one without an answer times out; a late answer is kept but does not change the outcome', async () => {
    const expiring = await store().create(dev1, { type: 'ping', ttlMs: 5000 }, 'test');
    const silent = await store().create(dev1, { type: 'ping', timeoutMs: 2000 }, 'test');
    await store().markDelivered(silent.id, 'gw');
    now = T + 2000;
    expect(store().get(silent.id)?.state).toBe('timed_out');
    expect(store().get(expiring.id)?.state).toBe('pending');
    // A gateway's periodic sweep records what readers already see (the SQLite store already did on read).
    await store().sweep();
    now = T + 5000;
    expect(store().list(dev1).map((c) => [c.id, c.state])).toEqual([[silent.id, 'timed_out'], [expiring.id, 'expired']]);
    await store().sweep();
    expect(await store().markDelivered(expiring.id, 'gw')).toBeUndefined();
    expect((await store().recordResult(dev1, { id: silent.id, ok: true }, `device:${dev1}`)).outcome).toBe('late');
    expect(store().get(silent.id)).toMatchObject({ state: 'timed_out', result: { ok: true, atMs: T + 5000 }, finishedAtMs: T + 2000 });
    expect(await commandActions(registry, dev1)).toEqual([
      'command.create', 'command.create', 'command.deliver', 'command.timed_out', 'command.expired', 'command.late_result',
    ]);
  });

  it('a sweep nobody read before records expiries and timeouts once, finished when they became due', async () => {
    const expiring = await store().create(dev1, { type: 'ping', ttlMs: 5000 }, 'test');
    const silent = await store().create(dev2, { type: 'ping', timeoutMs: 2000 }, 'test');
    const answered = await store().create(dev1, { type: 'ping', timeoutMs: 2000 }, 'test');
    await store().markDelivered(silent.id, 'gw');
    await store().markDelivered(answered.id, 'gw');
    await store().recordResult(dev1, { id: answered.id, ok: true }, `device:${dev1}`);
    now = T + 6000;
    const swept = own(await store().sweep());
    expect(swept.map((c) => [c.id, c.state, c.finishedAtMs]).sort()).toEqual([
      [expiring.id, 'expired', T + 5000], [silent.id, 'timed_out', T + 2000],
    ].sort());
    expect(own(await store().sweep())).toEqual([]);
    expect([await commandActions(registry, dev1), await commandActions(registry, dev2)]).toEqual([
      ['command.create', 'command.create', 'command.deliver', 'command.ok', 'command.expired'],
      ['command.create', 'command.deliver', 'command.timed_out'],
    ]);
  });

  it('peek and deliverable read a command as of now and record nothing: what is due stays for the sweep', async () => {
    const expiring = await store().create(dev1, { type: 'ping', ttlMs: 5000 }, 'test');
    const silent = await store().create(dev2, { type: 'ping', timeoutMs: 2000 }, 'test');
    await store().markDelivered(silent.id, 'gw');
    now = T + 6000;
    expect(store().peek(silent.id)).toMatchObject({ state: 'timed_out', finishedAtMs: T + 2000 });
    expect(store().peek(expiring.id)).toMatchObject({ state: 'expired', finishedAtMs: T + 5000 });
    expect(store().peek('c-none')).toBeUndefined();
    expect([store().deliverable(dev1), store().deliverable(dev2)]).toEqual([[], []]);
    expect([await commandActions(registry, dev1), await commandActions(registry, dev2)]).toEqual([
      ['command.create'], ['command.create', 'command.deliver'],
    ]);
    expect(own(await store().sweep()).map((c) => [c.id, c.state]).sort()).toEqual([[expiring.id, 'expired'], [silent.id, 'timed_out']].sort());
  });

  it(PENDING_OLDEST_FIRST, async () => {
    const first = await store().create(dev1, { type: 'ping' }, 'test');
    now = T + 1;
    const second = await store().create(dev2, { type: 'ping', ttlMs: 1000 }, 'test');
    now = T + 2;
    const third = await store().create(dev1, { type: 'ping' }, 'test');
    expect([store().pending([dev2, dev1]), ownPending(), store().pending([dev2])].map((l) => l.map((c) => c.id))).toEqual([
      [first.id, second.id, third.id], [first.id, second.id, third.id], [second.id],
    ]);
    now = T + 1001;
    expect([store().pending([dev2, dev1]), store().pending([dev2])].map((l) => l.map((c) => c.id))).toEqual([[first.id, third.id], []]);
  });

  it('a device cannot answer another device\'s command, and unknown ids are reported as unknown', async () => {
    const c = await store().create(dev1, { type: 'ping' }, 'test');
    await store().markDelivered(c.id, 'gw');
    expect((await store().recordResult(dev2, { id: c.id, ok: true }, `device:${dev2}`)).outcome).toBe('unknown');
    expect((await store().recordResult(dev1, { id: 'c-nope', ok: true }, `device:${dev1}`)).outcome).toBe('unknown');
    expect(store().get(c.id)?.state).toBe('delivered');
  });

  it('a device that reconnects before answering gets its delivered command again, with a fresh timeout', async () => {
    const c = await store().create(dev1, { type: 'ping', timeoutMs: 1000 }, 'test');
    await store().markDelivered(c.id, 'gw');
    now = T + 500;
    expect(store().deliverable(dev1).map((x) => x.id)).toEqual([c.id]);
    expect(await store().markDelivered(c.id, 'gw')).toMatchObject({ deliveryCount: 2, deadlineAtMs: T + 1500 });
    expect(store().deliverable(dev2)).toEqual([]);
  });

  it('a claim naming the delivery count it read is refused once somebody delivered the command since (one delivery per listing)', async () => {
    const c = await store().create(dev1, { type: 'ping' }, 'test');
    const [listed] = store().deliverable(dev1);
    expect(await store().markDelivered(c.id, 'gw:subscribe', listed!.deliveryCount)).toMatchObject({ deliveryCount: 1 });
    // The poll worked from the same (now stale) listing.
    expect(await store().markDelivered(c.id, 'gw:poll', listed!.deliveryCount)).toBeUndefined();
    // A reconnect reads the command again and may re-deliver it.
    const [again] = store().deliverable(dev1);
    expect(await store().markDelivered(c.id, 'gw:reconnect', again!.deliveryCount)).toMatchObject({ deliveryCount: 2 });
    expect((await commandActions(registry, dev1)).filter((a) => a === 'command.deliver')).toHaveLength(2);
  });

  it('refuses commands to unknown or disabled devices', async () => {
    await expect(attempt(() => store().create(`dev-9-${uniqueSuffix()}`, { type: 'ping' }, 'test'))).rejects.toThrow(/not registered/);
    await registry.setEnabled(dev2, false, 'test');
    await expect(attempt(() => store().create(dev2, { type: 'ping' }, 'test'))).rejects.toThrow(/disabled/);
    expect(store().list(dev2)).toEqual([]);
  });

  it('the command change version moves when a command is created', async () => {
    const v0 = store().changeVersion();
    await store().create(dev1, { type: 'ping' }, 'test');
    expect(store().changeVersion()).toBe(v0 + 1);
  });

}

// ---- several bus-backed instances ----------------------------------------------------------------

/** Known product bug (bus store): a claim that lost the race is recomputed as a re-delivery. */
const ONE_CLAIM_WINS = 'two gateways delivering one pending command at once: exactly one gets it, delivered once, audited once';

/**
 * An API instance and gateways on one bus. `newInstances` gives each test its own set (closed
 * after it); every instance has its own clock, as separate hosts do.
 */
export function commandsAcrossInstances(newInstances: () => BusInstances): void {
  let instances: BusInstances;
  let dev: string;
  beforeEach(() => {
    instances = newInstances();
    dev = `dev-${uniqueSuffix()}`;
  });
  afterEach(async () => { await instances.closeAll(); });
  /** This test's commands (a sweep on Kafka also records other tests' overdue ones). */
  const ofDevice = (commands: DeviceCommand[]) => commands.filter((c) => c.deviceId === dev);

  /** An API and a gateway instance with their own clocks, and an enabled device; the gateway has caught up. */
  async function apiAndGateway(clocks: { api: () => number; gateway: () => number }): Promise<{ api: BusRegistry; gateway: BusRegistry }> {
    const api = await instances.open(clocks.api);
    const gateway = await instances.open(clocks.gateway);
    await api.add(dev, 'pat-1', 'test', T - 1000);
    await gateway.sync();
    return { api, gateway };
  }

  it(ONE_CLAIM_WINS, async () => {
    const { api: gw1, gateway: gw2 } = await apiAndGateway({ api: () => T, gateway: () => T });
    const c = await gw1.commands.create(dev, { type: 'ping' }, 'api:admin');
    await gw2.sync();
    const claims = await Promise.all([gw1.commands.markDelivered(c.id, 'gateway:gw-1'), gw2.commands.markDelivered(c.id, 'gateway:gw-2')]);
    expect(claims.filter((x) => x !== undefined).map((x) => x.deliveryCount)).toEqual([1]);
    await Promise.all([gw1.sync(), gw2.sync()]);
    for (const r of [gw1, gw2]) {
      expect(r.commands.get(c.id)).toMatchObject({ state: 'delivered', deliveryCount: 1 });
      expect(await commandActions(r, dev)).toEqual(['command.create', 'command.deliver']);
    }
  });

  it('a command created through the API is seen by a gateway after it synced, and its answer by the API after it synced', async () => {
    let now = T;
    const { api, gateway } = await apiAndGateway({ api: () => now, gateway: () => now });
    const v0 = gateway.commands.changeVersion();
    const created = await api.commands.create(dev, { type: 'ping', timeoutMs: 5000 }, 'api:admin');
    await gateway.sync();
    expect([gateway.commands.changeVersion() > v0, gateway.commands.get(created.id), gateway.commands.deliverable(dev).map((c) => c.id)])
      .toEqual([true, created, [created.id]]);
    now = T + 10;
    await gateway.commands.markDelivered(created.id, 'gateway:gw-1');
    now = T + 20;
    expect((await gateway.commands.recordResult(dev, { id: created.id, ok: true }, `device:${dev}`)).outcome).toBe('recorded');
    await api.sync();
    expect(api.commands.get(created.id)).toEqual({ ...created, state: 'ok', deliveredAtMs: T + 10, deadlineAtMs: T + 5010, deliveryCount: 1, result: { ok: true, atMs: T + 20 }, finishedAtMs: T + 20 });
    expect((await api.audit(dev)).filter((e) => e.action.startsWith('command.')).map((e) => [e.actor, e.action, e.atMs])).toEqual([
      ['api:admin', 'command.create', T], ['gateway:gw-1', 'command.deliver', T + 10], [`device:${dev}`, 'command.ok', T + 20],
    ]);
  });

  /**
   * A ping delivered at T with a 1 s timeout. The gateway holding the device (`answering`) hears
   * the answer at T + 999; another gateway (`sweeping`) sweeps at T + 1001, past the deadline.
   */
  async function answerRacingSweep(): Promise<{ answering: BusRegistry; sweeping: BusRegistry; id: string }> {
    const { api: answering, gateway: sweeping } = await apiAndGateway({ api: () => T + 999, gateway: () => T + 1001 });
    // Created and delivered "at T" by a gateway whose clock said so.
    const atT = await instances.open(() => T);
    await atT.sync();
    const c = await atT.commands.create(dev, { type: 'ping', timeoutMs: 1000 }, 'api:admin');
    await atT.commands.markDelivered(c.id, 'gateway:gw-1');
    await Promise.all([answering.sync(), sweeping.sync()]);
    return { answering, sweeping, id: c.id };
  }

  /**
   * Both instances hold the same final command and the same command log (log order), and the
   * registry's merged audit keeps that order although the writers' clocks disagree (here the late
   * answer is stamped T + 999, the timeout recorded before it T + 1001).
   */
  async function expectSameOutcome(a: BusRegistry, b: BusRegistry, id: string): Promise<{ state: string | undefined; actions: string[] }> {
    await Promise.all([a.sync(), b.sync()]);
    const logged = async (r: BusRegistry) => (await r.commands.audit(dev)).map((e) => e.action);
    const actions = await logged(a);
    expect([b.commands.get(id), await logged(b), await commandActions(b, dev)]).toEqual([a.commands.get(id), actions, actions]);
    return { state: a.commands.get(id)?.state, actions };
  }

  const TIMED_OUT_LATE = ['command.create', 'command.deliver', 'command.timed_out', 'command.late_result'];
  const ANSWERED = ['command.create', 'command.deliver', 'command.ok'];

  it('a sweep folded before the answer wins: timed_out in both instances, the answer kept as late', async () => {
    const { answering, sweeping, id } = await answerRacingSweep();
    expect(ofDevice(await sweeping.commands.sweep()).map((c) => [c.id, c.state])).toEqual([[id, 'timed_out']]);
    // The answering gateway has not seen the sweep: its change is recomputed on top of it.
    expect((await answering.commands.recordResult(dev, { id, ok: true }, `device:${dev}`)).outcome).toBe('late');
    expect(await expectSameOutcome(answering, sweeping, id)).toEqual({ state: 'timed_out', actions: TIMED_OUT_LATE });
    expect(sweeping.commands.get(id)).toMatchObject({ finishedAtMs: T + 1000, result: { ok: true, atMs: T + 999 } });
  });

  it('an answer folded before the sweep wins: ok in both instances, and the sweep changes nothing', async () => {
    const { answering, sweeping, id } = await answerRacingSweep();
    expect((await answering.commands.recordResult(dev, { id, ok: true }, `device:${dev}`)).outcome).toBe('recorded');
    // The sweeping gateway has not seen the answer: its change is recomputed on top of it.
    expect(ofDevice(await sweeping.commands.sweep())).toEqual([]);
    expect(await expectSameOutcome(answering, sweeping, id)).toEqual({ state: 'ok', actions: ANSWERED });
    expect(sweeping.commands.get(id)).toMatchObject({ finishedAtMs: T + 999, result: { ok: true, atMs: T + 999 } });
  });

  it('an answer and a sweep at the same time: one of them wins, the same in both instances, never both audited', async () => {
    const { answering, sweeping, id } = await answerRacingSweep();
    await Promise.all([answering.commands.recordResult(dev, { id, ok: true }, `device:${dev}`), sweeping.commands.sweep()]);
    const outcome = await expectSameOutcome(answering, sweeping, id);
    expect([{ state: 'ok', actions: ANSWERED }, { state: 'timed_out', actions: TIMED_OUT_LATE }]).toContainEqual(outcome);
    expect(answering.commands.get(id)?.result).toEqual({ ok: true, atMs: T + 999 });
  });

}
