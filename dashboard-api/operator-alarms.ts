/**
 * The operator alarms the dashboard API reports in /healthz (contracts/operator-alarm.ts): the
 * operator-alarm stream folded into memory, latest record per source. An infrastructure gap the
 * processor detected (telemetry not reaching it; patient signal-loss alarms held) shows there as
 * `status: "degraded"` with the alarm, and in /metrics as `pb_dashboard_operator_alarms_active`.
 * One alarm is the API's own: `processor_silent`, no processor heartbeat for PROCESSOR_SILENT_MS
 * (contracts/processor-heartbeat.ts) — a processor that is down cannot report itself, and a bus
 * that is down stops its beats reaching this API too (session 32: /healthz said "ok" through a
 * processor crash and a Kafka outage). The board shows it to clinicians (web/app.js).
 *
 * Another is `clock_skew`: a processor's or gateway's wall clock disagrees with this API's by more
 * than {@link CLOCK_SKEW_ALARM_MS}. Both beat with their clock (`atMs`: processor heartbeats, and
 * the gateway heartbeat every liveness flush on `pb.device-liveness.v1`); a processor behind stamps
 * alerts' `updatedAt` in the past, so a `GET /v1/alerts?since=` poller misses them, and device
 * clock skew is measured against the gateway's clock. Each fresh beat gives `lag` = when it was
 * folded here (this API's clock) − `atMs` = bus delay − their offset; the delay is never negative,
 * so the smallest lag of the last {@link CLOCK_SKEW_BEATS} beats estimates −offset with the delay
 * mostly cancelled. Raised when every one of those beats is more than the threshold late (behind;
 * or every beat took that long, which is said too) or early (ahead: no delay explains that);
 * cleared when the smallest lag is back within the threshold (one prompt beat proves a clock no
 * longer behind; an ahead alarm waits until its early beats left the window). Only fresh beats
 * are judged: not the replay of the compacted topic at start (old beats look hours late), and not
 * a beat that arrived sooner after its predecessor than it was sent after it (a burst: a backlog
 * or a re-read), less {@link CLOCK_PACING_TOLERANCE_MS}.
 *
 * A processor's own alarm (source `processor/<instance>`) is reported only while that instance is
 * heard: one that crashed during an infrastructure gap never publishes `cleared`, and its record
 * stayed `active` on the compacted stream, so /healthz said `degraded` for good (found in session
 * 33 on a broker that had seen a killed processor). Its streams pass to another processor, which
 * raises its own alarm if the gap is still there; if none runs, `processor_silent` says so.
 */
import { randomUUID } from 'node:crypto';
import { isOperatorAlarmRecord, type OperatorAlarmRecord } from '../contracts/operator-alarm.ts';
import { isProcessorHeartbeat, PROCESSOR_SILENT_MS } from '../contracts/processor-heartbeat.ts';
import { STREAMS } from '../contracts/topics.ts';
import { BusFollower, type Bus } from '../platform/bus/index.ts';
import { DEVICE_LIVENESS_STREAM, GATEWAY_HEARTBEAT_KEY_PREFIX, isGatewayHeartbeat } from '../platform/registry/liveness-bus.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';

/**
 * A clock further than this from the API's raises `clock_skew`, ms. A healthy bus delivers a beat
 * well below 1 s after it was sent and the estimate takes the fastest of several, so 3 s leaves
 * room for a slow moment of the bus or this API without a false alarm; NTP keeps hosts within
 * milliseconds, so a disagreement of seconds is a broken clock, and a processor that far behind
 * hides up to that much of its updates from a `?since=` poller.
 */
export const CLOCK_SKEW_ALARM_MS = 3000;
/** The beats judged together (the latest fresh ones): ~10 s of a processor's, ~5 s of a gateway's. */
export const CLOCK_SKEW_BEATS = 5;
/** A beat that arrived this much sooner after its predecessor than it was sent after it is not judged, ms. */
export const CLOCK_PACING_TOLERANCE_MS = 1500;
/** An instance not heard for this long is forgotten (and its `clock_skew` cleared), ms. */
export const CLOCK_PEER_GONE_MS = PROCESSOR_SILENT_MS;

type ClockComponent = 'processor' | 'gateway';

interface PeerClock {
  component: ClockComponent;
  instance: string;
  /** The latest beat: the sender's clock, and when it was folded here (this API's clock). */
  lastAtMs: number;
  lastHeardMs: number;
  /** The latest fresh beats, oldest first, at most CLOCK_SKEW_BEATS: heard here − atMs. */
  window: { heardMs: number; lagMs: number }[];
  alarm?: { sinceMs: number; offsetMs: number };
}

const seconds = (ms: number) => `${(Math.abs(ms) / 1000).toFixed(1)} s`;

function clockSkewReason(p: PeerClock, offsetMs: number): string {
  const who = `${p.component} ${p.instance}`;
  const effect = p.component === 'processor'
    ? offsetMs < 0
      ? `the alerts it updates carry times ${seconds(offsetMs)} in the past, so GET /v1/alerts?since= pollers miss them`
      : `the alerts it updates carry times ${seconds(offsetMs)} in the future`
    : `every device on it shows that much clock skew too, and the times it records are off by as much`;
  return offsetMs < 0
    ? `${who}'s clock is ${seconds(offsetMs)} behind this dashboard API's (its last ${CLOCK_SKEW_BEATS} heartbeats; or every one took that long to arrive): ${effect}; check NTP on both hosts`
    : `${who}'s clock is ${seconds(offsetMs)} ahead of this dashboard API's (its last ${CLOCK_SKEW_BEATS} heartbeats): ${effect}; check NTP on both hosts`;
}

export interface OperatorAlarmBoard {
  active(): OperatorAlarmRecord[];
  close(): Promise<void>;
}

export async function openOperatorAlarmBoard(o: { bus: Bus; logger: Logger; metrics: MetricsRegistry; now?: () => number }): Promise<OperatorAlarmBoard> {
  const now = o.now ?? Date.now;
  const latest = new Map<string, OperatorAlarmRecord>();
  const gauge = o.metrics.gauge('pb_dashboard_operator_alarms_active', 'Active operator alarms (e.g. infrastructure gaps the processor reported, no processor heartbeat, a clock off)');
  const startedMs = now();
  /** When this API last folded a processor heartbeat (its own clock: no skew between hosts). */
  let processorHeardMs: number | undefined;
  /** When this API last folded each processor instance's heartbeat (replayed ones count from now, as above). */
  const instanceHeardMs = new Map<string, number>();
  /** Sources of active alarms not reported because their processor is gone (logged once each). */
  const orphansLogged = new Set<string>();
  let silentLogged = false;
  const clocks = new Map<string, PeerClock>();
  const offsetGauge = o.metrics.gauge('pb_dashboard_clock_offset_seconds', `Estimated wall-clock offset of each processor and gateway heard recently from this API's clock, from their heartbeats (theirs minus ours); beyond ${CLOCK_SKEW_ALARM_MS / 1000} s either way, sustained, the operator alarm clock_skew is raised`);
  /** Folds one beat; `judge` false for the replay at start. Raises or clears the instance's clock_skew. */
  const observeClock = (component: ClockComponent, instance: string, atMs: number, judge: boolean) => {
    const heardMs = now();
    const key = `${component}/${instance}`;
    const p = clocks.get(key);
    if (!p) {
      // The first beat has no predecessor to tell a fresh one from a late one: not judged.
      clocks.set(key, { component, instance, lastAtMs: atMs, lastHeardMs: heardMs, window: [] });
      return;
    }
    const fresh = judge && heardMs - p.lastHeardMs >= atMs - p.lastAtMs - CLOCK_PACING_TOLERANCE_MS;
    p.lastAtMs = atMs;
    p.lastHeardMs = heardMs;
    if (!fresh) return;
    p.window.push({ heardMs, lagMs: heardMs - atMs });
    if (p.window.length > CLOCK_SKEW_BEATS) p.window.shift();
    if (p.window.length < CLOCK_SKEW_BEATS) return;
    const lags = p.window.map((b) => b.lagMs);
    const minLag = Math.min(...lags);
    const offsetMs = -minLag;
    if (!p.alarm) {
      const behind = minLag > CLOCK_SKEW_ALARM_MS;
      const ahead = Math.max(...lags) < -CLOCK_SKEW_ALARM_MS;
      if (!behind && !ahead) return;
      p.alarm = { sinceMs: p.window[0]!.heardMs, offsetMs };
      o.logger.error(`OPERATOR ALARM: ${clockSkewReason(p, offsetMs)}`, { component, instance, offsetMs });
    } else if (Math.abs(minLag) <= CLOCK_SKEW_ALARM_MS) {
      p.alarm = undefined;
      o.logger.warn(`operator alarm cleared: ${component} ${instance}'s clock agrees with this dashboard API's again (${offsetMs >= 0 ? '+' : '-'}${seconds(offsetMs)})`, { component, instance, offsetMs });
    } else {
      p.alarm.offsetMs = offsetMs;
    }
  };
  /** The active clock_skew alarms; forgets instances no longer heard. */
  const clockSkews = (): OperatorAlarmRecord[] => {
    const at = now();
    const alarms: OperatorAlarmRecord[] = [];
    offsetGauge.series.clear();
    for (const [key, p] of clocks) {
      if (at - p.lastHeardMs > CLOCK_PEER_GONE_MS) {
        clocks.delete(key);
        if (p.alarm) o.logger.warn(`operator alarm cleared: ${p.component} ${p.instance} is no longer heard, so its clock is no longer compared`, { component: p.component, instance: p.instance });
        continue;
      }
      if (p.window.length > 0) offsetGauge.set({ component: p.component, instance: p.instance }, -Math.min(...p.window.map((b) => b.lagMs)) / 1000);
      if (!p.alarm) continue;
      alarms.push({
        schema: 'pb.operator-alarm.v1', source: 'dashboard-api', kind: 'clock_skew', state: 'active', sinceMs: p.alarm.sinceMs, atMs: at,
        streams: [], streamCount: 0, gateways: p.component === 'gateway' ? [p.instance] : [], reason: clockSkewReason(p, p.alarm.offsetMs),
        clock: { component: p.component, instance: p.instance, offsetMs: p.alarm.offsetMs },
      });
    }
    return alarms;
  };
  const follower = await BusFollower.open({
    bus: o.bus,
    stream: { name: STREAMS.operatorAlarms, partitions: 1, compacted: true },
    logger: o.logger,
    onMessage: (value) => {
      if (!isOperatorAlarmRecord(value)) return;
      latest.set(value.source, value);
    },
  });
  /** False while BusFollower.open replays the compacted topic: those beats are old, not late. */
  let beatsLive = false;
  const beats = await BusFollower.open({
    bus: o.bus,
    stream: { name: STREAMS.processorHeartbeats, partitions: 1, compacted: true },
    logger: o.logger,
    onMessage: (value) => {
      // The replay at start folds old beats too: they count from now, so a processor that stopped
      // long ago shows as silent PROCESSOR_SILENT_MS after this API started, not at once.
      if (!isProcessorHeartbeat(value)) return;
      processorHeardMs = now();
      instanceHeardMs.set(value.instanceId, processorHeardMs);
      observeClock('processor', value.instanceId, value.atMs, beatsLive);
    },
  });
  beatsLive = true;
  // Gateway heartbeats ride on the liveness stream with every device's rows: read from now on only
  // (no replay of the rows; this API's registry folds them already), and parse only the heartbeats.
  await o.bus.ensureStreams([{ name: DEVICE_LIVENESS_STREAM, partitions: 1, compacted: true }]);
  const gatewayBeats = await o.bus.subscribe(DEVICE_LIVENESS_STREAM, {
    groupId: `pb-dashboard-clocks-${randomUUID()}`,
    ephemeralGroup: true,
    fromBeginning: false,
    onBatch: async (batch) => {
      for (const m of batch) {
        if (!m.key.startsWith(GATEWAY_HEARTBEAT_KEY_PREFIX)) continue;
        let value: unknown;
        try { value = JSON.parse(m.value.toString()); } catch { continue; }
        if (isGatewayHeartbeat(value)) observeClock('gateway', value.gatewayId, value.atMs, true);
      }
    },
  });
  /** No processor beat for PROCESSOR_SILENT_MS (counted from this API's start when none ever came). */
  const processorSilent = (): OperatorAlarmRecord | undefined => {
    const sinceMs = processorHeardMs ?? startedMs;
    const at = now();
    if (at - sinceMs <= PROCESSOR_SILENT_MS) {
      if (silentLogged) o.logger.warn('operator alarm cleared: a processor heartbeat arrived, alarms are evaluated again');
      silentLogged = false;
      return undefined;
    }
    const reason = processorHeardMs === undefined
      ? `no processor has sent a heartbeat since this API started ${Math.round((at - sinceMs) / 1000)} s ago: no alarm is being evaluated (no processor running, or the bus unreachable)`
      : `no processor heartbeat for ${Math.round((at - sinceMs) / 1000)} s: no alarm is being evaluated (the processors are down, or the bus is unreachable)`;
    if (!silentLogged) o.logger.error(`OPERATOR ALARM: ${reason}`);
    silentLogged = true;
    return { schema: 'pb.operator-alarm.v1', source: 'dashboard-api', kind: 'processor_silent', state: 'active', sinceMs, atMs: at, streams: [], streamCount: 0, gateways: [], reason };
  };
  /** An active alarm a processor published and can no longer clear: it has not beaten for PROCESSOR_SILENT_MS. */
  const orphaned = (r: OperatorAlarmRecord): boolean => {
    if (!r.source.startsWith('processor/')) return false;
    const instance = r.source.slice('processor/'.length);
    const heardMs = instanceHeardMs.get(instance) ?? startedMs;
    const gone = now() - heardMs > PROCESSOR_SILENT_MS;
    if (gone && !orphansLogged.has(r.source)) {
      orphansLogged.add(r.source);
      o.logger.warn(`operator alarm no longer reported: ${r.kind} of ${r.source}, whose processor has not sent a heartbeat for ${Math.round(PROCESSOR_SILENT_MS / 1000)} s (stopped or crashed without clearing it); its streams pass to another processor, which raises its own alarm if the cause is still there`, { source: r.source, kind: r.kind, sinceMs: r.sinceMs });
    } else if (!gone) {
      orphansLogged.delete(r.source);
    }
    return gone;
  };
  const active = () => {
    const silent = processorSilent();
    const all = [...clockSkews(), ...[...latest.values()].filter((r) => r.state === 'active' && !orphaned(r))];
    return silent ? [silent, ...all] : all;
  };
  // Silence is the absence of messages: the gauge (and the log line) follow the clock, not the stream.
  gauge.set({}, active().length);
  const collect = setInterval(() => gauge.set({}, active().length), 1000);
  collect.unref();
  return {
    active: () => {
      const list = active();
      gauge.set({}, list.length);
      return list;
    },
    close: async () => {
      clearInterval(collect);
      await Promise.all([follower.close(), beats.close(), gatewayBeats.stop()]);
    },
  };
}
