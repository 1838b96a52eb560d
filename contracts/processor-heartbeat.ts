/**
 * A processor instance says it is alive and evaluating alarms (on `pb.processor-heartbeats.v1`,
 * compacted, keyed by instance). Without it nothing tells that alarms have stopped: the board's
 * live heart rate comes straight from telemetry and keeps moving while no processor runs, and the
 * processor's own operator alarms cannot be sent by a processor that is down. The dashboard API
 * raises the operator alarm `processor_silent` when no instance has beaten for
 * {@link PROCESSOR_SILENT_MS} (dashboard-api/operator-alarms.ts), which /healthz and the board show.
 */
export interface ProcessorHeartbeat {
  schema: 'pb.processor-heartbeat.v1';
  instanceId: string;
  /** The telemetry consumer group (one deployment). */
  groupId: string;
  /** Processor wall clock, ms since the epoch (the dashboard API compares it with its own: operator alarm `clock_skew`). */
  atMs: number;
}

/** How often a processor beats, ms. */
export const PROCESSOR_HEARTBEAT_MS = 2000;

/**
 * No beat from any processor for this long raises `processor_silent`, ms: several missed beats, so
 * a processor's pause for a long batch or a garbage collection does not raise it; short beside
 * the 30 s a crashed processor's partitions wait for the broker to hand them on.
 */
export const PROCESSOR_SILENT_MS = 15_000;

export function isProcessorHeartbeat(v: unknown): v is ProcessorHeartbeat {
  const h = v as Partial<ProcessorHeartbeat> | undefined;
  return h?.schema === 'pb.processor-heartbeat.v1' && typeof h.instanceId === 'string' && typeof h.atMs === 'number';
}
