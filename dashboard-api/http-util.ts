/**
 * Small HTTP helpers of the clinician API: JSON responses, the `{error:{code,message}}` shape,
 * status codes for error codes, and query-parameter parsing.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { DEVICE_ID_PATTERN, PATIENT_ID_PATTERN } from '../contracts/topics.ts';
import { ERROR_CODES, PulsebridgeError } from '../platform/errors.ts';
import type { ErrorCode } from '../platform/errors.ts';

/** Headers on every response: no caching of PHI, no MIME sniffing, no referrer leaks. */
export const BASE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
});

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  PB_HTTP_BAD_REQUEST: 400,
  PB_AUTH_INVALID_TOKEN: 401,
  PB_AUTH_FORBIDDEN: 403,
  PB_NOT_FOUND: 404,
  PB_ALERT_RESOLVED: 409,
  PB_AUDIT_FAILED: 500,
  PB_INTERNAL: 500,
  PB_STORE_QUERY_FAILED: 503,
  PB_BUS_UNAVAILABLE: 503,
  PB_BUS_CLOSED: 503,
  PB_HTTP_BUSY: 503,
  PB_AUTH_DISCOVERY_FAILED: 503,
};

/** An error as the API reports it. */
export interface ApiError {
  status: number;
  code: ErrorCode;
  message: string;
  headers?: Record<string, string>;
}

/**
 * Maps any thrown value to the API error. PulsebridgeErrors keep their code (and, below 500, their
 * message, written for the caller); anything else becomes PB_INTERNAL without internals.
 */
export function toApiError(err: unknown): ApiError {
  if (!(err instanceof PulsebridgeError)) return { status: 500, code: 'PB_INTERNAL', message: ERROR_CODES.PB_INTERNAL };
  const explicit = err.details?.['status'];
  const status = typeof explicit === 'number' ? explicit : (STATUS_OF[err.code] ?? 500);
  // Server-side failures get the code's generic sentence: their messages name files and hosts.
  const apiError: ApiError = { status, code: err.code, message: status >= 500 ? ERROR_CODES[err.code] : err.message };
  const allow = err.details?.['allow'];
  if (typeof allow === 'string') apiError.headers = { allow };
  const retryAfterS = err.details?.['retryAfterS'];
  if (typeof retryAfterS === 'number') apiError.headers = { ...apiError.headers, 'retry-after': String(retryAfterS) };
  if (err.code === 'PB_AUTH_INVALID_TOKEN') {
    // RFC 6750 §3: tell the client which scheme and why.
    apiError.headers = { 'www-authenticate': `Bearer realm="pulsebridge", error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"` };
  }
  return apiError;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...BASE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
}

/** Answers a WebSocket upgrade request with a plain HTTP error and closes the socket. */
export function rejectUpgrade(socket: Duplex, error: ApiError): void {
  const body = JSON.stringify({ error: { code: error.code, message: error.message } });
  const headers = {
    ...BASE_HEADERS,
    ...error.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  const head = [`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  socket.end(`${head}\r\n\r\n${body}`);
}

export function badRequest(message: string): PulsebridgeError {
  return new PulsebridgeError('PB_HTTP_BAD_REQUEST', message);
}

/**
 * A time query parameter: milliseconds since the epoch (digits) or an ISO 8601 date/time.
 * Undefined when absent; throws 400 when unparseable.
 */
export function parseTimeParam(name: string, value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  if (/^-?\d{1,16}$/.test(value)) return Number(value);
  // Date.parse accepts many formats; insist on ISO 8601's leading YYYY-MM-DD.
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw badRequest(`${name} must be milliseconds since the epoch or an ISO 8601 time, got ${JSON.stringify(value)}`);
  return ms;
}

/**
 * A patient or device id from the path: decoded, then held to the id alphabet
 * (contracts/topics.ts), so `..`, `/`, NUL or anything else never reaches a store or a file name.
 * 400 otherwise; the answer names no patient, so it tells an outsider nothing.
 */
export function idSegment(kind: 'patient' | 'device', raw: string): string {
  const id = pathSegment(raw);
  const pattern = kind === 'patient' ? PATIENT_ID_PATTERN : DEVICE_ID_PATTERN;
  if (!pattern.test(id) || id === '.' || id === '..') throw badRequest(`not a ${kind} id: ids are 1–64 of A–Z a–z 0–9 . _ -`);
  return id;
}

/** Decodes one path segment; 400 on bad percent-encoding. */
export function pathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest('malformed percent-encoding in the path');
  }
}
