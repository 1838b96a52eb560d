/**
 * Minimal structured logger: one JSON object per line on stderr. Hot paths log per batch or on
 * error, never per message at info level.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * Secrets that may sit inside a logged value: a token in a URL query (`access_token=…`, the
 * WebSocket's fallback, product.md), an Authorization header value, the stream's `bearer.<JWT>`
 * subprotocol, a JSON `token` field, or any JWT-shaped string. Every log line and every
 * audit line passes through this, whoever built the string (issue 13: a token must never land in
 * a log). Matches the parameter names OAuth 2.0 and OIDC use.
 */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/((?:access_token|id_token|refresh_token|token)=)[^&\s"'#]+/gi, '$1[redacted]'],
  [/(Bearer\s+)[A-Za-z0-9._~+/-]+=*/gi, '$1[redacted]'],
  // The stream's `bearer.<JWT>` WebSocket subprotocol, and a token in a JSON field.
  [/(bearer\.)[A-Za-z0-9._~+/-]+=*/gi, '$1[redacted]'],
  [/("(?:access_token|id_token|refresh_token|token)\\?"\s*:\s*\\?")[^"\\]+/gi, '$1[redacted]'],
  // Whatever carried it: anything shaped like a signed JWT (header.payload.signature).
  [/eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+/g, '[redacted-jwt]'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

export function createLogger(level: LogLevel = 'info', base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < RANK[level]) return;
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields ?? {})) extra[k] = v instanceof Error ? { message: v.message, code: (v as { code?: unknown }).code } : v;
    write(redactSecrets(JSON.stringify({ time: new Date().toISOString(), level: lvl, ...base, msg, ...extra })));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger(level, { ...base, ...f }, write),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger('error', {}, () => {});
