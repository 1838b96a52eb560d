import { describe, expect, it } from 'vitest';
import { alertToCommunication, alertToEndCommunication, alertToResolvedCommunication } from '../../ehr-exporter/communication.ts';
import { describeIssues, technicalCommunicationProblems, validateFhir } from '../helpers/fhir-validate.ts';
import { IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

const options = { identifierSystem: IDENTIFIER_SYSTEM };

describe('alertToCommunication', () => {
  it('maps a lead-off alert to a routine Communication notification sent by the device', () => {
    expect(alertToCommunication(makeAlert('lead_off'), options)).toEqual({
      resourceType: 'Communication',
      identifier: [{ system: IDENTIFIER_SYSTEM, value: 'patch-0001/notification/lead_off/2026-01-01T00:00:03.000Z' }],
      status: 'completed',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification', display: 'Notification' }] }],
      priority: 'routine',
      subject: { reference: 'Patient/p-001' },
      topic: { text: 'Leads off' },
      sent: '2026-01-01T00:00:09.500Z',
      sender: { reference: 'Device/patch-0001' },
      payload: [{ contentString: 'Technical alarm: Leads off on device patch-0001 since 2026-01-01T00:00:03.000Z.' }],
    });
  });

  it('raises the request priority with the alert priority', () => {
    expect(alertToCommunication(makeAlert('signal_loss', { priority: 'medium' }), options).priority).toBe('urgent');
    expect(alertToCommunication(makeAlert('low_battery', { priority: 'high' }), options).priority).toBe('asap');
  });

  // EHR walk: the end of a technical alarm never reached the EHR, so a chart showed "Leads off" for ever.
  it('maps the end of a technical alarm to a second notice with its own identifier (none while it holds)', () => {
    expect(alertToEndCommunication(makeAlert('lead_off'), options)).toBeUndefined();
    const ended = makeAlert('lead_off', { end: '2026-01-01T00:12:03Z', state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: '2026-01-01T00:12:20Z', revision: 9, updatedAt: '2026-01-01T00:12:20.000Z' });
    expect(alertToEndCommunication(ended, options)).toEqual({
      resourceType: 'Communication',
      identifier: [{ system: IDENTIFIER_SYSTEM, value: 'patch-0001/notification/lead_off/2026-01-01T00:00:03.000Z/end' }],
      status: 'completed',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification', display: 'Notification' }] }],
      priority: 'routine',
      subject: { reference: 'Patient/p-001' },
      topic: { text: 'Leads off ended' },
      sent: '2026-01-01T00:12:20.000Z',
      sender: { reference: 'Device/patch-0001' },
      payload: [{ contentString: 'Technical alarm ended: Leads off on device patch-0001 from 2026-01-01T00:00:03.000Z to 2026-01-01T00:12:03.000Z (12 min).' }],
    });
    // The onset notice of the same snapshot is unchanged: what was sent at the onset stays as sent.
    expect(alertToCommunication(ended, options)).toEqual(alertToCommunication(makeAlert('lead_off'), options));
    const restartEnd = alertToEndCommunication({ ...ended, evidence: { ...ended.evidence, note: 'end estimated after a restart' } }, options);
    expect(restartEnd?.payload[0]?.contentString).toMatch(/\(12 min\)\. end estimated after a restart$/);
    expect(() => alertToEndCommunication(makeAlert('asystole', { end: '2026-01-01T00:00:10Z' }), options)).toThrow(TypeError);
  });

  // EHR walk: a clinician resolved a lead-off while the leads were still off; the chart got nothing
  // until they were back on (HL7 had the resolution at once).
  it('maps a clinician\'s resolution while the condition holds to its own notice; the later end notice names it', () => {
    const resolved = makeAlert('lead_off', { state: 'resolved', resolvedBy: 'nurse-kim', resolvedAt: '2026-01-01T00:02:00Z', resolveReason: 'patient showering', revision: 4, updatedAt: '2026-01-01T00:02:00.000Z' });
    expect(alertToEndCommunication(resolved, options)).toBeUndefined();
    expect(alertToResolvedCommunication(resolved, options)).toEqual({
      resourceType: 'Communication',
      identifier: [{ system: IDENTIFIER_SYSTEM, value: 'patch-0001/notification/lead_off/2026-01-01T00:00:03.000Z/resolved' }],
      status: 'completed',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification', display: 'Notification' }] }],
      priority: 'routine',
      subject: { reference: 'Patient/p-001' },
      topic: { text: 'Leads off resolved' },
      sent: '2026-01-01T00:02:00.000Z',
      sender: { reference: 'Device/patch-0001' },
      payload: [{ contentString: 'Technical alarm resolved: Leads off on device patch-0001, resolved by nurse-kim at 2026-01-01T00:02:00.000Z — “patient showering”; the condition was still present then (since 2026-01-01T00:00:03.000Z).' }],
    });
    // The condition ends later: the resolution notice of that snapshot is the same message (same identifier), and the end notice says who resolved it.
    const ended = { ...resolved, end: '2026-01-01T00:31:03Z', revision: 5, updatedAt: '2026-01-01T00:31:14.000Z' };
    expect(alertToResolvedCommunication(ended, options)?.identifier).toEqual(alertToResolvedCommunication(resolved, options)?.identifier);
    expect(alertToEndCommunication(ended, options)?.payload[0]?.contentString).toBe('Technical alarm ended: Leads off on device patch-0001 from 2026-01-01T00:00:03.000Z to 2026-01-01T00:31:03.000Z (31 min). Alarm resolved by nurse-kim at 2026-01-01T00:02:00.000Z.');
    // Closed by the processor because the condition ended on its own: no resolution notice.
    expect(alertToResolvedCommunication(makeAlert('lead_off', { end: '2026-01-01T00:04:03Z', state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: '2026-01-01T00:04:14Z' }), options)).toBeUndefined();
    expect(alertToResolvedCommunication(makeAlert('lead_off'), options)).toBeUndefined();
  });

  it('refuses physiological alerts', () => {
    expect(() => alertToCommunication(makeAlert('asystole'), options)).toThrow(TypeError);
  });

  it('produces Communications that pass validateResource and our checks for every technical kind', () => {
    const problems = (['lead_off', 'signal_loss', 'low_battery'] as const).flatMap((kind) => {
      const ended = makeAlert(kind, { end: '2026-01-01T00:05:00Z', revision: 2 });
      const resolved = makeAlert(kind, { state: 'resolved', resolvedBy: 'nurse-kim', resolvedAt: '2026-01-01T00:02:00Z', revision: 2 });
      return [alertToCommunication(makeAlert(kind), options), alertToEndCommunication(ended, options)!, alertToResolvedCommunication(resolved, options)!].flatMap((c) =>
        [...describeIssues(validateFhir(c as never).errors), ...technicalCommunicationProblems(c, IDENTIFIER_SYSTEM)].map((p) => `${kind} ${c.topic.text}: ${p}`));
    });
    expect(problems).toEqual([]);
  });
});
