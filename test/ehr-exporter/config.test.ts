import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { PulsebridgeError } from '../../platform/errors.ts';

describe('EHR configuration (platform/config.ts)', () => {
  it('reads SMART, MRN, HL7 and health settings from the environment', () => {
    const c = loadConfig({
      PULSEBRIDGE_FHIR_BASE_URL: 'https://ehr.example.org/fhir/R4', PULSEBRIDGE_SMART_CLIENT_ID: 'pb', PULSEBRIDGE_SMART_KEY_FILE: '/run/secrets/pb.pem',
      PULSEBRIDGE_SMART_KEY_ID: 'k1', PULSEBRIDGE_SMART_ALG: 'ES384', PULSEBRIDGE_HL7_MLLP: 'engine.local:2575', PULSEBRIDGE_EHR_HTTP_PORT: '9181',
    });
    expect(c.ehr.smart).toEqual({ clientId: 'pb', keyFile: '/run/secrets/pb.pem', keyId: 'k1', alg: 'ES384', scope: 'system/Observation.crus system/Patient.rs system/Device.crs system/Communication.cs' });
    expect(c.ehr.hl7).toEqual({ host: 'engine.local', port: 2575, sendingFacility: 'PULSEBRIDGE', receivingApplication: 'EHR', ackTimeoutMs: 10_000, evidenceUpdateIntervalMs: 300_000 });
    expect([c.ehr.httpPort, c.ehr.ecgWaitMs, c.ehr.deviceSystem, c.ehr.patientMrnsFile]).toEqual([9181, 20_000, 'urn:pulsebridge:device', undefined]);
    expect(loadConfig({}).ehr.smart).toBeUndefined();
  });

  it('names every missing SMART setting at once, and refuses an algorithm SMART does not require', () => {
    const err = (() => {
      try {
        loadConfig({ PULSEBRIDGE_SMART_CLIENT_ID: 'pb', PULSEBRIDGE_SMART_ALG: 'HS256', PULSEBRIDGE_HL7_MLLP: 'no-port' });
      } catch (e) {
        return e;
      }
    })() as PulsebridgeError;
    expect(err.code).toBe('PB_CONFIG_INVALID');
    for (const name of ['PULSEBRIDGE_SMART_ALG', 'PULSEBRIDGE_HL7_MLLP']) expect(err.message).toContain(name);
  });

  it('takes the HL7 ACK timeout from PULSEBRIDGE_HL7_ACK_TIMEOUT_MS, for an engine slower than 10 s', () => {
    expect(loadConfig({ PULSEBRIDGE_HL7_MLLP: 'engine.local:2575', PULSEBRIDGE_HL7_ACK_TIMEOUT_MS: '30000' }).ehr.hl7?.ackTimeoutMs).toBe(30_000);
    expect(() => loadConfig({ PULSEBRIDGE_HL7_MLLP: 'engine.local:2575', PULSEBRIDGE_HL7_ACK_TIMEOUT_MS: '50' })).toThrow(/PULSEBRIDGE_HL7_ACK_TIMEOUT_MS/);
  });

  it('takes the FHIR request timeout from PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS (default 10 s, 1000–300000 ms), refusing anything else with PB_CONFIG_INVALID', () => {
    expect(loadConfig({}).ehr.fhirRequestTimeoutMs).toBe(10_000);
    expect(loadConfig({ PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS: '30000' }).ehr.fhirRequestTimeoutMs).toBe(30_000);
    expect(loadConfig({ PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS: '1000' }).ehr.fhirRequestTimeoutMs).toBe(1_000);
    for (const bad of ['50', '0', '-1', '2.5s', '1500.5', '300001']) {
      const err = (() => {
        try {
          loadConfig({ PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS: bad });
        } catch (e) {
          return e;
        }
      })() as PulsebridgeError | undefined;
      expect(err?.code, bad).toBe('PB_CONFIG_INVALID');
      expect(err?.message, bad).toContain('PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS');
    }
  });

  it('takes the HL7 evidence-update interval from PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN (minutes; default 5, 0 = every change sent)', () => {
    expect(loadConfig({ PULSEBRIDGE_HL7_MLLP: 'engine.local:2575', PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN: '5' }).ehr.hl7?.evidenceUpdateIntervalMs).toBe(300_000);
    expect(() => loadConfig({ PULSEBRIDGE_HL7_MLLP: 'engine.local:2575', PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN: '-1' })).toThrow(/PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN/);
  });

  it('takes the FHIR evidence-update interval from PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN (minutes; default 5, 0 = every change written)', () => {
    expect(loadConfig({}).ehr.evidenceUpdateIntervalMs).toBe(300_000);
    expect(loadConfig({ PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN: '0' }).ehr.evidenceUpdateIntervalMs).toBe(0);
    expect(loadConfig({ PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN: '5' }).ehr.evidenceUpdateIntervalMs).toBe(300_000);
  });

  it('a client id without its key file and key id is refused', () => {
    expect(() => loadConfig({ PULSEBRIDGE_SMART_CLIENT_ID: 'pb' })).toThrow(/PULSEBRIDGE_SMART_KEY_FILE.*required when PULSEBRIDGE_SMART_CLIENT_ID is set.*PULSEBRIDGE_SMART_KEY_ID|PULSEBRIDGE_SMART_KEY_ID.*PULSEBRIDGE_SMART_KEY_FILE/);
  });
});
