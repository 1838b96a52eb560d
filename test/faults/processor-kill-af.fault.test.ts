/**
 * The processor SIGKILLed while each device's AF alarm is being timed (20 s into a 60 s episode,
 * before the 30 s criterion is met) and started again: the new process takes the AF detector's
 * pending state from the changelog (afib-replay.ts) and raises each AF alarm with the onset an
 * uninterrupted processor gives it — near the scripted start, not at the restart. Before issue 12
 * session 23 the successor started the 30 s over from the frames it re-read, so the onset came
 * 20 s or more late (and a shorter episode was not alarmed at all). Measured on this case
 * (05:40–05:47 UTC, 2026-12-06): with the change, onsets −3.4 to +7.7 s from the scripted start
 * over three runs (4 devices each, 2 of them ECG-only); with afib.ts as before, +21.4 to +23.0 s.
 */
import { expect, it } from 'vitest';
import { sleep } from '../helpers/wait.ts';
import { FAULTS_SPEED, runFaultCase, storeCaughtUp } from './run-case.ts';

/** Device time of the phases, ms: 30 s normal, 60 s AF, then normal to the end. */
const AF_START_MS = 30_000;
const AF_MS = 60_000;
/** The kill, device time into the AF (before its 30 s criterion): ms. */
const KILL_INTO_AF_MS = 20_000;

it('processor SIGKILLed while the AF alarms are being timed: each is raised once, with its onset near the scripted start', async () => {
  const row = await runFaultCase({
    case: '3c-processor-kill-af',
    fault: 'processor SIGKILLed 20 s into an AF episode (its 30 s criterion running), restarted 3 s later',
    streamS: 60,
    phases: (deviceMs) => [
      { kind: 'normal', durationMs: AF_START_MS },
      // 110/min: AF clearly irregular from its first windows whatever the simulator draws for its irregularity
      // (afib-rr.ts; at its mild end and a slow rate even an uninterrupted processor may date it later).
      { kind: 'afib', durationMs: AF_MS, hrBpm: 110 },
      { kind: 'normal', durationMs: deviceMs - AF_START_MS - AF_MS },
    ],
    inject: async (ctx) => {
      await sleep((AF_START_MS + KILL_INTO_AF_MS) / FAULTS_SPEED - (Date.now() - ctx.startedAtMs));
      ctx.injectedAtMs = Date.now();
      ctx.notes.push(`killed ${((ctx.injectedAtMs - ctx.startedAtMs) * FAULTS_SPEED / 1000 - AF_START_MS / 1000).toFixed(1)} s (device time) into the AF`);
      await ctx.stack.get('processor').stop('SIGKILL');
      await sleep(3000);
      await ctx.stack.start('processor');
      ctx.liftedAtMs = Date.now();
    },
    recovery: { of: 'store holds every point sent before the new processor started', caughtUp: (ctx, liftedAtMs) => storeCaughtUp(ctx, liftedAtMs) },
    extraChecks: (ctx, { raised, summary }) => {
      const af = [...raised.values()].filter((a) => a.kind === 'afib');
      const onsetOff = ctx.devices.map((d) => {
        const scripted = summary.episodes.find((e) => e.deviceId === d.deviceId && e.kind === 'afib');
        const alerts = af.filter((a) => a.deviceId === d.deviceId);
        return { deviceId: d.deviceId, alerts: alerts.length, offS: scripted && alerts[0] ? (Date.parse(alerts[0].onset) - scripted.onsetMs) / 1000 : null };
      });
      // An uninterrupted processor dates the onset a few beats after the scripted start (the first
      // irregular 8-beat windows; ECG-only devices ≈ 1 s more); a successor that started the 30 s
      // over dated it at or after the restart, ≥ 20 s late.
      ctx.checks.push({
        name: 'each device\'s AF episode is one alert, its onset within 15 s of the scripted start (the kill was 20 s in)',
        ok: onsetOff.every((o) => o.alerts === 1 && o.offS !== null && Math.abs(o.offS) <= 15),
        detail: onsetOff.map((o) => `${o.deviceId}: ${o.alerts} alert(s), onset ${o.offS === null ? '–' : `${o.offS.toFixed(1)} s`} from the scripted start`).join('; '),
      });
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
