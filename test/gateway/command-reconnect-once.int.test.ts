/**
 * Firmware walk of 2026-12-07: an unanswered command reaches the device exactly once per
 * reconnect. Checked with an independent client, Debian's `mosquitto_sub` (libmosquitto), whose
 * debug output prints every PUBLISH it receives and every PUBACK it sends; libmosquitto does not
 * drop a repeated QoS 1 PUBLISH, so each delivery shows as one payload line.
 *
 * The device drops without answering, either after its PUBACK (it was killed after printing the
 * command) or before it (SIGSTOP before the command is sent, SIGKILL once the gateway wrote it:
 * a stopped process reads nothing and acknowledges nothing). It reconnects with a clean session
 * or with a persistent one (`-c`), on the same gateway or on a restarted one (aedes' in-memory
 * session is then gone). Before the fix a persistent session that dropped before its PUBACK got
 * the command twice: aedes re-sent the in-flight PUBLISH from the session [MQTT-4.4.0-1] and the
 * dispatcher sent the unanswered command again.
 *
 * A command whose answer deadline passed while the device was away is not re-sent at all, also
 * not by the persistent session (which still holds it unacknowledged): the device would carry out
 * a command the operator saw time out.
 *
 * "Exactly once" without a time threshold: after the reconnect a second command (the marker) is
 * created; the gateway sends it behind anything it sends at the (re)connection, so every copy of
 * the first command precedes the marker on the wire. Skipped when the binary is missing, failed
 * instead when PULSEBRIDGE_REQUIRE_SERVICES=1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { requireService } from '../helpers/services.ts';
import { startLifecycleGateway, until, type LifecycleFixture } from './lifecycle-fixture.ts';
import { MOSQUITTO_SUB, mosquittoClientsAvailable } from './mosquitto-clients.ts';

const STDBUF = '/usr/bin/stdbuf';
const hasMosquittoSub = await requireService(`mosquitto_sub (Debian package mosquitto-clients) at ${MOSQUITTO_SUB}, and ${STDBUF}`,
  async () => (await mosquittoClientsAvailable(MOSQUITTO_SUB)) && fs.existsSync(STDBUF));

const DEVICE = 'dev-once';
const CMD_TOPIC = `pb/v1/dev/${DEVICE}/cmd`;

/** A running mosquitto_sub on the command topic: its output so far, line by line. */
interface Sub {
  proc: ChildProcess;
  lines: string[];
  /** Payload lines that are exactly this command (the command's JSON, as mosquitto_sub prints it). */
  deliveries(commandId: string): number;
  /** Resolves with the index of the first line at or after `from` that matches. */
  waitFor(re: RegExp, what: string, from?: number): Promise<number>;
  kill(): Promise<void>;
}

/**
 * mosquitto_sub over mutual TLS, MQTT 3.1.1, QoS 1, debug output line-buffered (stdbuf) so the
 * test sees each line as it is printed. `persistent`: -c (clean session false, the session and
 * its subscription stay on the broker across connections).
 */
function startSub(port: number, creds: DeviceCredentials, persistent: boolean): Sub {
  const proc = spawn(STDBUF, ['-oL', MOSQUITTO_SUB,
    '-h', 'localhost', '-p', String(port), '-V', 'mqttv311',
    '--cafile', creds.ca, '--cert', creds.cert, '--key', creds.key,
    '-i', DEVICE, '-q', '1', '-t', CMD_TOPIC, '-k', '60', '-d', ...(persistent ? ['-c'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => lines.push(`stderr: ${chunk}`));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc, lines,
    deliveries: (commandId) => lines.filter((l) => l.startsWith('{') && (JSON.parse(l) as { id?: string }).id === commandId).length,
    async waitFor(re, what, from = 0) {
      return until(() => { const i = lines.findIndex((l, n) => n >= from && re.test(l)); return i >= 0 ? i : undefined; }, 15_000,
        `${what} (mosquitto_sub printed:\n${lines.join('\n')})`);
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

const payloadLine = (commandId: string) => new RegExp(`^\\{"id":"${commandId}"`);

describe.skipIf(!hasMosquittoSub)('an unanswered command after a reconnect (mosquitto_sub)', () => {
  let bus: InProcessBus;
  let fx: LifecycleFixture;
  let api: DeviceRegistry;
  const subs: Sub[] = [];

  beforeEach(async () => {
    bus = new InProcessBus();
    fx = await startLifecycleGateway(bus, { pollIntervalMs: 100 });
    api = new DeviceRegistry(fx.registryPath);
  });
  afterEach(async () => {
    for (const s of subs.splice(0)) await s.kill();
    api.close();
    await fx.close();
    await bus.close();
  });

  const sub = (creds: DeviceCredentials, persistent: boolean) => {
    const s = startSub(fx.port, creds, persistent);
    subs.push(s);
    return s;
  };

  /**
   * First connection: subscribes, gets the command and drops without answering — after its
   * PUBACK, or before it (stopped before the command goes out, killed once the gateway sent it).
   * Returns the command id.
   */
  async function dropWithoutAnswering(creds: DeviceCredentials, persistent: boolean, drop: 'before_puback' | 'after_puback'): Promise<string> {
    const first = sub(creds, persistent);
    await first.waitFor(/^Subscribed \(mid: \d+\): 1$/, 'the SUBACK');
    if (drop === 'before_puback') first.proc.kill('SIGSTOP');
    const cmd = api.commands.create(DEVICE, { type: 'ping', timeoutMs: 600_000 }, 'test');
    if (drop === 'before_puback') {
      // The dispatcher's publish resolves once aedes wrote the PUBLISH to the connection.
      await until(() => fx.metrics.counter('pb_gateway_commands_total', '').get({ event: 'delivered' }) === 1, 15_000, 'the delivery');
    } else {
      // libmosquitto sends the PUBACK, then hands the message to mosquitto_sub, which prints it.
      const at = await first.waitFor(/received PUBLISH \(d0, q1, /, 'the command');
      await first.waitFor(/sending PUBACK/, 'the PUBACK', at);
      await first.waitFor(payloadLine(cmd.id), 'the command', at);
    }
    await first.kill();
    await until(() => fx.gateway.connectedDevices === 0, 15_000, 'the disconnect');
    expect(api.commands.get(cmd.id)).toMatchObject({ state: 'delivered', deliveryCount: 1 });
    if (drop === 'before_puback') expect(first.deliveries(cmd.id)).toBe(0);
    return cmd.id;
  }

  /** Reconnects and returns how often the command arrived before the marker created after the SUBACK. */
  async function deliveriesOnReconnect(creds: DeviceCredentials, persistent: boolean, commandId: string): Promise<{ count: number; sub: Sub }> {
    const again = sub(creds, persistent);
    await again.waitFor(/^Subscribed \(mid: \d+\): 1$/, 'the SUBACK');
    const marker = api.commands.create(DEVICE, { type: 'ping' }, 'test');
    const at = await again.waitFor(payloadLine(marker.id), 'the marker command');
    const count = again.lines.slice(0, at).filter((l) => payloadLine(commandId).test(l)).length;
    expect(again.deliveries(marker.id)).toBe(1);
    return { count, sub: again };
  }

  for (const persistent of [false, true]) {
    for (const drop of ['before_puback', 'after_puback'] as const) {
      it(`${persistent ? 'persistent session (-c)' : 'clean session'}, dropped ${drop === 'before_puback' ? 'before' : 'after'} its PUBACK: the command arrives once on the reconnect`, async () => {
        const creds = fx.addDevice(DEVICE, 'pat-once');
        const id = await dropWithoutAnswering(creds, persistent, drop);
        const { count, sub: again } = await deliveriesOnReconnect(creds, persistent, id);
        expect(count, again.lines.join('\n')).toBe(1);
        expect(again.deliveries(id)).toBe(1);
        if (persistent && drop === 'before_puback') {
          // The session re-sent it (aedes, its original packet id); the gateway did not send it again
          // (arrived once, above), but counts it as delivered: its answer timeout restarts.
          expect(api.commands.get(id)?.deliveryCount).toBe(2);
          expect(fx.metrics.counter('pb_gateway_commands_total', '').get({ event: 'session_resent' })).toBe(1);
        }
        // Still unanswered after a second drop (this one after the PUBACK): the next reconnect gets it once more.
        await again.kill();
        await until(() => fx.gateway.connectedDevices === 0, 15_000, 'the disconnect');
        expect((await deliveriesOnReconnect(creds, persistent, id)).count).toBe(1);
        expect(api.commands.get(id)?.state).toBe('delivered');
      });
    }
  }

  it('persistent session dropped before its PUBACKs: a command that timed out meanwhile is not re-sent, one still within its deadline arrives once', async () => {
    // Before the fix aedes re-sent both from the session at the reconnect: the device got the
    // timed-out command and could carry out what the operator had seen time out (a late answer).
    const events = fx.metrics.counter('pb_gateway_commands_total', '');
    const creds = fx.addDevice(DEVICE, 'pat-once');
    const first = sub(creds, true);
    await first.waitFor(/^Subscribed \(mid: \d+\): 1$/, 'the SUBACK');
    first.proc.kill('SIGSTOP');
    // The least timeout the contract allows: it passes while the device is away.
    const expiring = api.commands.create(DEVICE, { type: 'ping', timeoutMs: 100 }, 'test');
    await until(() => events.get({ event: 'delivered' }) === 1, 15_000, 'the first delivery');
    const waiting = api.commands.create(DEVICE, { type: 'ping', timeoutMs: 600_000 }, 'test');
    await until(() => events.get({ event: 'delivered' }) === 2, 15_000, 'the second delivery');
    await first.kill();
    await until(() => fx.gateway.connectedDevices === 0, 15_000, 'the disconnect');
    expect(first.deliveries(expiring.id) + first.deliveries(waiting.id)).toBe(0);
    // The gateway's poll records the timeout; the session still holds both, unacknowledged.
    await until(() => api.commands.get(expiring.id)?.state === 'timed_out', 15_000, 'the timeout');

    const { count, sub: again } = await deliveriesOnReconnect(creds, true, expiring.id);
    expect(count, again.lines.join('\n')).toBe(0);
    expect(again.deliveries(expiring.id)).toBe(0);
    // Everything sent at the reconnect precedes the marker, which has arrived.
    expect(again.deliveries(waiting.id), again.lines.join('\n')).toBe(1);
    expect(events.get({ event: 'session_suppressed' })).toBe(1);
    expect(events.get({ event: 'session_resent' })).toBe(1);
    expect(api.commands.get(expiring.id)).toMatchObject({ state: 'timed_out', deliveryCount: 1, result: undefined });
    expect(api.commands.get(waiting.id)).toMatchObject({ state: 'delivered', deliveryCount: 2 });

    // Dropped from the session, not only skipped once: the next reconnect (after the PUBACKs)
    // gets the unanswered command from the gateway, and the timed-out one from nobody.
    await again.kill();
    await until(() => fx.gateway.connectedDevices === 0, 15_000, 'the disconnect');
    const third = await deliveriesOnReconnect(creds, true, expiring.id);
    expect(third.count).toBe(0);
    expect(third.sub.deliveries(waiting.id)).toBe(1);
    expect(events.get({ event: 'session_suppressed' })).toBe(1);
    expect(api.commands.get(expiring.id)?.state).toBe('timed_out');
  });

  it('persistent session dropped before its PUBACK, gateway restarted (the in-memory session is gone): the command arrives once', async () => {
    const creds = fx.addDevice(DEVICE, 'pat-once');
    const id = await dropWithoutAnswering(creds, true, 'before_puback');
    api.close();
    await fx.close();
    fx = await startLifecycleGateway(bus, { pollIntervalMs: 100 }, fx.dataDir);
    api = new DeviceRegistry(fx.registryPath);
    const { count } = await deliveriesOnReconnect(creds, true, id);
    expect(count).toBe(1);
    expect(api.commands.get(id)).toMatchObject({ state: 'delivered', deliveryCount: 2 });
  });
});
