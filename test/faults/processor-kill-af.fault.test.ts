/**
 * The processor SIGKILLed while each device's AF alarm is being timed (20 s into a 60 s episode,
 * before the 30 s criterion is met) and started again: the new process takes the AF detector's
 * pending state from the changelog (afib-replay.ts) and raises each AF alarm as an uninterrupted
 * processor raises it — the same onset, not one at the restart. The uninterrupted processor is
 * the same devices' frames rebuilt from the run's seed and replayed offline
 * (eval/sim-device-replay.ts). Before issue 12 session 23 the successor started the 30 s over from
 * the frames it re-read, so the onset came 20 s or more late (+21.4 to +23.0 s in three runs), and
 * a shorter episode was not alarmed at all. Over 13 runs (sessions 23–24, 52 device episodes),
 * the 51 handed-over onsets all equalled the offline ones to 0.1 s. The failures of this case's
 * first check (onset within 15 s of the scripted start; 2 in 7 runs of session 23, 1 in 5 of
 * session 24) were not the hand-over: where checked (runs e4b32f, 8982a5) the uninterrupted onset
 * was itself late (+23.3 s, +16.2 s: mild AF), and in 8982a5 that device had been restored without
 * AF state (its stretch just dropped: onset 4 s later than uninterrupted), which afib.ts now keeps
 * (RECENT_IRREGULAR_WINDOWS). How often a restart changes the alarm, by its time into the AF:
 * `node bench/af-restart-sweep.ts`.
 */
import { expect, it } from 'vitest';
import { sleep } from '../helpers/wait.ts';
import { replaySimDevice } from '../../eval/sim-device-replay.ts';
import { ecgOnlyDevice, FAULTS_SPEED, runFaultCase, storeCaughtUp, type CaseContext, type Counted } from './run-case.ts';

/** Device time of the phases, ms: 30 s normal, 60 s AF, then normal to the end. */
const AF_START_MS = 30_000;
const AF_MS = 60_000;
/** The kill, device time into the AF (before its 30 s criterion): ms. */
const KILL_INTO_AF_MS = 20_000;

it('processor SIGKILLed while the AF alarms are being timed: each is raised as an uninterrupted processor raises it', async () => {
  // The oracle: the same devices replayed offline, uninterrupted, through the same detection
  // code (eval/sim-device-replay.ts rebuilds each device's frames from the run's seed): each
  // device's AF onsets. The scripted start is no oracle: the simulator draws each episode's
  // irregularity, and at its mild end an uninterrupted processor itself dates the AF 20 s or more
  // late (seed e4b32f, device d0: +23.3 s offline as on the stack — one of the two "failures" of
  // this case's first check, which compared with the scripted start), or finds none (seed d4b0e9,
  // device d3, session 29: its AF too regular for the criterion, with firmware beats as with ECG).
  let oracle: Promise<number[][]> | undefined;
  const uninterruptedAfOnsets = (ctx: CaseContext, { summary, scenario }: Counted) => (oracle ??= Promise.all(ctx.devices.map(async (d, index) => {
    const { changes } = await replaySimDevice({ deviceId: d.deviceId, index, runSeed: ctx.seed, staggerMs: 0, t0Ms: summary.t0Ms, devices: ctx.devices.length,
      scenario, speed: FAULTS_SPEED, durationMs: summary.durationMs, ecgOnly: ecgOnlyDevice(index), paced: false });
    return changes.filter((c) => c.kind === 'afib' && c.type === 'onset').map((c) => c.onsetMs);
  })));
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
    // An AF episode the uninterrupted processor does not alarm either is not the kill's to lose
    // (the next check still demands the same count: the stack must not alarm it either).
    alarmedWithoutFault: async (ctx, counted) => {
      const onsets = await uninterruptedAfOnsets(ctx, counted);
      return (e) => e.kind !== 'afib' || (onsets[ctx.devices.findIndex((d) => d.deviceId === e.deviceId)]?.length ?? 0) > 0;
    },
    // An AF alarm the uninterrupted processor raises with the same onset (within 1 s) is the
    // detector's dating, not the kill's (CI run of 2026-12-07, seed aeb051: an onset 27 s before the
    // scripted AF, raised offline as on the stack; since fixed in rr-irregularity.ts, and an early
    // onset is now ≈ 1 in 3000 offline episodes). The AF check below still demands the same onsets.
    raisedWithoutFault: async (ctx, counted) => {
      const onsets = await uninterruptedAfOnsets(ctx, counted);
      return (a) => a.kind === 'afib' && (onsets[ctx.devices.findIndex((d) => d.deviceId === a.deviceId)] ?? []).some((t) => Math.abs(t - a.onsetMs) <= 1000);
    },
    extraChecks: async (ctx, counted) => {
      const { raised, summary } = counted;
      const uninterrupted = await uninterruptedAfOnsets(ctx, counted);
      // Which streams the new processor restored with the AF detector's state (stream-table.ts logs it).
      const restored = ctx.stack.get('processor').logLines((l) => l.msg === 'stream restored from the changelog');
      const keptAf = (deviceId: string) => restored.some((l) => l.deviceId === deviceId && Array.isArray(l.pending) && l.pending.includes('afib'));
      const af = [...raised.values()].filter((a) => a.kind === 'afib');
      const rows = ctx.devices.map((d, i) => {
        const scripted = summary.episodes.find((e) => e.deviceId === d.deviceId && e.kind === 'afib');
        const onsets = af.filter((a) => a.deviceId === d.deviceId).map((a) => Date.parse(a.onset));
        const expected = uninterrupted[i]!;
        const kept = keptAf(d.deviceId);
        const offS = (ms: number | undefined) => (ms === undefined || !scripted ? '–' : `${((ms - scripted.onsetMs) / 1000).toFixed(1)} s`);
        return {
          kept,
          sameCount: onsets.length === expected.length,
          // One beat of slack for an ECG-only device, whose beats the successor detects again from
          // the re-read ECG (ecg-beats.ts); firmware beats give the same onset to the millisecond.
          sameOnsets: onsets.length === expected.length && onsets.every((t, k) => Math.abs(t - expected[k]!) <= 1000),
          text: `${d.deviceId.replace(/^.*-(d\d+)$/, '$1')}${kept ? '' : ' (restored without AF state)'}: ${onsets.length} alert(s), onset ${offS(onsets[0])} from the scripted start, uninterrupted ${offS(expected[0])}`,
        };
      });
      // A successor that started the 30 s over from the frames it re-read dated the onset at or
      // after the restart, ≥ 20 s late; one that lost the stretch raised nothing for a short episode.
      // Where the predecessor kept no AF state (no irregular window among its latest, afib.ts), the
      // successor starts from the frames it re-reads, and its onset may differ by up to a window
      // of beats (afib-replay.ts: measured offline): there only the alarm itself is checked.
      ctx.checks.push({
        name: 'AF alerts as an uninterrupted processor raises them: the same count on every device, the same onsets (within 1 s) where the AF state was handed over',
        ok: rows.every((r) => r.sameCount && (!r.kept || r.sameOnsets)),
        detail: rows.map((r) => r.text).join('; '),
      });
      // The case proves the hand-over of a running 30 s only where one ran at the kill.
      ctx.checks.push({
        name: 'the new processor took over the AF state of at least 2 of the 4 devices',
        ok: rows.filter((r) => r.kept).length >= 2,
        detail: `${rows.filter((r) => r.kept).length} of ${rows.length} devices`,
      });
    },
  });
  expect(row.checks.filter((c) => !c.ok)).toEqual([]);
});
