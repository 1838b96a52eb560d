/**
 * The ECG strip around an alarm: raw single-lead ECG from PRE seconds before the episode's onset to
 * POST seconds after it (device time), kept so a clinician can over-read the event (product.md:
 * "the ECG strip and heart-rate trend around each event") and so the EHR gets the evidence as an
 * R4 SampledData Observation (fhir-and-alarms.md §1 row 4, §2.1 derivedFrom).
 *
 * The processor captures it from the frames of the patient's stream and publishes it once on
 * STREAMS.ecgStrips (keyed by patient id) when the post-event window has passed on device time;
 * the vitals store keeps it for the dashboard. A device that streams no ECG yields no strip.
 */
import type { AlertKind } from './alert.ts';

/** Seconds of ECG kept before the onset and after it (device time). */
export const ECG_STRIP_PRE_S = 8;
export const ECG_STRIP_POST_S = 8;

export interface EcgStrip {
  schema: 'pb.ecg-strip.v1';
  /** The alert (contracts/alert.ts alertId) whose onset the strip surrounds. */
  alertId: string;
  /** The alert's kind (optional: added after v1; stores use it to keep strips of one onset apart). */
  kind?: AlertKind;
  patientId: string;
  deviceId: string;
  /** Device time of sample 0, ms since epoch. */
  startMs: number;
  /** Sampling rate, Hz. */
  fsHz: number;
  /**
   * Samples in microvolts, one per 1000/fsHz ms from startMs; null where no sample exists (a missing
   * frame) or the electrodes were off (FHIR SampledData "E").
   */
  uV: (number | null)[];
  /** Sub-ranges [fromIndex, toIndex) of uV recorded while the device reported lead-off. */
  leadOff: [number, number][];
  /** Beats inside the strip (device time, ms since epoch) with their class, for annotations. */
  beats: { timeMs: number; cls: string }[];
}
