/**
 * Who the patients are: the patients a device is currently assigned to (device registry), named
 * by the hospital's patient directory file when one is configured (PULSEBRIDGE_PATIENT_DIRECTORY,
 * {@link directoryFileIdentities}); without it, embedded mode gives each a deterministic, clearly
 * fictitious demo identity (name and MRN) and production shows our patient id alone
 * ({@link unlistedIdentity}).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { PulsebridgeError } from '../platform/errors.ts';
import { followFile } from '../platform/followed-file.ts';
import type { Logger } from '../platform/log.ts';
import type { DeviceRecord } from '../platform/registry/index.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';

export interface PatientDevice {
  deviceId: string;
  enabled: boolean;
}

/** A medical record number: the identifier the hospital knows the patient by (FHIR Identifier system + value). */
export interface Mrn {
  system: string;
  value: string;
}

/** How people and the EHR name a patient. */
export interface PatientIdentity {
  /** Name shown on the board (no other demographics: the board needs nothing more). */
  displayName: string;
  /** Absent when no directory knows the patient: the board then shows our patient id, never a made-up MRN. */
  mrn?: Mrn;
}

export interface Patient extends PatientIdentity {
  id: string;
  /** Devices currently assigned to this patient, by device id. */
  devices: PatientDevice[];
}

/** The port the dashboard (and the EHR exporter) reads patients through. */
export interface PatientDirectory {
  /** Every known patient, ordered by id. */
  list(): Patient[];
  get(id: string): Patient | undefined;
}

/** Identifier system of the demo MRNs: a URN of ours, so they can never be mistaken for a hospital's. */
export const DEMO_MRN_SYSTEM = 'urn:pulsebridge:demo:mrn';

const GIVEN = ['Ada', 'Bruno', 'Chloe', 'Dmitri', 'Elif', 'Farah', 'Goran', 'Hana', 'Ines', 'Jonas', 'Kiri', 'Lena', 'Milan', 'Nora', 'Omar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tariq', 'Uma', 'Viktor', 'Wen', 'Yara'];
const FAMILY = ['Abbott', 'Baptiste', 'Castillo', 'Duarte', 'Eriksen', 'Fontaine', 'Gallo', 'Haddad', 'Ivanova', 'Jansen', 'Kowalski', 'Lindqvist', 'Moreau', 'Nakamura', 'Okafor', 'Petrov', 'Quinn', 'Rossi', 'Santos', 'Tanaka', 'Ueda', 'Varga', 'Weber', 'Zielinski'];

/**
 * A deterministic made-up identity for a patient id (embedded demo only): the same id always gets
 * the same name and MRN, so screenshots, tests and the FHIR export agree across restarts.
 */
export function demoPatientIdentity(patientId: string): PatientIdentity & { mrn: Mrn } {
  const h = createHash('sha256').update(patientId).digest();
  return {
    displayName: `${GIVEN[h[0]! % GIVEN.length]} ${FAMILY[h[1]! % FAMILY.length]}`,
    mrn: { system: DEMO_MRN_SYSTEM, value: `D${String(h.readUInt32BE(2) % 10_000_000).padStart(7, '0')}` },
  };
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * A patient no directory lists (production without PULSEBRIDGE_PATIENT_DIRECTORY, or missing from
 * it): shown by our patient id alone. A made-up name would be worse than none on a ward — it could
 * be taken for the patient's.
 */
export function unlistedIdentity(patientId: string): PatientIdentity {
  return { displayName: patientId };
}

const directoryFileSchema = z.record(z.string().min(1), z.strictObject({
  name: z.string().min(1),
  mrn: z.union([z.string().min(1), z.strictObject({ system: z.string().min(1), value: z.string().min(1) })]).optional(),
}));

function readDirectoryFile(file: string, mrnSystem: string): Map<string, PatientIdentity> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PulsebridgeError('PB_CONFIG_INVALID', `cannot read the patient directory ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = directoryFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new PulsebridgeError('PB_CONFIG_INVALID', `${file} must hold {"<patient id>": {"name": "…", "mrn": "…" or {"system","value"}}}: ${describeZodIssues(parsed.error)}`);
  }
  return new Map(Object.entries(parsed.data).map(([id, e]) => [id, {
    displayName: e.name,
    ...(e.mrn === undefined ? {} : { mrn: typeof e.mrn === 'string' ? { system: mrnSystem, value: e.mrn } : { ...e.mrn } }),
  }]));
}

/**
 * Identities from the hospital's patient directory file (PULSEBRIDGE_PATIENT_DIRECTORY, written by
 * its admission feed or by hand): `{"<patient id>": {"name": "…", "mrn": "<MRN>" or {"system",
 * "value"}}}`, plain MRN strings in `mrnSystem`. Followed while we run (platform/followed-file.ts):
 * a patient admitted while the API runs shows up by name within seconds. A patient the file does
 * not list is {@link unlistedIdentity}.
 */
export function directoryFileIdentities(file: string, mrnSystem: string, logger: Logger, now: () => number = Date.now): (patientId: string) => PatientIdentity {
  const latest = followFile(file, (f) => readDirectoryFile(f, mrnSystem), (entries) => entries.size, { logger, what: 'patient directory file', now });
  return (patientId) => {
    const known = latest().get(patientId);
    return known ? { displayName: known.displayName, ...(known.mrn ? { mrn: { ...known.mrn } } : {}) } : unlistedIdentity(patientId);
  };
}

/**
 * Patients = distinct current assignments of the device registry (platform/registry/).
 * Reads the registry on every call, so a device added by `pulsebridge device add` while the demo
 * runs shows up without a restart. `identityOf` names them (default: {@link demoPatientIdentity}).
 */
export function registryPatientDirectory(
  registry: { list(): DeviceRecord[] },
  identityOf: (patientId: string) => PatientIdentity = demoPatientIdentity,
): PatientDirectory {
  const all = (): Patient[] => {
    const byPatient = new Map<string, PatientDevice[]>();
    for (const d of registry.list()) {
      if (d.patientId === undefined) continue;
      const devices = byPatient.get(d.patientId) ?? [];
      devices.push({ deviceId: d.deviceId, enabled: d.enabled });
      byPatient.set(d.patientId, devices);
    }
    return [...byPatient.entries()]
      .map(([id, devices]) => ({ id, ...identityOf(id), devices: devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)) }))
      .sort(byId);
  };
  return {
    list: all,
    get: (id) => all().find((p) => p.id === id),
  };
}

/** A patient for {@link staticPatientDirectory}; a missing identity gets the demo one. */
export type StaticPatient = Omit<Patient, keyof PatientIdentity> & Partial<PatientIdentity>;

/** A fixed directory (tests, or a deployment that lists its patients in configuration). */
export function staticPatientDirectory(patients: StaticPatient[]): PatientDirectory {
  const sorted: Patient[] = patients.map((p) => ({ ...demoPatientIdentity(p.id), ...p })).sort(byId);
  const copy = (p: Patient): Patient => ({ id: p.id, displayName: p.displayName, ...(p.mrn ? { mrn: { ...p.mrn } } : {}), devices: p.devices.map((d) => ({ ...d })) });
  return {
    list: () => sorted.map(copy),
    get: (id) => {
      const p = sorted.find((x) => x.id === id);
      return p && copy(p);
    },
  };
}
