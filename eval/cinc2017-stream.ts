/**
 * The CinC 2017 strips replayed as ECG-only devices through the production path: 1 s frames of
 * the strip's ECG (no beats) → the processor's beat source (processor/ecg-beats.ts
 * `detectThroughBeatSource`) → PatientStream with the production detectors — what
 * `pulsebridge sim replay --record …/cinc2017/A00005` does against a running processor, offline.
 *
 * The strip table of eval/af-generalisation.ts scores each strip's *measures* (no 30 s criterion:
 * most strips are 30 s long, shorter than the criterion plus the detectors' warm-up). This one
 * counts the *alarms* the streaming detectors raise on real handheld ECG, which no other table
 * here does: AF alarms on the strips long enough for the 30 s criterion, and every alarm raised on
 * strips without AF. The labels say nothing about VT, asystole or rate, so an alarm of those kinds
 * on an `N` strip (sinus rhythm, normal rate by the Challenge's definition) is unsupported by its
 * label; on `O` and `~` strips it is only counted.
 */
import type { AlertKind } from '../contracts/alert.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import type { Cinc2017Class, Cinc2017Strip } from './cinc2017.ts';
import { ecgSignalFrames, replayEcgFrames } from './qrs.ts';

/** One strip's alarms: onsets per kind, seconds from the strip's start. */
export interface StreamedStrip {
  name: string;
  label: Cinc2017Class;
  durationMs: number;
  onsetsS: Partial<Record<AlertKind, number[]>>;
}

/** Replays one strip as an ECG-only device through the production path (eval/qrs.ts, as mitdb's ECG-only replay). */
export function streamStrip(strip: Cinc2017Strip, detectors: Detector[]): StreamedStrip {
  const durationMs = Math.round((strip.uV.length * 1000) / strip.fsHz);
  const onsetsS: Partial<Record<AlertKind, number[]>> = {};
  for (const e of replayEcgFrames(strip.name, ecgSignalFrames(strip.uV, strip.fsHz, durationMs), durationMs, detectors)) {
    (onsetsS[e.kind] ??= []).push(Math.round(e.startMs / 100) / 10);
  }
  return { name: strip.name, label: strip.label, durationMs, onsetsS };
}

/** The strips long enough for an AF alarm: the 30 s criterion plus the detectors' warm-up (8-beat window, smoothing). */
export const AF_ALARMABLE_MS = 50_000;

/** Strips named per summary line. */
const LISTED = 20;

const CLASSES: readonly Cinc2017Class[] = ['N', 'A', 'O', '~'];
const KINDS: readonly AlertKind[] = ['afib', 'vt', 'asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy'];

export function formatCinc2017Streaming(strips: readonly StreamedStrip[]): string {
  const rows = CLASSES.map((label) => {
    const of = strips.filter((s) => s.label === label);
    const hours = of.reduce((h, s) => h + s.durationMs, 0) / 3_600_000;
    const cells = KINDS.map((k) => {
      const alarmed = of.filter((s) => (s.onsetsS[k]?.length ?? 0) > 0).length;
      const alarms = of.reduce((n, s) => n + (s.onsetsS[k]?.length ?? 0), 0);
      return alarms === 0 ? '0' : `${alarmed} (${alarms})`;
    });
    return [label, String(of.length), hours.toFixed(2), ...cells];
  });
  const header = ['class', 'strips', 'hours', ...KINDS];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const longAf = strips.filter((s) => s.label === 'A' && s.durationMs >= AF_ALARMABLE_MS);
  const longAfAlarmed = longAf.filter((s) => (s.onsetsS.afib?.length ?? 0) > 0);
  const nonAfWithAf = strips.filter((s) => s.label !== 'A' && (s.onsetsS.afib?.length ?? 0) > 0);
  const normal = strips.filter((s) => s.label === 'N');
  const normalHours = normal.reduce((h, s) => h + s.durationMs, 0) / 3_600_000;
  const normalVt = normal.reduce((n, s) => n + (s.onsetsS.vt?.length ?? 0), 0);
  // The first LISTED strips by name (a folder of the whole training set has hundreds).
  const listed = (list: readonly StreamedStrip[], kind: AlertKind) => {
    const hit = list.filter((s) => s.onsetsS[kind]?.length).map((s) => `${s.name} ${s.onsetsS[kind]!.join('/')} s`);
    return hit.length === 0 ? 'none' : hit.slice(0, LISTED).join(', ') + (hit.length > LISTED ? `, … ${hit.length - LISTED} strips more` : '');
  };
  return [
    `CinC 2017 strips replayed as ECG-only devices through the production path (eval/cinc2017-stream.ts: 1 s frames of ECG → processor/ecg-beats.ts → PatientStream, default criteria): strips with ≥ 1 alarm of the kind (alarms)`,
    line(header), ...rows.map(line),
    `  AF alarm on the AF strips of ≥ ${AF_ALARMABLE_MS / 1000} s (long enough for the 30 s criterion): ${longAfAlarmed.length} of ${longAf.length}; AF alarm on strips not labelled A: ${nonAfWithAf.length} (${listed(nonAfWithAf, 'afib')})`,
    `  vt on N strips (sinus rhythm, normal rate: unsupported by the label): ${normalVt} in ${normalHours.toFixed(2)} h = ${normalHours > 0 ? ((normalVt * 24) / normalHours).toFixed(0) : '-'} per 24 h — ${listed(normal, 'vt')}`,
  ].join('\n');
}
