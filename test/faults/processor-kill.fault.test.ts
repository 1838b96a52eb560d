/**
 * The processor SIGKILLed in the middle of an extreme-bradycardia episode and started again: the
 * new process restores the open episode from the changelog and re-reads the uncommitted frames;
 * every point is stored, the episode is one alert (same id) that ends once, nothing is doubled.
 */
import { expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/wait.ts';
import { runFaultCase, storeCaughtUp } from './run-case.ts';

it('processor SIGKILLed mid-episode: the episode continues, nothing lost or doubled', async () => {
  const row = await runFaultCase({
    case: '3-processor-kill',
    fault: 'processor SIGKILLed mid-episode, restarted 3 s later',
    streamS: 60,
    inject: async (ctx) => {
      // Mid-episode: the first extreme_brady alert has reached the clinician, the episode is open.
      await waitFor('an open extreme_brady alert', () => ctx.clinician.alerts().find((a) => a.kind === 'extreme_brady' && !a.end), 60_000);
      await sleep(1500);
      ctx.injectedAtMs = Date.now();
      await ctx.stack.get('processor').stop('SIGKILL');
      await sleep(3000);
      await ctx.stack.start('processor');
      ctx.liftedAtMs = Date.now();
    },
    recovery: { of: 'store holds every point sent before the new processor started', caughtUp: (ctx, liftedAtMs) => storeCaughtUp(ctx, liftedAtMs) },
    extraChecks: (ctx, { raised }) => {
      const brady = [...raised.values()].filter((a) => a.kind === 'extreme_brady');
      ctx.checks.push({ name: 'each device\'s bradycardia episode is one alert that ended', ok: brady.length === ctx.devices.length && brady.every((a) => a.end !== undefined),
        detail: brady.map((a) => `${a.deviceId}: rev ${a.revision}${a.end ? ', ended' : ', open'}`).join('; ') });
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
