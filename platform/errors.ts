/**
 * Every error code Pulsebridge raises, in one place. Codes are stable and never reused.
 */
export const ERROR_CODES = {
  PB_CONFIG_INVALID: 'configuration is invalid',
  PB_BUS_CLOSED: 'the bus is closed',
  PB_BUS_UNAVAILABLE: 'the bus did not acknowledge',
  PB_STORE_WRITE_FAILED: 'the time-series store rejected a write',
  PB_STORE_QUERY_FAILED: 'the time-series store rejected a query',
  PB_REGISTRY_UNKNOWN_DEVICE: 'the device is not registered',
  PB_REGISTRY_INVALID: 'invalid device registry input',
  PB_PKI_FAILED: 'certificate generation failed',
  PB_AUTH_INVALID_TOKEN: 'the bearer token is missing or invalid',
  PB_AUTH_FORBIDDEN: 'the caller may not access this resource',
  PB_FHIR_REJECTED: 'the FHIR server rejected the resource',
  PB_FHIR_UNAVAILABLE: 'the FHIR server could not be reached',
  PB_FHIR_MULTIPLE_MATCHES: 'the FHIR conditional create matched more than one resource',
  PB_FHIR_VERSION_CONFLICT: 'the FHIR resource changed since it was read (If-Match failed)',
  PB_FHIR_UNAUTHORIZED: 'the FHIR server refused our credentials',
  PB_EHR_PATIENT_UNKNOWN: 'the EHR has no Patient with this MRN (yet)',
  PB_HL7_NAK: 'the HL7 v2 receiver answered with an error ACK',
  PB_WFDB_INVALID: 'the WFDB record could not be read',
  PB_SIM_FAILED: 'the simulator failed',
  PB_NOT_FOUND: 'not found',
  PB_AUTH_KEY_INVALID: 'the development issuer key file is unreadable or invalid',
  PB_AUTH_DISCOVERY_FAILED: 'the OpenID Connect issuer metadata could not be fetched or is invalid',
  PB_AUDIT_FAILED: 'the audit log could not be written',
  PB_HTTP_BAD_REQUEST: 'the request is malformed',
  PB_ALERT_RESOLVED: 'the alert is already resolved',
  PB_INTERNAL: 'an unexpected internal error occurred',
  PB_COMMAND_INVALID: 'the device command is invalid',
  PB_CRITERIA_CONFLICT: 'the alarm criteria changed since the version the change was based on',
  PB_REGISTRY_CONFLICT: 'the registry entry kept changing concurrently; the change was not made',
  PB_HTTP_BUSY: 'the server is answering as many requests as it may; retry shortly',
  PB_STORAGE_UNAVAILABLE: 'the data folder or a database file in it cannot be written (read-only, full, or missing)',
  PB_PROCESSOR_STOPPING: 'the processor is stopping; the batch is left to its successor',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PulsebridgeError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PulsebridgeError';
    this.code = code;
    this.details = options.details;
  }
}
