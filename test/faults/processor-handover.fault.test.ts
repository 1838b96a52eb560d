/**
 * Two processor processes in one consumer group (they split the patients' partitions); one is
 * SIGKILLed in the middle of an extreme-bradycardia episode and NOT restarted: the broker hands
 * its partitions to the other after the session timeout (6 s here), which restores the open
 * episodes from the changelog. Every point stored, one alert per episode, nothing doubled.
 */
import { expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/wait.ts';
import { runFaultCase, storeCaughtUp } from './run-case.ts';

it('two processors, one SIGKILLed mid-episode: its partitions are handed over, nothing lost or doubled', async () => {
  const row = await runFaultCase({
    case: '3b-processor-handover',
    fault: 'one of two processors SIGKILLed mid-episode, not restarted (partition hand-over, session timeout 6 s)',
    streamS: 60,
    processors: 2,
    env: { KAFKA_SESSION_TIMEOUT_MS: '6000' },
    inject: async (ctx) => {
      await waitFor('an open extreme_brady alert', () => ctx.clinician.alerts().find((a) => a.kind === 'extreme_brady' && !a.end), 60_000);
      await sleep(1500);
      ctx.injectedAtMs = Date.now();
      await ctx.stack.get('processor').stop('SIGKILL');
      ctx.liftedAtMs = Date.now();
      ctx.notes.push('the survivor takes the partitions once the broker drops the killed member (session timeout)');
    },
    recovery: { of: 'store holds every point sent before the kill (the survivor took over)', caughtUp: (ctx, liftedAtMs) => storeCaughtUp(ctx, liftedAtMs) },
    extraChecks: (ctx, { raised }) => {
      const brady = [...raised.values()].filter((a) => a.kind === 'extreme_brady');
      ctx.checks.push({ name: 'each device\'s bradycardia episode is one alert that ended', ok: brady.length === ctx.devices.length && brady.every((a) => a.end !== undefined),
        detail: brady.map((a) => `${a.deviceId}: rev ${a.revision}${a.end ? ', ended' : ', open'}`).join('; ') });
      const survivor = ctx.stack.get('processor-b');
      ctx.checks.push({ name: 'the surviving processor is still running', ok: survivor.alive, detail: survivor.alive ? 'running' : 'exited' });
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
