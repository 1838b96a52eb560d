/**
 * A real FHIR R4 server for tests: @medplum/fhir-router's FhirRouter over its MemoryRepository,
 * served by node:http on a random local port. The HTTP layer here only translates:
 * method, path relative to the base, query, headers (If-None-Exist, If-Match, …) and JSON body
 * become a FhirRequest; the router's [OperationOutcome, resource] becomes status (medplum's
 * getStatus), body and the headers a FHIR server sends (Content-Type, ETag, Last-Modified, Location).
 *
 * What the router does itself (fhirrouter.ts in the package source map): `POST :type` with an
 * `if-none-exist` header calls repo.conditionalCreate (0 matches → 201, 1 → 200 with the match,
 * >1 → 412); `PUT :type/:id` passes `If-Match` (W/"v" → v) to updateResource (stale → 412);
 * `PUT :type?search` is a conditional update. MemoryRepository.conditionalCreate searches and
 * creates synchronously, so concurrent creates with the same criteria cannot both create.
 *
 * Like the Medplum server, writes are validated (validateResource) and refused with 400 +
 * OperationOutcome. Failure injection: `failNext(n, …)` answers the next n requests with a chosen
 * status (503 by default) and OperationOutcome, without touching the repository.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus } from '@medplum/core';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions, validateFhir } from './fhir-validate.ts';

export interface RecordedRequest {
  method: string;
  /** Path and query relative to the FHIR base, e.g. `Observation?identifier=…`. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** The status the server answered. */
  status: number;
  /** True when the answer came from failure injection. */
  injected: boolean;
  /** Wall-clock time the request was answered, ms since the epoch (benchmarks measure delays with it). */
  atMs: number;
}

export interface FailureSpec {
  /** Default 503. */
  status?: number;
  /** Diagnostics text of the OperationOutcome sent back (or a full OperationOutcome). */
  outcome?: string | OperationOutcome;
  headers?: Record<string, string>;
  /** Only requests with this method count (and fail); others pass. */
  method?: string;
}

export interface FhirTestServer {
  /** E.g. `http://127.0.0.1:40123/fhir/R4` (no trailing slash). */
  baseUrl: string;
  repo: MemoryRepository;
  /** Every request in arrival order. */
  requests: RecordedRequest[];
  /** Answers the next `count` (matching) requests with a failure instead of handling them. */
  failNext(count: number, spec?: FailureSpec): void;
  /** Ends every pending failure injection (the EHR is back). */
  clearFailures(): void;
  close(): Promise<void>;
}

export interface FhirServerOptions {
  /** Validate POST/PUT bodies and refuse invalid ones with 400, like the Medplum server. Default true. */
  validateOnWrite?: boolean;
  /** Default `/fhir/R4`. */
  basePath?: string;
  /**
   * Bearer-token check in front of the router (a SMART-protected EHR): requests whose
   * Authorization header it refuses get 401 + OperationOutcome. Default: no authentication.
   */
  authorize?: (authorization: string | undefined) => boolean;
  /** Served at `{base}/.well-known/smart-configuration` without authentication. */
  smartConfiguration?: () => object;
  /** Listen on this port (0 = any). With `repo`, a test can stop the server and start it again: an EHR outage. */
  port?: number;
  /** The repository to serve (default a new MemoryRepository). */
  repo?: MemoryRepository;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const METHODS = new Set<HttpMethod>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function outcome(code: string, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: code as 'processing', diagnostics }] };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the server on 127.0.0.1 at a random port. */
export async function startFhirServer(options: FhirServerOptions = {}): Promise<FhirTestServer> {
  loadFhirDefinitions();
  const validateOnWrite = options.validateOnWrite ?? true;
  const basePath = (options.basePath ?? '/fhir/R4').replace(/\/+$/, '');
  const repo = options.repo ?? new MemoryRepository();
  const router = new FhirRouter();
  const requests: RecordedRequest[] = [];
  const failures: { remaining: number; spec: FailureSpec }[] = [];
  let baseUrl = '';

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': FHIR_JSON, ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const url = rawUrl.startsWith(`${basePath}/`) || rawUrl === basePath ? rawUrl.slice(basePath.length).replace(/^\/+/, '') : undefined;
    const text = await readBody(req);
    let body: unknown;
    const record = (status: number, injected = false) => requests.push({ method, url: url ?? rawUrl, headers: req.headers, body, status, injected, atMs: Date.now() });

    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch (err) {
        record(400);
        return send(res, 400, outcome('structure', `request body is not JSON: ${(err as Error).message}`));
      }
    }
    if (url === '.well-known/smart-configuration' && options.smartConfiguration) {
      record(200);
      return send(res, 200, options.smartConfiguration(), { 'Content-Type': 'application/json' });
    }
    if (options.authorize && !options.authorize(req.headers.authorization)) {
      record(401);
      return send(res, 401, outcome('login', 'missing, unknown or expired bearer token'), { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    const failure = failures.find((f) => f.remaining > 0 && (f.spec.method === undefined || f.spec.method.toUpperCase() === method));
    if (failure) {
      failure.remaining--;
      const status = failure.spec.status ?? 503;
      const oo = typeof failure.spec.outcome === 'object' ? failure.spec.outcome : outcome(status >= 500 ? 'transient' : 'processing', failure.spec.outcome ?? `injected failure ${status}`);
      record(status, true);
      return send(res, status, oo, failure.spec.headers);
    }
    if (url === undefined) {
      record(404);
      return send(res, 404, outcome('not-found', `not under the FHIR base ${basePath}`));
    }
    if (!METHODS.has(method as HttpMethod)) {
      record(405);
      return send(res, 405, outcome('not-supported', `method ${method} not supported`));
    }
    if (validateOnWrite && (method === 'POST' || method === 'PUT') && body && typeof body === 'object') {
      // A transaction or batch is validated entry by entry, as the Medplum server does.
      const resources = (body as Resource).resourceType === 'Bundle'
        ? ((body as { entry?: { resource?: Resource }[] }).entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined)
        : [body as Resource];
      const errors = resources.flatMap((r) => validateFhir(r).errors);
      if (errors.length > 0) {
        record(400);
        return send(res, 400, { resourceType: 'OperationOutcome', issue: errors } satisfies OperationOutcome);
      }
    }
    const fhirRequest: FhirRequest = { method: method as HttpMethod, url, pathname: '', params: {}, query: {}, body, headers: req.headers };
    const [result, resource] = await router.handleRequest(fhirRequest, repo);
    const status = getStatus(result);
    const headers: Record<string, string> = {};
    const versionId = resource?.meta?.versionId;
    if (resource && versionId) {
      headers.ETag = `W/"${versionId}"`;
      if (resource.meta?.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      if (status === 201) headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${versionId}`;
    }
    record(status);
    send(res, status, resource ?? result, headers);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, outcome('exception', `test server error: ${(err as Error).message}`));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${basePath}`;

  return {
    baseUrl,
    repo,
    requests,
    failNext(count, spec = {}) {
      failures.push({ remaining: count, spec });
    },
    clearFailures() {
      failures.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // fetch keeps connections alive; without this close() waits for their idle timeout.
        server.closeAllConnections();
      }),
  };
}
