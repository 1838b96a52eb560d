/**
 * The FHIR client port the exporter depends on, and its HTTP adapter (global fetch).
 *
 * Semantics follow the R4 RESTful API (https://hl7.org/fhir/R4/http.html):
 * - conditional create `POST [base]/{type}` with `If-None-Exist: identifier=<system>|<value>`:
 *   201 = created, 200 = exactly one match (nothing created), 412 = more than one match (§ccreate);
 * - update `PUT [base]/{type}/{id}` with `If-Match: W/"<versionId>"`; a stale version answers
 *   412 (or 409) (§concurrency).
 *
 * Failure handling:
 * - 5xx, 408, 429, network errors and timeouts are retried with exponential backoff and full jitter
 *   (backoff.ts), honouring `Retry-After`, up to `retry.maxAttempts`; then PB_FHIR_UNAVAILABLE.
 *   Retrying is safe: conditional create is idempotent, and a repeated If-Match PUT that already
 *   succeeded answers "version conflict", which the caller resolves by reading again.
 * - 409 on a create is retried too: HAPI FHIR answers 409 when two conditional creates race on
 *   the same search, and the retry then finds the winner (200).
 * - 401 (RFC 6750 invalid_token: the token itself is refused): the token provider drops that token
 *   and one fresh token is tried; then PB_FHIR_UNAUTHORIZED. It is not PB_FHIR_REJECTED on purpose:
 *   the credentials are wrong, not the resource, and the exporter must not dead-letter every alert
 *   because a secret expired.
 * - 403 (RFC 6750 insufficient_scope, or the EHR's own policy): the server accepted the token and
 *   refuses this request, e.g. a resource type our scopes do not cover. A new token would carry the
 *   same scopes, so none is fetched; PB_FHIR_REJECTED with `details.status` 403 and the
 *   OperationOutcome text (see {@link isForbidden}), a refusal of this message rather than of us.
 * - 412 on create: PB_FHIR_MULTIPLE_MATCHES; 409/412 on an If-Match PUT: PB_FHIR_VERSION_CONFLICT.
 * - Every other 4xx: PB_FHIR_REJECTED with the OperationOutcome text, not retried.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { PulsebridgeError } from '../platform/errors.ts';
import { readTlsFiles, type TlsFiles } from '../platform/security/tls-files.ts';
import type { BackoffPolicy } from './backoff.ts';
import { backoffDelayMs, DEFAULT_BACKOFF, sleep } from './backoff.ts';
import type { Bundle, FhirResource, Identifier, Meta, OperationOutcome } from './fhir-types.ts';

/** A resource as stored on the server: it has an id. */
export type Stored<T extends FhirResource> = T & { id: string; meta?: Meta };

/**
 * Supplies bearer tokens. SMART Backend Services (fhir-and-alarms.md §3, client-confidential-
 * asymmetric) will implement this in a later issue; the client only needs these two calls.
 */
export interface AccessTokenProvider {
  /** A token valid for at least the next request (the provider caches and renews). */
  getAccessToken(signal?: AbortSignal): Promise<string>;
  /**
   * Called after the server answered 401 to `token`, so the next call fetches a new one. A provider
   * that already holds a newer token keeps it (several requests refused at once fetch one token).
   */
  invalidate?(token?: string): void;
}

export interface FhirRequestOptions {
  /** Aborts the request and any backoff wait; the call then rejects with PB_FHIR_UNAVAILABLE. */
  signal?: AbortSignal;
}

export interface CreateResult<T extends FhirResource> {
  /** `created` = 201; `existing` = 200, one resource already carried the identifier. */
  outcome: 'created' | 'existing';
  status: number;
  /** The created or matching resource, when the server returned it (we ask with `Prefer: return=representation`). */
  resource?: Stored<T>;
  /** From the body, else from the Location header. */
  id?: string;
  /** From the body's meta.versionId, else from the ETag or Location header. */
  versionId?: string;
}

export interface UpdateResult<T extends FhirResource> {
  status: number;
  resource?: Stored<T>;
  versionId?: string;
}

/** The port: what the exporter needs from a FHIR R4 server. */
export interface FhirClient {
  /** Conditional create keyed on the business identifier. */
  createIfNoneExist<T extends FhirResource>(resource: T, identifier: Identifier, options?: FhirRequestOptions): Promise<CreateResult<T>>;
  /** `GET [base]/{type}?identifier=<system>|<value>`: the matching resources. */
  searchByIdentifier<T extends FhirResource>(resourceType: T['resourceType'], identifier: Identifier, options?: FhirRequestOptions): Promise<Stored<T>[]>;
  /** `PUT [base]/{type}/{id}`, with `If-Match: W/"<ifMatchVersionId>"` when given. */
  update<T extends FhirResource>(resource: Stored<T>, options?: FhirRequestOptions & { ifMatchVersionId?: string }): Promise<UpdateResult<T>>;
  /** `POST [base]` with a transaction Bundle: all entries or none (R4 http.html#transaction). Resolves with the transaction-response. */
  transaction(bundle: Bundle, options?: FhirRequestOptions): Promise<Bundle>;
  /**
   * Whether the EHR has left a request unanswered too long (optional: the HTTP adapter has it,
   * test doubles need not). See {@link StalledRequest}.
   */
  stalled?(): StalledRequest | undefined;
}

/**
 * A request of the client outstanding longer than its per-attempt timeout (retries and their
 * waits included): the EHR accepts connections and does not answer, or answers only with errors.
 * Without it /healthz said ok until the request had used up its attempts (5 × 10 s and the waits,
 * about 50 s: EHR walk) and the exporter paused. It holds from the first request outstanding that
 * long (at the latest its first timeout) until the EHR answers a request, so it does not
 * come and go while the EHR hangs: between two attempts of a request, or between a request that
 * used up its attempts and the exporter's next try, nothing answered. (A 4xx counts as an answer:
 * it is about that request, from a server that works.)
 */
export interface StalledRequest {
  /** When a request had been outstanding for the timeout (epoch ms). */
  sinceMs: number;
  /** The request as {@link describeRequest} names it (no query values). */
  request: string;
  /** Its last failed attempt (`timeout after 10000 ms`, `status 503`, `network: …`), or `no answer yet`. */
  reason: string;
}

export interface RetryEvent {
  method: string;
  /** The request as {@link describeRequest} names it (no query values). */
  request: string;
  /** The attempt that failed (1 = first). */
  attempt: number;
  delayMs: number;
  /** `status 503`, `network: …`, `timeout`. */
  reason: string;
}

export interface HttpFhirClientOptions {
  /** FHIR base URL, e.g. `https://ehr.example.org/fhir/R4` (a trailing slash is ignored). */
  baseUrl: string;
  /** Defaults: 5 attempts, 200 ms base, 10 s cap (backoff.ts DEFAULT_BACKOFF). */
  retry?: Partial<BackoffPolicy>;
  /** Per-attempt timeout, ms. Default 10 000. */
  requestTimeoutMs?: number;
  tokenProvider?: AccessTokenProvider;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Jitter source, uniform in [0, 1). Defaults to Math.random. */
  random?: () => number;
  /** Observability hook, called before each backoff wait. */
  onRetry?: (event: RetryEvent) => void;
  /** Clock of {@link FhirClient.stalled} (the timeouts themselves run on timers). Default Date.now. */
  now?: () => number;
}

const FHIR_JSON = 'application/fhir+json';

/** FHIR search escaping (R4 search §3.1.1.5.11): `\`, `|`, `,` and `$` are escaped with a backslash. */
export function escapeSearchValue(value: string): string {
  return value.replace(/[\\|,$]/g, '\\$&');
}

/**
 * The `identifier` token as it goes on the wire: each part escaped, then percent-encoded; the
 * system/value separator `|` stays literal (as in fhir-examples/bundle.json).
 */
export function identifierQuery(identifier: Identifier): string {
  return `identifier=${encodeURIComponent(escapeSearchValue(identifier.system))}|${encodeURIComponent(escapeSearchValue(identifier.value))}`;
}

/** One line per issue: `error invalid: details (diagnostics) @ Observation.status`. */
export function describeOperationOutcome(body: unknown): string | undefined {
  if (!isOperationOutcome(body)) return undefined;
  const lines = body.issue.map((i) => {
    const text = [i.details?.text, i.diagnostics].filter(Boolean).join(' — ') || '(no text)';
    const where = i.expression?.length ? ` @ ${i.expression.join(', ')}` : '';
    return `${i.severity} ${i.code}: ${text}${where}`;
  });
  return lines.join('; ');
}

function isOperationOutcome(body: unknown): body is OperationOutcome {
  return typeof body === 'object' && body !== null && (body as { resourceType?: unknown }).resourceType === 'OperationOutcome' && Array.isArray((body as { issue?: unknown }).issue);
}

/** `W/"3"` → `3`. */
function versionFromEtag(etag: string | null): string | undefined {
  return etag ? /"([^"]+)"/.exec(etag)?.[1] : undefined;
}

/** `…/Observation/abc/_history/3` → { id: abc, versionId: 3 }. */
function parseLocation(location: string | null, resourceType: string): { id?: string; versionId?: string } {
  if (!location) return {};
  const m = new RegExp(`(?:^|/)${resourceType}/([^/?#]+)(?:/_history/([^/?#]+))?`).exec(location);
  return { id: m?.[1], versionId: m?.[2] };
}

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3), as ms from now. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

interface Sent {
  status: number;
  headers: Headers;
  body: unknown;
}

interface SendOptions extends FhirRequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** `create`: 412 = multiple matches, 409 retried. `versioned-update`: 409/412 = version conflict. */
  kind: 'create' | 'versioned-update' | 'other';
}

class HttpFhirClient implements FhirClient {
  readonly #base: string;
  readonly #policy: BackoffPolicy;
  readonly #timeoutMs: number;
  readonly #tokens: AccessTokenProvider | undefined;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #onRetry: ((e: RetryEvent) => void) | undefined;
  readonly #now: () => number;
  /** Requests under way (#send: from the first attempt to the answer or the last failure), oldest first. */
  readonly #inFlight = new Set<{ startedMs: number; request: string; reason: string }>();
  /** Set once a request was outstanding for the timeout; cleared by the next answer (2xx or a 4xx other than 408/429). */
  #stalled: StalledRequest | undefined;

  constructor(options: HttpFhirClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#policy = { ...DEFAULT_BACKOFF, ...options.retry };
    if (!(this.#policy.maxAttempts >= 1)) throw new PulsebridgeError('PB_CONFIG_INVALID', 'retry.maxAttempts must be at least 1');
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#tokens = options.tokenProvider;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#random = options.random ?? Math.random;
    this.#onRetry = options.onRetry;
    this.#now = options.now ?? Date.now;
  }

  stalled(): StalledRequest | undefined {
    // A Set iterates in insertion order: the first is the oldest request under way.
    const oldest = this.#inFlight.values().next().value;
    if (oldest && this.#now() - oldest.startedMs >= this.#timeoutMs) {
      const sinceMs = Math.min(this.#stalled?.sinceMs ?? Number.POSITIVE_INFINITY, oldest.startedMs + this.#timeoutMs);
      this.#stalled = { sinceMs, request: oldest.request, reason: oldest.reason };
    }
    return this.#stalled && { ...this.#stalled };
  }

  async createIfNoneExist<T extends FhirResource>(resource: T, identifier: Identifier, options: FhirRequestOptions = {}): Promise<CreateResult<T>> {
    const res = await this.#send('POST', resource.resourceType, {
      ...options,
      kind: 'create',
      body: resource,
      headers: { 'If-None-Exist': identifierQuery(identifier) },
    });
    const stored = asResource<T>(res.body, resource.resourceType);
    const loc = parseLocation(res.headers.get('location'), resource.resourceType);
    return {
      outcome: res.status === 201 ? 'created' : 'existing',
      status: res.status,
      resource: stored,
      id: stored?.id ?? loc.id,
      versionId: stored?.meta?.versionId ?? versionFromEtag(res.headers.get('etag')) ?? loc.versionId,
    };
  }

  async searchByIdentifier<T extends FhirResource>(resourceType: T['resourceType'], identifier: Identifier, options: FhirRequestOptions = {}): Promise<Stored<T>[]> {
    const res = await this.#send('GET', `${resourceType}?${identifierQuery(identifier)}`, { ...options, kind: 'other' });
    const entries = (res.body as { entry?: { resource?: unknown; search?: { mode?: string } }[] } | undefined)?.entry ?? [];
    return entries
      .filter((e) => e.search?.mode === undefined || e.search.mode === 'match')
      .map((e) => asResource<T>(e.resource, resourceType))
      .filter((r): r is Stored<T> => r !== undefined);
  }

  async update<T extends FhirResource>(resource: Stored<T>, options: FhirRequestOptions & { ifMatchVersionId?: string } = {}): Promise<UpdateResult<T>> {
    const { ifMatchVersionId, ...rest } = options;
    const res = await this.#send('PUT', `${resource.resourceType}/${encodeURIComponent(resource.id)}`, {
      ...rest,
      kind: ifMatchVersionId === undefined ? 'other' : 'versioned-update',
      body: resource,
      headers: ifMatchVersionId === undefined ? {} : { 'If-Match': `W/"${ifMatchVersionId}"` },
    });
    const stored = asResource<T>(res.body, resource.resourceType);
    return { status: res.status, resource: stored, versionId: stored?.meta?.versionId ?? versionFromEtag(res.headers.get('etag')) };
  }

  async transaction(bundle: Bundle, options: FhirRequestOptions = {}): Promise<Bundle> {
    const res = await this.#send('POST', '', { ...options, kind: 'create', body: bundle });
    const body = res.body as Bundle | undefined;
    if (!body || body.resourceType !== 'Bundle') {
      throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `FHIR transaction answered ${res.status} without a Bundle`, { details: { status: res.status } });
    }
    return body;
  }

  async #send(method: string, path: string, options: SendOptions): Promise<Sent> {
    const request = describeRequest(method, path);
    const underWay = { startedMs: this.#now(), request, reason: 'no answer yet' };
    this.#inFlight.add(underWay);
    try {
      return await this.#attempts(method, path, request, options, underWay);
    } finally {
      this.#inFlight.delete(underWay);
    }
  }

  async #attempts(method: string, path: string, request: string, options: SendOptions, underWay: { reason: string }): Promise<Sent> {
    const url = path === '' ? this.#base : `${this.#base}/${path}`;
    // Errors, retries and details name the request without its query values (PHI, see describeRequest).
    const phi = queryValues(path);
    const { signal } = options;
    let refreshedToken = false;
    let lastReason = 'no attempt made';
    let lastStatus: number | undefined;
    for (let attempt = 1; attempt <= this.#policy.maxAttempts; attempt++) {
      throwIfAborted(signal, request);
      const headers: Record<string, string> = { Accept: FHIR_JSON, ...options.headers };
      if (options.body !== undefined) {
        headers['Content-Type'] = FHIR_JSON;
        headers.Prefer = 'return=representation';
      }
      const token = this.#tokens ? await this.#accessToken(signal, request) : undefined;
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      let response: Response;
      let body: unknown;
      try {
        const timeout = AbortSignal.timeout(this.#timeoutMs);
        response = await this.#fetch(url, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        body = parseBody(await response.text());
      } catch (err) {
        throwIfAborted(signal, request);
        lastReason = err instanceof Error && err.name === 'TimeoutError' ? `timeout after ${this.#timeoutMs} ms` : `network: ${describeError(err)}`;
        lastStatus = undefined;
        underWay.reason = lastReason;
        // An attempt timed out: it was outstanding for the timeout, whatever the clock says.
        if (err instanceof Error && err.name === 'TimeoutError') this.#stalled ??= { sinceMs: this.#now(), request, reason: lastReason };
        await this.#backoff(method, request, attempt, lastReason, undefined, signal);
        continue;
      }
      const status = response.status;
      // The EHR answered (a 4xx is an answer about this request, not a server that cannot answer).
      if (status < 500 && status !== 408 && status !== 429) this.#stalled = undefined;
      if (status >= 200 && status < 300) return { status, headers: response.headers, body };

      // A server may echo the search in its answer ("no match for identifier=…").
      const outcomeText = elide(describeOperationOutcome(body) ?? snippet(body), phi);
      const details = { method, request, status, outcome: outcomeText, operationOutcome: isOperationOutcome(body) ? body : undefined };
      if (status === 401 && this.#tokens && !refreshedToken) {
        // One immediate retry with a fresh token: the cached one may have expired early or been revoked.
        refreshedToken = true;
        this.#tokens.invalidate?.(token);
        attempt--;
        continue;
      }
      if (status === 401) {
        throw new PulsebridgeError('PB_FHIR_UNAUTHORIZED', `FHIR server refused ${request} with ${status}: ${outcomeText}`, { details });
      }
      if (status === 403) {
        throw new PulsebridgeError('PB_FHIR_REJECTED', `FHIR server forbade ${request} (403): ${outcomeText}`, { details });
      }
      if (options.kind === 'create' && status === 412) {
        throw new PulsebridgeError('PB_FHIR_MULTIPLE_MATCHES', `FHIR conditional create ${request} matched more than one resource (412): ${outcomeText}`, { details });
      }
      if (options.kind === 'versioned-update' && (status === 409 || status === 412)) {
        throw new PulsebridgeError('PB_FHIR_VERSION_CONFLICT', `FHIR ${request} hit a version conflict (${status}): ${outcomeText}`, { details });
      }
      if (status === 404 || status === 405) {
        // We only address the base, a resource type or a resource we just read: "not found" here
        // means the endpoint is wrong (base URL, a server without that type), which no message can fix.
        throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `FHIR ${request} answered ${status}: is PULSEBRIDGE_FHIR_BASE_URL (${this.#base}) right? ${outcomeText}`, { details });
      }
      const retryable = status >= 500 || status === 408 || status === 429 || (status === 409 && options.kind === 'create');
      if (!retryable) {
        throw new PulsebridgeError('PB_FHIR_REJECTED', `FHIR server rejected ${request} with ${status}: ${outcomeText}`, { details });
      }
      lastReason = `status ${status}`;
      lastStatus = status;
      underWay.reason = lastReason;
      await this.#backoff(method, request, attempt, lastReason, retryAfterMs(response.headers.get('retry-after')), signal);
    }
    throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `FHIR ${request} failed after ${this.#policy.maxAttempts} attempts (last: ${lastReason})`, {
      details: { method, request, attempts: this.#policy.maxAttempts, lastReason, status: lastStatus },
    });
  }

  async #accessToken(signal: AbortSignal | undefined, request: string): Promise<string> {
    try {
      return await this.#tokens!.getAccessToken(signal);
    } catch (err) {
      if (err instanceof PulsebridgeError) throw err;
      throw new PulsebridgeError('PB_FHIR_UNAUTHORIZED', `could not obtain an access token for ${request}: ${describeError(err)}`, { cause: err, details: { request } });
    }
  }

  /** Waits before the next attempt; does nothing after the last one. */
  async #backoff(method: string, request: string, attempt: number, reason: string, retryAfter: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (attempt >= this.#policy.maxAttempts) return;
    const jittered = backoffDelayMs(attempt, this.#policy, this.#random);
    const delayMs = Math.min(this.#policy.maxDelayMs, Math.max(jittered, retryAfter ?? 0));
    this.#onRetry?.({ method, request, attempt, delayMs, reason });
    try {
      await sleep(delayMs, signal);
    } catch {
      throwIfAborted(signal, request);
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined, request: string): void {
  if (signal?.aborted) {
    throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `FHIR ${request} aborted`, { cause: signal.reason, details: { request, aborted: true } });
  }
}

/**
 * How a request is named in errors, retries, logs and /healthz: relative to the base, with every
 * query value elided (`GET /Patient?identifier=…`). A search value is an MRN or another
 * identifier: PHI, which the logs and the unauthenticated /healthz must not carry. `POST` to the
 * base itself is the transaction: `POST [base] (transaction)`.
 */
export function describeRequest(method: string, path: string): string {
  if (path === '') return `${method} [base] (transaction)`;
  const [resource, query] = path.split('?', 2) as [string, string | undefined];
  const names = query === undefined ? '' : `?${query.split('&').map((p) => `${p.split('=')[0]}=…`).join('&')}`;
  return `${method} /${resource}${names}`;
}

/** A request's query values as a server might echo them: whole, and each part of a `system|value` token. */
function queryValues(path: string): string[] {
  const query = path.split('?', 2)[1];
  if (query === undefined) return [];
  const values = [...new URLSearchParams(query).values()].flatMap((v) => [v, ...v.split('|')]);
  // Longest first, so a whole token goes before its parts; very short parts would elide ordinary text.
  return values.filter((v) => v.length >= 3).sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of `values` replaced by `…`. */
function elide(text: string, values: string[]): string {
  return values.reduce((t, v) => t.split(v).join('…'), text);
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function asResource<T extends FhirResource>(body: unknown, resourceType: string): Stored<T> | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const r = body as { resourceType?: unknown; id?: unknown };
  return r.resourceType === resourceType && typeof r.id === 'string' ? (body as Stored<T>) : undefined;
}

function snippet(body: unknown): string {
  if (body === undefined) return '(empty body)';
  const s = typeof body === 'string' ? body : JSON.stringify(body);
  return s.length > 500 ? `${s.slice(0, 500)}…` : s;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  // undici reports the socket-level reason (ECONNREFUSED, ECONNRESET) in `cause`.
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}

/** A 403: the server knows us and refuses this one request (a scope or policy we lack for it). */
export function isForbidden(err: unknown): err is PulsebridgeError {
  return err instanceof PulsebridgeError && err.code === 'PB_FHIR_REJECTED' && err.details?.status === 403;
}

/** TLS to the EHR beyond Node's defaults (PEM texts). */
export type FhirTls = TlsFiles;

/**
 * Reads PULSEBRIDGE_FHIR_CA_FILE / _CLIENT_CERT / _CLIENT_KEY at start-up and checks them, so a
 * wrong file is one line at start rather than a pause on the first alert ("unable to verify the
 * first certificate", a handshake failure). Undefined when none is set.
 * @throws PB_CONFIG_INVALID naming the setting and the file.
 */
export function readFhirTls(files: { caFile?: string; certFile?: string; keyFile?: string }): FhirTls | undefined {
  const result = readTlsFiles('PULSEBRIDGE_FHIR', files);
  return result.ca || result.cert ? result : undefined;
}

/**
 * A `fetch` over node:https with {@link FhirTls}, for the FHIR client and the SMART token requests.
 * Node's global fetch takes no CA or client certificate per call (only an undici dispatcher, and
 * undici is not a dependency; NODE_EXTRA_CA_CERTS would change the whole process and does no mTLS).
 * It does what the exporter's calls need: method, headers, a string body, the abort signal, and a
 * Response with status, headers and body.
 */
export function fetchWithTls(o: FhirTls): typeof fetch {
  // The extra CA adds to the default roots (which include NODE_EXTRA_CA_CERTS) rather than
  // replacing them, so an EHR or token server with a public certificate still verifies.
  const agent = new https.Agent({ keepAlive: true, ...(o.ca ? { ca: [...tls.getCACertificates('default'), o.ca] } : {}), ...(o.cert ? { cert: o.cert, key: o.key } : {}) });
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') throw new TypeError('fetchWithTls sends string bodies only');
      const signal = init.signal ?? undefined;
      const options = { method: init.method ?? 'GET', headers: Object.fromEntries(new Headers(init.headers)), signal };
      const onResponse = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const status = res.statusCode ?? 502;
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) headers.append(name, v);
          // A Response with status 204/304 may have no body.
          const body = [101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, statusText: res.statusMessage, headers }));
        });
      };
      // An abort (the caller's or the per-request timeout) rejects with the signal's reason, as fetch does.
      function fail(err: Error) {
        reject(signal?.aborted ? signal.reason : err);
      }
      const req = url.protocol === 'https:' ? https.request(url, { ...options, agent }, onResponse) : http.request(url, options, onResponse);
      req.on('error', fail);
      req.end(init.body ?? undefined);
    });
}

/** The HTTP adapter of {@link FhirClient}. */
export function createHttpFhirClient(options: HttpFhirClientOptions): FhirClient {
  return new HttpFhirClient(options);
}
