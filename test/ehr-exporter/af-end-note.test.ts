/**
 * An AF alarm's end note in the EHR (contracts/alert.ts `endNote`, set by processor/detectors/afib.ts
 * when the AF ends into a regular rate > 120/min or with an extreme tachycardia open): the FHIR
 * rhythm Observation's annotations and the HL7 PCD-04 alarm carry the sentence, also while the AF
 * waits for review (latched, nothing resolved yet), where no annotation said anything before.
 */
import { Hl7Message } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { lifecycleNotes, selfEndedText } from '../../ehr-exporter/bundle.ts';
import { pcd04Alarm } from '../../ehr-exporter/hl7-messages.ts';
import { makeAlert } from './fixtures.ts';

const END = '2026-03-01T10:09:50.000Z';
const NOTE = 'irregularity ended, rate 150/min regular — consider atrial flutter';
const ended = (overrides: Partial<Alert> = {}): Alert => {
  const a = makeAlert('afib', { end: END, revision: 2, ...overrides });
  return { ...a, evidence: { ...a.evidence, endNote: NOTE } };
};

describe('an AF that ended into a fast regular rhythm, in the EHR', () => {
  it('latched for review: one Pulsebridge annotation at its end with the sentence', () => {
    expect(lifecycleNotes(ended())).toEqual([{ authorString: 'Pulsebridge', time: END, text: `Pulsebridge: ended at ${END}: ${NOTE}` }]);
    // Without the sentence, as before: nothing.
    expect(lifecycleNotes(makeAlert('afib', { end: END, revision: 2 }))).toEqual([]);
  });

  it('resolved by a clinician later: the sentence stays, beside the resolution', () => {
    const resolved = ended({ state: 'resolved', acknowledgedBy: 'dr-a', acknowledgedAt: '2026-03-01T10:12:00.000Z', resolvedBy: 'dr-a', resolvedAt: '2026-03-01T10:12:00.000Z' });
    expect(lifecycleNotes(resolved).map((n) => n.text)).toEqual(['Pulsebridge: acknowledged by dr-a', `Pulsebridge: ended at ${END}: ${NOTE}`, 'Pulsebridge: resolved by dr-a']);
  });

  it('acknowledged while it lasted and resolved by the processor at its end: "ended on its own" says it, once', () => {
    const self = ended({ state: 'resolved', acknowledgedBy: 'dr-a', acknowledgedAt: '2026-03-01T10:05:00.000Z', resolvedBy: 'pulsebridge-processor', resolvedAt: '2026-03-01T10:10:00.000Z' });
    expect(selfEndedText(self)).toBe(`ended on its own at ${END} (${NOTE})`);
    expect(lifecycleNotes(self).map((n) => n.text)).toEqual(['Pulsebridge: acknowledged by dr-a', `Pulsebridge: ended on its own at ${END} (${NOTE})`]);
  });

  it('the HL7 PCD-04 alarm of its end carries it under a local code', () => {
    const options = { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR', mrn: { system: 'urn:mrn', value: 'MRN-001' } };
    const endNoteObx = (a: Alert) => Hl7Message.parse(pcd04Alarm(a, options, END)).getAllSegments('OBX').find((s) => s.getComponent(3, 1) === 'end_note');
    expect(endNoteObx(ended())?.getField(5).toString()).toBe(NOTE);
    expect(endNoteObx(makeAlert('afib', { end: END, revision: 2 }))).toBeUndefined();
  });
});
