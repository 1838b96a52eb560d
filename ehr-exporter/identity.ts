/**
 * Identity mapping (issue 11): the EHR knows its patients by MRN and our devices by nothing, so
 * Pulsebridge never writes `Patient/{our id}` or `Device/{our id}`:
 * - a Patient is found by its business identifier, `GET Patient?identifier=<MRN system>|<MRN>`,
 *   and the answer cached per patient (an MRN does not move to another Patient; a merge in the EHR
 *   is what the TTL is for);
 * - a Device is created once per device by a conditional create on its identifier inside each
 *   alert's transaction Bundle (bundle.ts), and referenced there through its `urn:uuid:` fullUrl.
 * Our ids therefore never become FHIR ids; any characters they hold travel inside identifier
 * values, which FHIR allows (R4 datatypes: Identifier.value is a string).
 *
 * Where the MRN comes from: each component runs in its own process on Kafka and the exporter has
 * no registry, so in production the mapping is configuration (PULSEBRIDGE_EHR_PATIENT_MRNS, a JSON
 * file written by the hospital's admission feed or by hand, re-read when it changes); a patient
 * missing from it is an unknown patient (retried, visible), never a made-up MRN. Without the file the exporter uses the
 * same deterministic demo identity as the dashboard's patient directory
 * (dashboard-api/patient-directory.ts demoPatientIdentity), so both show one MRN per patient.
 *
 * An MRN is PHI: errors name the patient by our internal id only, since their text reaches the
 * logs and the unauthenticated /healthz (platform/ops-server.ts).
 */
import fs from 'node:fs';
import { demoPatientIdentity } from '../dashboard-api/patient-directory.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { followFile } from '../platform/followed-file.ts';
import type { FhirClient, FhirRequestOptions } from './fhir-client.ts';
import type { FhirResource, Identifier } from './fhir-types.ts';

export type PatientMrns = Readonly<Record<string, string | Identifier>>;

/** Our patient id → its MRN identifier. */
export interface MrnSource {
  mrnOf(patientId: string): Identifier;
}

/**
 * MRNs from the configured file (string values take `system`); without a file, the demo identity.
 * @throws PB_EHR_PATIENT_UNKNOWN from mrnOf for a patient the file does not list.
 */
export function configuredMrns(system: string, mrns?: PatientMrns): MrnSource {
  if (!mrns) return { mrnOf: (patientId) => ({ ...demoPatientIdentity(patientId).mrn }) };
  return {
    mrnOf(patientId) {
      const m = Object.hasOwn(mrns, patientId) ? mrns[patientId] : undefined;
      if (m === undefined) throw new PulsebridgeError('PB_EHR_PATIENT_UNKNOWN', `patient ${patientId} has no MRN in the configured MRN file`, { details: { patientId } });
      return typeof m === 'string' ? { system, value: m } : { system: m.system, value: m.value };
    },
  };
}

/**
 * MRNs from the PULSEBRIDGE_EHR_PATIENT_MRNS file, followed while we run (platform/followed-file.ts):
 * the hospital's admission feed adds patients to it, and an added patient must not stay unknown
 * (their alerts parked) until a restart.
 */
export function followedMrnFile(system: string, file: string, o: { logger: Logger; checkEveryMs?: number; now?: () => number }): MrnSource {
  const latest = followFile(file, readPatientMrnsFile, (mrns) => Object.keys(mrns).length, { ...o, what: 'patient MRN file' });
  return { mrnOf: (patientId) => configuredMrns(system, latest()).mrnOf(patientId) };
}

/** Reads PULSEBRIDGE_EHR_PATIENT_MRNS; a bad file is a configuration error at start-up, not at the first alert. */
export function readPatientMrnsFile(file: string): PatientMrns {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PulsebridgeError('PB_CONFIG_INVALID', `cannot read the patient MRN file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // V8 quotes the text around the error ("{"p-1": MRN-0002}" is not valid JSON): keep the position only.
    const at = /at position \d+(?: \(line \d+ column \d+\))?/.exec((err as Error).message)?.[0];
    throw new PulsebridgeError('PB_CONFIG_INVALID', `the patient MRN file ${file} is not valid JSON${at ? ` (${at})` : ''}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new PulsebridgeError('PB_CONFIG_INVALID', `${file} must hold a JSON object { "<patient id>": "<mrn>" }`);
  for (const [k, v] of Object.entries(json)) {
    const ok = (typeof v === 'string' && v !== '') || (v && typeof v === 'object' && typeof (v as Identifier).system === 'string' && typeof (v as Identifier).value === 'string');
    if (!ok) throw new PulsebridgeError('PB_CONFIG_INVALID', `${file}: patient ${k} needs an MRN string or {"system","value"}`);
  }
  return json as PatientMrns;
}

export interface PatientResolver {
  /**
   * `Patient/{EHR id}` for our patient id.
   * @throws PB_EHR_PATIENT_UNKNOWN when the EHR has no Patient with the MRN (the caller retries
   *   later: the admission may not have reached the EHR yet), PB_FHIR_MULTIPLE_MATCHES when two do.
   */
  reference(patientId: string, options?: FhirRequestOptions): Promise<string>;
}

export function createPatientResolver(options: { fhir: FhirClient; mrns: MrnSource; ttlMs?: number; now?: () => number }): PatientResolver {
  const ttlMs = options.ttlMs ?? 3_600_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { reference: string; untilMs: number }>();
  return {
    async reference(patientId, requestOptions) {
      const hit = cache.get(patientId);
      if (hit && now() < hit.untilMs) return hit.reference;
      const mrn = options.mrns.mrnOf(patientId);
      const found = await options.fhir.searchByIdentifier<FhirResource & { resourceType: 'Patient' }>('Patient', mrn, requestOptions);
      if (found.length > 1) {
        throw new PulsebridgeError('PB_FHIR_MULTIPLE_MATCHES', `${found.length} Patients in the EHR carry the MRN of patient ${patientId}`, { details: { patientId } });
      }
      const patient = found[0];
      if (!patient) {
        throw new PulsebridgeError('PB_EHR_PATIENT_UNKNOWN', `the EHR has no Patient with the MRN of patient ${patientId}`, { details: { patientId } });
      }
      const reference = `Patient/${patient.id}`;
      cache.set(patientId, { reference, untilMs: now() + ttlMs });
      return reference;
    },
  };
}
