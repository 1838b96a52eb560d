import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpFhirClient } from '../../ehr-exporter/fhir-client.ts';
import { configuredMrns, createPatientResolver, followedMrnFile, readPatientMrnsFile } from '../../ehr-exporter/identity.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { createLogger } from '../../platform/log.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';

const MRN_SYSTEM = 'urn:oid:1.2.3.4.5';
let server: FhirTestServer;
let dir: string;
beforeEach(async () => {
  server = await startFhirServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-mrns-'));
});
afterEach(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<PulsebridgeError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof PulsebridgeError)) throw new Error(`expected a PulsebridgeError, got ${String(err)}`);
  return err;
}

describe('patient identity errors carry no MRN', () => {
  it('an unknown or doubled MRN is reported by our patient id only', async () => {
    const fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    const patients = createPatientResolver({ fhir, mrns: configuredMrns(MRN_SYSTEM, { 'p-002': 'MRN-0002', 'p-003': 'MRN-0003' }) });
    const unknown = await rejection(patients.reference('p-002'));
    expect(unknown.code).toBe('PB_EHR_PATIENT_UNKNOWN');
    expect(unknown.message).toBe('the EHR has no Patient with the MRN of patient p-002');
    for (let i = 0; i < 2; i++) await server.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: MRN_SYSTEM, value: 'MRN-0003' }] });
    const doubled = await rejection(patients.reference('p-003'));
    expect(doubled.code).toBe('PB_FHIR_MULTIPLE_MATCHES');
    for (const err of [unknown, doubled]) expect(`${err.message} ${JSON.stringify(err.details)}`).not.toMatch(/MRN-000|1\.2\.3\.4\.5/);
  });

  it('an MRN file that is not JSON is refused with the position, not the text around it', () => {
    const file = path.join(dir, 'mrns.json');
    fs.writeFileSync(file, '{"p-1": MRN-0002}');
    expect(() => readPatientMrnsFile(file)).toThrow(PulsebridgeError);
    const message = (() => {
      try {
        readPatientMrnsFile(file);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message).toContain(`the patient MRN file ${file} is not valid JSON`);
    expect(message).not.toContain('MRN-0002');
  });
});

describe('the MRN file is followed while the exporter runs', () => {
  it('a patient added to the file is found at the next check; a momentarily invalid file keeps the last good one, one warning', () => {
    const file = path.join(dir, 'mrns.json');
    fs.writeFileSync(file, JSON.stringify({ 'p-1': 'MRN-1' }));
    let t = 0;
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as { level: string; msg: string }));
    const mrns = followedMrnFile(MRN_SYSTEM, file, { logger, checkEveryMs: 2_000, now: () => t });
    const unknown = () => {
      try {
        mrns.mrnOf('p-2');
        return false;
      } catch (err) {
        return (err as PulsebridgeError).code === 'PB_EHR_PATIENT_UNKNOWN';
      }
    };
    expect(unknown()).toBe(true);

    fs.writeFileSync(file, JSON.stringify({ 'p-1': 'MRN-1', 'p-2': 'MRN-2' }));
    t = 1_000;
    expect(unknown()).toBe(true); // not checked again yet
    t = 2_000;
    expect(mrns.mrnOf('p-2')).toEqual({ system: MRN_SYSTEM, value: 'MRN-2' });
    expect(lines.filter((l) => l.msg === 'patient MRN file re-read')).toHaveLength(1);

    // Half-written, then gone for a moment (a replace): the last good version stays, one warning each.
    fs.writeFileSync(file, '{"p-1": "MRN-1", "p-3": ');
    for (t = 4_000; t <= 10_000; t += 2_000) expect(mrns.mrnOf('p-2').value).toBe('MRN-2');
    fs.rmSync(file);
    for (; t <= 16_000; t += 2_000) expect(mrns.mrnOf('p-1').value).toBe('MRN-1');
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'patient MRN file unreadable or invalid; the last good version stays in use',
      'patient MRN file unreadable or invalid; the last good version stays in use',
    ]);
    fs.writeFileSync(file, JSON.stringify({ 'p-3': { system: 'urn:other', value: 'X-3' } }));
    expect(mrns.mrnOf('p-3')).toEqual({ system: 'urn:other', value: 'X-3' });
    expect(() => mrns.mrnOf('p-1')).toThrow(/no MRN in the configured MRN file/);
    expect(JSON.stringify(lines)).not.toMatch(/MRN-\d/);
  });

  it('a bad file at start-up still fails the start', () => {
    const file = path.join(dir, 'mrns.json');
    fs.writeFileSync(file, '[]');
    expect(() => followedMrnFile(MRN_SYSTEM, file, { logger: createLogger('error', {}, () => {}) })).toThrow(/must hold a JSON object/);
    expect(() => followedMrnFile(MRN_SYSTEM, path.join(dir, 'absent.json'), { logger: createLogger('error', {}, () => {}) })).toThrow();
  });
});
