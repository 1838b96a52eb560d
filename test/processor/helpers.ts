/**
 * Helpers for processor tests: beat timelines → frames (the simulator's frame builder, as the
 * firmware would send them), telemetry records, a processor on the in-process bus with a manual
 * clock, and readers of what it published.
 */
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import type { BeatClass, TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { buildFrames, type FrameBuilderOptions, type TimedBeat } from '../../device-sim/frames.ts';
import type { Bus, BusMessage, ConsumedMessage, SubscribeOptions, Subscription } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { ManualClock } from '../../processor/clock.ts';
import { createProcessor, type Processor, type ProcessorOptions } from '../../processor/processor.ts';

export const T0 = Date.parse('2026-11-25T10:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();

/** A rhythm segment: `count` beats `rrMs` apart. */
export interface Segment { rrMs: number; count: number; cls?: BeatClass }

/** Beats of consecutive segments starting at `startMs` (first beat at startMs + first rr). */
export function beats(startMs: number, segments: Segment[]): TimedBeat[] {
  const out: TimedBeat[] = [];
  let t = startMs;
  for (const s of segments) {
    for (let i = 0; i < s.count; i++) {
      t += s.rrMs;
      out.push({ tMs: t, cls: s.cls ?? 'N' });
    }
  }
  return out;
}

/** 1 s frames over [t0, t0 + durationMs) for the given beats. */
export function frames(beatList: TimedBeat[], durationMs: number, options: Partial<FrameBuilderOptions> = {}): TelemetryFrame[] {
  return [...buildFrames(beatList, { t0Ms: T0, durationMs, battery: 80, ...options })];
}

export function record(frame: TelemetryFrame, patientId = 'p1', deviceId = 'd1'): TelemetryRecord {
  return { schema: 'pb.telemetry.v1', deviceId, patientId, format: 'json-v1', receivedAt: frame.ts + frame.durMs, frame };
}

export function messages(frameList: TelemetryFrame[], patientId = 'p1', deviceId = 'd1'): BusMessage[] {
  return frameList.map((f) => ({ key: patientId, value: Buffer.from(JSON.stringify(record(f, patientId, deviceId))) }));
}

/** Every processor snapshot on the alerts stream, in order. */
export function processorSnapshots(bus: InProcessBus): Alert[] {
  return bus.read(STREAMS.alerts)
    .map((m) => JSON.parse(m.value.toString()) as AlertEnvelope)
    .filter((e) => e.source === 'processor')
    .map((e) => e.alert);
}

/** Polls `probe` until it returns true (no timing assertion: the deadline only ends a hung test). */
export async function until(what: string, probe: () => boolean | Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Harness {
  bus: Bus;
  clock: ManualClock;
  metrics: MetricsRegistry;
  processor: Processor;
  store: SqliteVitalsStore;
  /** Publishes telemetry and waits until the processor has taken all of it in. */
  send(frameList: TelemetryFrame[], patientId?: string, deviceId?: string): Promise<void>;
  /** Publishes a clinician snapshot and waits until the processor has read it. */
  clinician(alert: Alert): Promise<void>;
  /** Moves the wall clock (in 1 s steps) and waits for the timer work it triggered. */
  advance(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** A started processor on `bus` (default: a new in-process bus) with a manual clock. */
export async function startHarness(options: Partial<ProcessorOptions> & { bus?: Bus; clock?: ManualClock; metrics?: MetricsRegistry } = {}): Promise<Harness> {
  const bus = options.bus ?? new InProcessBus();
  const clock = options.clock ?? new ManualClock(T0 + 3_600_000);
  const metrics = options.metrics ?? new MetricsRegistry();
  const store = new SqliteVitalsStore(':memory:');
  const processor = createProcessor({ store, logger: silentLogger, ...options, bus, clock, metrics });
  await processor.start();
  const taken = () => metrics.counter('pb_processor_frames_total', '').get() + metrics.counter('pb_processor_duplicate_frames_total', '').get();
  const clinicianRead = () => metrics.counter('pb_processor_clinician_snapshots_total', '').get();
  return {
    bus, clock, metrics, processor, store,
    async send(frameList, patientId = 'p1', deviceId = 'd1') {
      const target = taken() + frameList.length;
      await bus.publish(STREAMS.telemetry, messages(frameList, patientId, deviceId));
      await until('the processor to take the frames', () => taken() >= target);
      await processor.settled();
    },
    async clinician(alert) {
      const target = clinicianRead() + 1;
      const envelope: AlertEnvelope = { schema: 'pb.alert.v1', source: 'clinician', alert };
      await bus.publish(STREAMS.alerts, [{ key: alert.patientId, value: Buffer.from(JSON.stringify(envelope)) }]);
      await until('the processor to read the clinician snapshot', () => clinicianRead() >= target);
      await processor.settled();
    },
    async advance(ms) {
      // In 1 s steps, so timer work scheduled by earlier timers sees the time it was due at.
      for (let left = ms; left > 0; left -= 1000) {
        clock.advance(Math.min(1000, left));
        await processor.settled();
      }
    },
    async stop() {
      await processor.stop();
      await store.close();
    },
  };
}

/**
 * A Bus that simulates a processor crash (same port, no module mocks): once `crashAfter` matches
 * a telemetry batch, that batch is processed (outputs published) but its handler then fails, so
 * the bus never commits it; every later telemetry batch fails too. Stop the processor afterwards.
 */
export class CrashingBus implements Bus {
  readonly inner: Bus;
  crashed = false;
  crashAfter: ((batch: ConsumedMessage[]) => boolean) | undefined;

  constructor(inner: Bus) {
    this.inner = inner;
  }

  publish(stream: string, msgs: BusMessage[]): Promise<void> {
    return this.inner.publish(stream, msgs);
  }

  subscribe(stream: string, options: SubscribeOptions): Promise<Subscription> {
    // The crash is the detection consumer's; the store sink (its own group, processor/store-sink.ts)
    // commits on its own and is stopped with the processor.
    if (stream !== STREAMS.telemetry || options.groupId.endsWith('-store')) return this.inner.subscribe(stream, options);
    return this.inner.subscribe(stream, {
      ...options,
      onBatch: async (batch) => {
        if (this.crashed) throw new Error('test: the processor has crashed');
        await options.onBatch(batch);
        if (this.crashAfter?.(batch)) {
          this.crashed = true;
          throw new Error('test: crash before the commit');
        }
      },
    });
  }

  ensureStreams(streams: { name: string; partitions: number; compacted?: boolean }[]): Promise<void> {
    return this.inner.ensureStreams(streams);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
