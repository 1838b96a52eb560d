/**
 * Extra `/v1` route modules for the dashboard API (e.g. routes-devices.ts): a module matches a
 * path and gets the authenticated caller, the request, an audit function and the request body.
 * server.ts authenticates, meters and maps errors for them exactly as for its own routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEntry } from './audit.ts';
import type { Principal } from './auth.ts';
import { badRequest } from './http-util.ts';
import { PulsebridgeError } from '../platform/errors.ts';

/** What a module's handler receives. */
export interface RouteRequest {
  principal: Principal;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Writes an access-audit entry; throws PB_AUDIT_FAILED when it cannot (the request then fails). */
  audit(entry: Omit<AuditEntry, 'at' | 'actor' | 'remoteAddress'>): Promise<void>;
  /** The request body (at most {@link MAX_BODY_BYTES}). */
  body(): Promise<Buffer>;
}

export interface RouteMatch {
  /** Route template, the metrics label, e.g. `/v1/devices/{id}`. */
  route: string;
  /** The method this path allows (others get 405 with `Allow`). */
  method: string;
  run(request: RouteRequest): Promise<void>;
}

export interface RouteModule {
  /** The route for this path and method, or undefined when the module does not serve the path. */
  match(pathname: string, method: string): RouteMatch | undefined;
}

/** Bodies are small JSON documents (a device command); anything bigger is refused. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Starts reading the body at once (so nothing is lost while the request is authenticated) and
 * keeps at most `maxBytes`; the rest is drained. Like `req.resume()`, it keeps keep-alive
 * connections usable when nobody asks for the body.
 */
export function bufferBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): () => Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  const done = new Promise<void>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.once('end', () => resolve());
    req.once('error', reject);
  });
  done.catch(() => {}); // a body nobody asks for may fail unobserved
  return async () => {
    await done;
    if (tooLarge) throw new PulsebridgeError('PB_HTTP_BAD_REQUEST', `the request body exceeds ${maxBytes} bytes`, { details: { status: 413 } });
    return Buffer.concat(chunks);
  };
}

/** Parses a JSON request body; 400 when it is not JSON. An empty body is `{}`. */
export async function jsonBody(request: RouteRequest): Promise<unknown> {
  const raw = await request.body();
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw badRequest('the request body must be JSON');
  }
}
