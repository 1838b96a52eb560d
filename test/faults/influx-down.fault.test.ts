/**
 * InfluxDB stopped for OUTAGE_S (60 s by default) while devices stream, then started again:
 * every point reaches the store afterwards (none lost, none doubled), and alerts keep reaching
 * the clinician while the store is down (the store never blocks detection).
 */
import { expect, it } from 'vitest';
import { sleep } from '../helpers/wait.ts';
import { OUTAGE_S, runFaultCase, storeCaughtUp } from './run-case.ts';
import { services } from './stack.ts';

it(`InfluxDB down ${OUTAGE_S} s: points complete afterwards, alerts flow meanwhile`, async () => {
  const row = await runFaultCase({
    case: '1-influx-down',
    fault: `InfluxDB stopped ${OUTAGE_S} s`,
    streamS: OUTAGE_S + 30,
    inject: async (ctx) => {
      await sleep(6_000);
      await services('stop', 'influxdb');
      ctx.injectedAtMs = Date.now();
      await sleep(OUTAGE_S * 1000);
      await services('start', 'influxdb');
      ctx.liftedAtMs = Date.now();
    },
    recovery: {
      of: 'store holds every point sent before the restart',
      caughtUp: (ctx, liftedAtMs) => storeCaughtUp(ctx, liftedAtMs),
    },
    extraChecks: (ctx) => {
      const during = ctx.clinician.events.filter((e) => e.atMs > ctx.injectedAtMs! && e.atMs < ctx.liftedAtMs! && e.alert.category === 'physiological');
      ctx.checks.push({ name: 'physiological alerts reached the clinician while InfluxDB was down', ok: during.length > 0,
        detail: `${during.length} alert events during the outage (${[...new Set(during.map((e) => e.alert.kind))].join(', ') || 'none'})` });
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
