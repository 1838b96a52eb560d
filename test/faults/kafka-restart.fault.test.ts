/**
 * The Kafka broker restarted mid-stream: the gateway holds PUBACKs while the bus cannot take a
 * frame, devices resend, and everything arrives exactly once downstream; the gap is an
 * infrastructure event, not a reason for patient signal-loss alarms.
 */
import { expect, it } from 'vitest';
import { sleep } from '../helpers/wait.ts';
import { runFaultCase, storeFlowingAfter } from './run-case.ts';
import { services } from './stack.ts';

it('Kafka broker restarted mid-stream: exactly once downstream, no patient signal_loss', async () => {
  let ackedBefore = 0;
  const row = await runFaultCase({
    case: '2-kafka-restart',
    fault: 'Kafka broker restarted mid-stream',
    streamS: 75,
    inject: async (ctx) => {
      await sleep(15_000);
      ackedBefore = ctx.sent.frames.size;
      ctx.injectedAtMs = Date.now();
      await services('stop', 'kafka');
      ctx.notes.push(`broker stopped (clean shutdown) in ${((Date.now() - ctx.injectedAtMs) / 1000).toFixed(1)} s, ${ackedBefore} frames produced by then`);
      await sleep(5_000);
      const t = Date.now();
      await services('start', 'kafka');
      ctx.liftedAtMs = Date.now();
      ctx.notes.push(`broker down ${((ctx.liftedAtMs - ctx.injectedAtMs) / 1000).toFixed(1)} s in all (restart took ${((ctx.liftedAtMs - t) / 1000).toFixed(1)} s)`);
    },
    recovery: {
      of: 'a frame produced after the restart is stored (end to end again)',
      caughtUp: (ctx, liftedAtMs) => storeFlowingAfter(ctx, liftedAtMs),
    },
    extraChecks: (ctx) => {
      for (const name of ['gateway', 'processor', 'dashboard-api', 'ehr-exporter']) {
        ctx.checks.push({ name: `${name} process survived the broker restart`, ok: ctx.stack.get(name).alive, detail: ctx.stack.get(name).alive ? 'running' : 'exited' });
      }
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
