/**
 * Restart safety (issue 4 §5): a processor killed in the middle of an episode, after it published
 * its outputs for the last batch but before the bus committed that batch, is replaced by a fresh
 * one. The episode must be neither lost nor raised twice, and its end must be the one an
 * uninterrupted processor finds. Runs on the in-process bus and, when it is up, on Kafka.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import type { TimedBeat } from '../../device-sim/frames.ts';
import { createPrng, uniform } from '../../device-sim/prng.ts';
import { KafkaBus } from '../../platform/bus/index.ts';
import type { Bus } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { STREAM_PARTITIONS } from '../../platform/adapters.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../helpers/services.ts';
import { beats, CrashingBus, frames, messages, startHarness, T0, until, type Harness } from './helpers.ts';

/**
 * Extreme bradycardia from 20 s to 54 s, normal after; its bradycardia alert opens 30 s in
 * (sudden-onset alarm delay, issue 12) and its end (54 s) is final after the 2 min off-delay (174 s).
 */
const BRADY: TelemetryFrame[] = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 20 }, { rrMs: 800, count: 200 }]), 215_000);
/** Bradycardia (45 bpm, not extreme) from 21.3 s lasting 28 s, just short of the 30 s sudden-onset delay: no brady alarm. */
const BRADY_SHORT: TelemetryFrame[] = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1333, count: 21 }, { rrMs: 800, count: 40 }]), 82_000);
/** Extreme bradycardia from 20 s to 88 s: its bradycardia alert is open from ≈ 50 s (end final at ≈ 208 s). */
const BRADY_LONG: TelemetryFrame[] = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 40 }, { rrMs: 800, count: 200 }]), 255_000);

/** An ECG-only device (250 Hz ECG, no beats in the frames: the processor detects them): 45 bpm from 21.3 s for 45 s, brady raised 30 s into it (sudden onset), ended ≈ 66 s (final ≈ 186 s). */
const BRADY_ECG_ONLY: TelemetryFrame[] = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1333, count: 34 }, { rrMs: 800, count: 170 }]), 201_000, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));

/** 60 bpm, no beat for 12 s from 20 s (asystole raised 4 s in, ended at 32 s), then 60 bpm: firmware beats. */
const ASYSTOLE: TelemetryFrame[] = frames(beats(T0, [{ rrMs: 1000, count: 20 }, { rrMs: 12_000, count: 1 }, { rrMs: 1000, count: 40 }]), 72_000);
/** The same from an ECG-only device (the processor detects the beats in its 250 Hz ECG). */
const ASYSTOLE_ECG_ONLY: TelemetryFrame[] = frames(beats(T0, [{ rrMs: 1000, count: 20 }, { rrMs: 12_000, count: 1 }, { rrMs: 1000, count: 40 }]), 72_000, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));

/** 40 s sinus rhythm, then 150 s of AF-like RR (independent, uniform 300–900 ms: 100 bpm, CV 29 %), then 160 s sinus rhythm (the AF alarm's end is reported after its 2 min off-delay, afib.ts `offDelayMs`). */
function afLike(): TelemetryFrame[] {
  const list: TimedBeat[] = beats(T0, [{ rrMs: 800, count: 50 }]);
  let t = list.at(-1)!.tMs;
  const random = createPrng(20261125);
  while (t < T0 + 190_000) {
    t += Math.round(uniform(random, 300, 900));
    list.push({ tMs: t, cls: 'N' });
  }
  for (let i = 0; i < 200; i++) list.push({ tMs: (t += 800), cls: 'N' });
  return frames(list, t - T0 + 1000);
}

/** The final state of every alert, in device-time terms, keyed by id. */
function finals(snapshots: Alert[]): Map<string, Pick<Alert, 'kind' | 'onset' | 'end' | 'priority' | 'state'>> {
  const out = new Map<string, Pick<Alert, 'kind' | 'onset' | 'end' | 'priority' | 'state'>>();
  for (const a of snapshots) out.set(a.id, { kind: a.kind, onset: a.onset, end: a.end, priority: a.priority, state: a.state });
  return out;
}

/**
 * Collects every snapshot of one patient published by the given processor instances (on Kafka,
 * processors of other test files read the same telemetry topic and publish for it too).
 */
async function collectAlerts(bus: Bus, patientId: string, instances: readonly string[]) {
  const got: Alert[] = [];
  const sub = await bus.subscribe(STREAMS.alerts, {
    groupId: `restart-test-reader-${randomUUID()}`,
    fromBeginning: false,
    onBatch: async (batch) => {
      for (const m of batch) {
        const e = JSON.parse(m.value.toString()) as AlertEnvelope;
        if (e.source === 'processor' && e.alert.patientId === patientId && instances.includes(m.headers?.['pb-processor'] ?? '')) got.push(e.alert);
      }
    },
  });
  return { got, stop: () => sub.stop() };
}

interface RunOptions {
  makeBus: () => Promise<Bus>;
  frameList: TelemetryFrame[];
  /** Kinds whose episodes must all have ended (with their end published) when the run is complete. */
  kinds: string[];
  /** Kinds that must raise nothing, with and without the crash. */
  absent?: string[];
  /** Index of the last frame the first processor sees; it crashes after the batch holding it. */
  crashAt?: number;
  /** The first processor's frames are published in two parts, the second from this index (one batch). */
  secondPartFrom?: number;
  groupId: string;
  patientId: string;
}

/**
 * Sends the frames through one processor, or two with a crash in between; returns the processor
 * snapshots of the patient. Progress is judged on this patient's data only (on Kafka, other test
 * files may stream other patients through the same topics).
 */
async function run(o: RunOptions): Promise<Alert[]> {
  const inner = await o.makeBus();
  const bus = new CrashingBus(inner);
  const instances = [`${o.groupId}-a`, `${o.groupId}-b`];
  const reader = await collectAlerts(inner, o.patientId, instances);
  const common = { bus, groupId: o.groupId, fromBeginning: false, lifecycle: { escalationDelaysMs: [] as number[] } };
  /** Whether a processor stored the heart rate of frame `i` (frames are analysed in order). */
  const stored = async (h: Harness, i: number) => {
    if (o.frameList[i]!.beats.length === 0 && o.frameList[i]!.ecg) {
      // ECG-only: the processor stores the beats it detects, ≤ ~3 s behind the frames (ecg-beats.ts).
      const endMs = o.frameList[i]!.ts + o.frameList[i]!.durMs;
      return (await h.store.queryHeartRate(o.patientId, endMs - 5000, endMs + 1)).length > 0;
    }
    const f = o.frameList.slice(0, i + 1).filter((x) => x.beats.some((b) => b.rr > 0)).at(-1)!;
    const points = await h.store.queryHeartRate(o.patientId, f.ts, f.ts + f.durMs + 1);
    return points.some((p) => p.timeMs === f.ts + f.durMs);
  };
  const first = await startHarness({ ...common, bus, instanceId: instances[0]! });
  const split = o.crashAt === undefined ? o.frameList.length : o.crashAt + 1;
  const lastSeq = o.frameList[split - 1]!.seq;
  bus.crashAfter = o.crashAt === undefined ? undefined : (batch) => batch.some((m) => {
    const r = JSON.parse(m.value.toString()) as { patientId: string; frame: { seq: number } };
    return r.patientId === o.patientId && r.frame.seq === lastSeq;
  });
  const parts = o.secondPartFrom !== undefined && o.crashAt !== undefined ? [o.secondPartFrom, split] : [split];
  for (let from = 0, i = 0; i < parts.length; from = parts[i++]!) {
    await inner.publish(STREAMS.telemetry, messages(o.frameList.slice(from, parts[i]), o.patientId, 'dev-1'));
    await until('the first processor to take the part', () => stored(first, parts[i]! - 1), 60_000);
  }
  await until('the first processor to crash', () => o.crashAt === undefined || bus.crashed, 60_000);
  await first.processor.settled();
  let last = first;
  if (o.crashAt !== undefined) {
    await first.stop();
    bus.crashed = false;
    bus.crashAfter = undefined;
    last = await startHarness({ ...common, bus, instanceId: instances[1]! });
    // The second processor gets the uncommitted batch again, plus the rest.
    await inner.publish(STREAMS.telemetry, messages(o.frameList.slice(split), o.patientId, 'dev-1'));
  }
  await until('the last frame to be analysed', () => stored(last, o.frameList.length - 1), 60_000);
  await until('every episode to be published with its end', () => o.kinds.every((k) => reader.got.some((a) => a.kind === k && a.end !== undefined)), 60_000).catch((err: Error) => {
    // Say what was published (diagnosis of a run that never completes).
    throw new Error(`${err.message} (${o.groupId}, crash after frame ${o.crashAt ?? 'none'}; published: ${JSON.stringify(reader.got.map((a) => [a.kind, a.onset, a.end ?? null, a.revision]))})`);
  });
  await last.processor.settled();
  await last.stop();
  await reader.stop();
  await inner.close();
  return reader.got;
}

function restartSuite(makeBus: () => Promise<Bus>) {
  const cases: { name: string; frameList: TelemetryFrame[]; crashAt: number; secondPartFrom?: number; kinds: string[]; absent?: string[] }[] = [
    // The bradycardia's 30 s alarm delay (sudden onset) is still running at these crashes: the
    // changelog's pending run lets the next processor raise the brady at the same device time,
    // with the same back-dated onset — crash 25 s into the run (re-delivered: the batch from 40 s),
    // 1 s into it (before the sudden-onset test is decided; everything re-delivered) and 19 s into
    // it with the uncommitted batch starting inside the run.
    { name: 'an extreme bradycardia episode with its bradycardia alarm delay running (crash 25 s into it)', frameList: BRADY, crashAt: 44, kinds: ['extreme_brady', 'brady'] },
    { name: 'an extreme bradycardia episode with its bradycardia alarm delay running (crash at its first beat, before the sudden-onset test is decided; uncommitted batch from 18 s)', frameList: BRADY, secondPartFrom: 18, crashAt: 22, kinds: ['extreme_brady', 'brady'] },
    { name: 'an extreme bradycardia episode with its bradycardia alarm delay running (crash 19 s into it, uncommitted batch from 30 s)', frameList: BRADY, secondPartFrom: 30, crashAt: 38, kinds: ['extreme_brady', 'brady'] },
    // A run that ends 28 s in, just short of the delay: the next processor must not carry it on.
    { name: 'a bradycardia shorter than its alarm delay (crash 26 s into it), raising nothing', frameList: BRADY_SHORT, crashAt: 46, kinds: [], absent: ['brady'] },
    { name: 'an extreme bradycardia episode with its bradycardia alert open (crash 41 s into it)', frameList: BRADY_LONG, crashAt: 60, kinds: ['extreme_brady', 'brady'] },
    { name: 'an extreme bradycardia episode (crash after its end, before the end was confirmed)', frameList: BRADY, crashAt: 58, kinds: ['extreme_brady', 'brady'] },
    // The uncommitted batch holds the second half of the episode and its published end: the new
    // processor, re-analysing it from the middle, must not raise a second alert.
    { name: 'an extreme bradycardia episode (crash after a batch with its second half and its published end)', frameList: BRADY, secondPartFrom: 40, crashAt: 70, kinds: ['extreme_brady', 'brady'] },
    // The bradycardia's end waits for its 2 min off-delay (brady.ts): the changelog keeps the
    // ending episode, so the next processor ends it at the same beat instead of estimating it.
    { name: 'a bradycardia in its off-delay (crash 46 s after its end, uncommitted batch from 80 s)', frameList: BRADY, secondPartFrom: 80, crashAt: 100, kinds: ['extreme_brady', 'brady'] },
    { name: 'a bradycardia in its off-delay (crash 1 s before the off-delay ends)', frameList: BRADY, crashAt: 173, kinds: ['extreme_brady', 'brady'] },
    { name: 'an AF-like episode (crash 60 s into it)', frameList: afLike(), crashAt: 100, kinds: ['afib'] },
    // The 30 s AF criterion is being timed at the crash: the changelog keeps the AF detector's
    // inputs (afib-replay.ts), so the alarm comes at the same beat with the same onset (before
    // session 23 of issue 12: up to 35 s later, its onset dated at the successor's first beats).
    { name: 'an AF-like episode with its 30 s criterion being timed (crash 20 s into it, uncommitted batch from 15 s)', frameList: afLike(), secondPartFrom: 55, crashAt: 60, kinds: ['afib'] },
    // Beats detected in the processor: the changelog keeps the beat source's ECG while the delay
    // runs; the uncommitted batch (from 30 s) starts before the ECG it keeps (ecg-beats.ts).
    { name: 'a bradycardia of an ECG-only device with its alarm delay running (crash 23 s into it, uncommitted batch from 30 s)', frameList: BRADY_ECG_ONLY, secondPartFrom: 30, crashAt: 44, kinds: ['brady'], absent: ['extreme_brady'] },
    // An extreme bradycardia's run of 5 beats under 40/min half counted at the crash: the changelog
    // keeps the run (consecutive-rate.ts), so the high-priority alarm is not up to 5 beats late.
    { name: 'an extreme bradycardia 2 beats into its 5-beat run (uncommitted batch from 23 s)', frameList: BRADY, secondPartFrom: 23, crashAt: 24, kinds: ['extreme_brady', 'brady'] },
    // A silence running at the crash, its last beat in the committed part: the successor never sees
    // that beat. The changelog keeps the silence (≥ 2 s, silence.ts), so the asystole is raised at
    // the same device time (before issue 12 session 18 it came only with the next beat, 8 s later,
    // from the firmware's RR — and never, without firmware RR or a next beat).
    { name: 'a silence 3 s long, before its asystole alarm (uncommitted batch from 21 s, after the last beat)', frameList: ASYSTOLE, secondPartFrom: 21, crashAt: 22, kinds: ['asystole'], absent: ['pause'] },
    { name: 'a silence of an ECG-only device 3.5 s long, before its asystole alarm (uncommitted batch from 22 s)', frameList: ASYSTOLE_ECG_ONLY, secondPartFrom: 22, crashAt: 23, kinds: ['asystole'], absent: ['pause'] },
    { name: 'a bradycardia of an ECG-only device in its off-delay (crash 60 s after its end, uncommitted batch from 110 s)', frameList: BRADY_ECG_ONLY, secondPartFrom: 110, crashAt: 126, kinds: ['brady'], absent: ['extreme_brady'] },
  ];
  for (const c of cases) {
    it(`continues ${c.name}: one alert per episode with the end an uninterrupted processor finds`, async () => {
      const runId = randomUUID().slice(0, 8);
      const referenceSnapshots = await run({ makeBus, frameList: c.frameList, kinds: c.kinds, groupId: `ref-${runId}`, patientId: `ref-${runId}` });
      const reference = finals(referenceSnapshots);
      const restarted = await run({ makeBus, frameList: c.frameList, kinds: c.kinds, crashAt: c.crashAt, ...(c.secondPartFrom !== undefined ? { secondPartFrom: c.secondPartFrom } : {}), groupId: `crash-${runId}`, patientId: `crash-${runId}` });
      const after = finals(restarted);
      const view = (m: ReturnType<typeof finals>) => [...m.values()].filter((a) => c.kinds.includes(a.kind)).sort((a, b) => a.kind.localeCompare(b.kind));
      expect(view(reference).map((a) => a.kind).sort()).toEqual([...c.kinds].sort());
      expect(view(reference).every((a) => a.end !== undefined)).toBe(true);
      expect(view(after)).toEqual(view(reference));
      // Raised with the same evidence (beats counted, rate): at the same beat, not one delay later.
      const raisedEvidence = (list: Alert[]) => c.kinds.map((kind) => list.find((a) => a.kind === kind && a.revision === 1)?.evidence);
      expect(raisedEvidence(restarted)).toEqual(raisedEvidence(referenceSnapshots));
      for (const kind of c.absent ?? []) expect([...reference.values(), ...after.values()].filter((a) => a.kind === kind)).toEqual([]);
      // Every snapshot of a kind carries one id: nothing raised twice.
      for (const kind of c.kinds) expect(new Set(restarted.filter((a) => a.kind === kind).map((a) => a.id)).size).toBe(1);
    }, 120_000);
  }
}

describe('restart safety on the in-process bus', () => {
  // Batches of at most 40 frames: a crash leaves one uncommitted batch behind, as on Kafka.
  restartSuite(async () => new InProcessBus({ maxBatch: 40 }));
});

await describeWithService('restart safety on Kafka', kafkaAvailable, () => {
  restartSuite(async () => {
    const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: `restart-test-${randomUUID().slice(0, 8)}`, logger: silentLogger });
    await bus.ensureStreams(STREAM_PARTITIONS);
    return bus;
  });
});
