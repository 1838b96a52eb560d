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
  profile?: string[];
}

/** R4 SampledData: `period` in ms (R4, not R5's interval), `data` = space-separated decimals or E/L/U. */
export interface SampledData {
  origin: Quantity;
  period: number;
  factor?: number;
  lowerLimit?: number;
  upperLimit?: number;
  dimensions: number;
  data?: string;
}

export interface Annotation {
  authorString?: string;
  /** FHIR dateTime. */
  time?: string;
  text: string;
}

export interface Extension {
  url: string;
  valueInteger?: number;
  valueString?: string;
  valueInstant?: string;
}

export interface ObservationComponent {
  code: CodeableConcept;
  valueQuantity?: Quantity;
  valueSampledData?: SampledData;
  dataAbsentReason?: CodeableConcept;
  interpretation?: CodeableConcept[];
}

export interface Observation {
  resourceType: 'Observation';
  id?: string;
  meta?: Meta;
  extension?: Extension[];
  identifier: Identifier[];
  status: 'registered' | 'preliminary' | 'final' | 'amended' | 'corrected' | 'cancelled' | 'entered-in-error' | 'unknown';
  category: CodeableConcept[];
  code: CodeableConcept;
  subject: Reference;
  effectivePeriod?: Period;
  effectiveDateTime?: string;
  /** FHIR instant. */
  issued?: string;
  device: Reference;
  valueCodeableConcept?: CodeableConcept;
  valueQuantity?: Quantity;
  dataAbsentReason?: CodeableConcept;
  interpretation?: CodeableConcept[];
  note?: Annotation[];
  derivedFrom?: Reference[];
  component?: ObservationComponent[];
}

export interface Device {
  resourceType: 'Device';
  id?: string;
  meta?: Meta;
  identifier: Identifier[];
  status: 'active' | 'inactive' | 'entered-in-error' | 'unknown';
  serialNumber?: string;
  deviceName?: { name: string; type: 'udi-label-name' | 'user-friendly-name' | 'patient-reported-name' | 'manufacturer-name' | 'model-name' | 'other' }[];
  type?: CodeableConcept;
}

export interface BundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
  request?: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; ifNoneExist?: string; ifMatch?: string };
  response?: { status: string; location?: string; etag?: string };
}

export interface Bundle {
  resourceType: 'Bundle';
  id?: string;
  meta?: Meta;
  type: 'transaction' | 'transaction-response' | 'batch' | 'batch-response' | 'searchset';
  entry?: BundleEntry[];
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
  /** The prior Communication this one answers (a technical alarm's end notice → its onset notice). */
  inResponseTo?: Reference[];
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
