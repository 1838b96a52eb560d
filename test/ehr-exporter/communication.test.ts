import { describe, expect, it } from 'vitest';
import { alertToCommunication } from '../../ehr-exporter/communication.ts';
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

  it('refuses physiological alerts', () => {
    expect(() => alertToCommunication(makeAlert('asystole'), options)).toThrow(TypeError);
  });

  it('produces Communications that pass validateResource and our checks for every technical kind', () => {
    const problems = (['lead_off', 'signal_loss', 'low_battery'] as const).flatMap((kind) => {
      const c = alertToCommunication(makeAlert(kind), options);
      return [...describeIssues(validateFhir(c as never).errors), ...technicalCommunicationProblems(c, IDENTIFIER_SYSTEM)].map((p) => `${kind}: ${p}`);
    });
    expect(problems).toEqual([]);
  });
});
