/**
 * dashboard-api SIGKILLed and restarted on the same port mid-episode: the clinician's page
 * reconnects with the last event id it saw and gets everything it missed, nothing twice.
 */
import { expect, it } from 'vitest';
import { sleep, waitFor } from '../helpers/wait.ts';
import { latestById } from './ledger.ts';
import { runFaultCase } from './run-case.ts';

it('dashboard-api restarted: the clinician resumes with nothing missed', async () => {
  let connectsBefore = 0;
  const row = await runFaultCase({
    case: '5-dashboard-restart',
    fault: 'dashboard-api SIGKILLed mid-episode, restarted 3 s later',
    streamS: 60,
    inject: async (ctx) => {
      await waitFor('an open extreme_brady alert', () => ctx.clinician.alerts().find((a) => a.kind === 'extreme_brady' && !a.end), 60_000);
      connectsBefore = ctx.clinician.connects;
      ctx.injectedAtMs = Date.now();
      await ctx.stack.get('dashboard-api').stop('SIGKILL');
      await sleep(3000);
      await ctx.stack.start('dashboard-api');
      ctx.liftedAtMs = Date.now();
    },
    recovery: {
      of: 'the clinician reconnected and holds every alert raised before the restart',
      caughtUp: async (ctx) => ctx.clinician.connects > connectsBefore,
    },
    extraChecks: (ctx) => {
      const ids = ctx.clinician.events.map((e) => e.eventId);
      const repeated = ids.length - new Set(ids).size;
      ctx.checks.push({ name: 'the clinician reconnected on its own', ok: ctx.clinician.connects > connectsBefore, detail: `${ctx.clinician.connects} connections` });
      ctx.checks.push({ name: 'no event delivered twice across the reconnect, no gap', ok: repeated === 0 && ctx.clinician.gaps === 0, detail: `${repeated} repeated event ids, ${ctx.clinician.gaps} gaps` });
      ctx.notes.push(`clinician saw ${ids.length} alert events, ${latestById(ctx.clinician.alerts()).size} alerts`);
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
