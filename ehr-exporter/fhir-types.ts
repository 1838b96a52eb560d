/**
 * The small subset of FHIR R4 (4.0.1) datatypes the exporter writes and reads. Kept local so the
 * exporter does not depend on a FHIR SDK at run time; element names and cardinalities follow
 * https://hl7.org/fhir/R4/observation.html and https://hl7.org/fhir/R4/communication.html.
 */

export interface Coding {
  system: string;
  code: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export interface Identifier {
  system: string;
  value: string;
}

export interface Reference {
  reference: string;
}

export interface Period {
  /** FHIR dateTime. */
  start: string;
  /** FHIR dateTime; absent while the episode is ongoing. */
  end?: string;
}

export interface Quantity {
  value: number;
  unit: string;
  system: string;
  code: string;
}

export interface Meta {
  versionId?: string;
  lastUpdated?: string;
}

export interface ObservationComponent {
  code: CodeableConcept;
  valueQuantity?: Quantity;
  interpretation?: CodeableConcept[];
}

export interface Observation {
  resourceType: 'Observation';
  id?: string;
  meta?: Meta;
  identifier: Identifier[];
  status: 'registered' | 'preliminary' | 'final' | 'amended' | 'corrected' | 'cancelled' | 'entered-in-error' | 'unknown';
  category: CodeableConcept[];
  code: CodeableConcept;
  subject: Reference;
  effectivePeriod: Period;
  /** FHIR instant. */
  issued: string;
  device: Reference;
  valueCodeableConcept: CodeableConcept;
  interpretation: CodeableConcept[];
  component?: ObservationComponent[];
}

export interface Communication {
  resourceType: 'Communication';
  id?: string;
  meta?: Meta;
  identifier: Identifier[];
  status: 'preparation' | 'in-progress' | 'not-done' | 'on-hold' | 'stopped' | 'completed' | 'entered-in-error' | 'unknown';
  category: CodeableConcept[];
  priority: 'routine' | 'urgent' | 'asap' | 'stat';
  subject: Reference;
  topic: CodeableConcept;
  /** FHIR dateTime. */
  sent: string;
  sender: Reference;
  payload: { contentString: string }[];
}

export interface OperationOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: string;
  details?: { text?: string };
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** Any resource the client sends: only the envelope fields it needs to know about. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: Meta;
}
