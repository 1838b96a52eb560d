/**
 * The ECG-strip part of the vitals store contract, run against each adapter: a strip exercising
 * every part of contracts/ecg-strip.ts (int16 edge values, gaps, lead-off, beats) comes back exactly.
 */
import { expect } from 'vitest';
import type { EcgStrip } from '../../../contracts/ecg-strip.ts';
import type { VitalsStore } from '../../../platform/store/index.ts';

export function sampleEcgStrip(o: Partial<EcgStrip> = {}): EcgStrip {
  const fsHz = 250;
  const startMs = Date.UTC(2025, 0, 15, 8, 0, 0);
  const uV: (number | null)[] = Array.from({ length: 16 * fsHz }, (_, i) => Math.round(1200 * Math.sin(i / 7)) - 300);
  uV[0] = -32768;
  uV[1] = 32767;
  uV.fill(null, 100, 350); // a lost frame
  uV.fill(null, 2000, 2250); // lead-off
  uV[3999] = null; // the last sample
  return {
    schema: 'pb.ecg-strip.v1',
    alertId: 'al-0123456789abcdef01234567',
    kind: 'asystole',
    patientId: 'ecg-p1',
    deviceId: 'dev-ecg.1',
    startMs,
    fsHz,
    uV,
    leadOff: [[2000, 2250]],
    beats: [{ timeMs: startMs + 400, cls: 'N' }, { timeMs: startMs + 1200, cls: 'V' }],
    ...o,
  };
}

export async function checkEcgStripContract(store: VitalsStore): Promise<void> {
  const strip = sampleEcgStrip();
  // Same patient and onset, another kind (brady and extreme_brady start together): kept apart.
  const sibling = sampleEcgStrip({ alertId: 'al-sibling', kind: 'extreme_brady', uV: strip.uV.map((v) => (v === null ? null : ((v + 7) % 1000) + 0)) });
  const other = sampleEcgStrip({ alertId: 'al-other', patientId: 'ecg-p2', uV: [1, 2, 3], leadOff: [], beats: [] });
  await store.writeEcgStrips([strip, sibling, other]);
  expect(await store.getEcgStrip('ecg-p1', strip.alertId)).toEqual(strip);
  expect(await store.getEcgStrip('ecg-p1', sibling.alertId)).toEqual(sibling);
  expect(await store.getEcgStrip('ecg-p2', other.alertId)).toEqual(other);
  // Only the patient's own strips: the alert id alone does not reach another patient's.
  expect(await store.getEcgStrip('ecg-p2', strip.alertId)).toBeUndefined();
  expect(await store.getEcgStrip('ecg-p1', 'al-unknown')).toBeUndefined();
  // Written again (a redelivered publish): replaced, not duplicated.
  const again = { ...strip, beats: [...strip.beats, { timeMs: strip.startMs + 2000, cls: 'N' }] };
  await store.writeEcgStrips([again]);
  expect(await store.getEcgStrip('ecg-p1', strip.alertId)).toEqual(again);
  // A strip of the largest contract rate (1000 Hz × 16 s) fits.
  const big = sampleEcgStrip({ alertId: 'al-big', fsHz: 1000, uV: Array.from({ length: 16_000 }, (_, i) => (i % 2000) - 1000), leadOff: [], beats: [] });
  await store.writeEcgStrips([big]);
  expect(await store.getEcgStrip('ecg-p1', big.alertId)).toEqual(big);
}
