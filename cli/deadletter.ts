/**
 * `pulsebridge deadletter …` (operators): every rejected message with its reason and the first
 * bytes of its raw payload, on both buses.
 *
 *   list [--source gateway|processor|ehr-exporter] [--reason R] [--device ID] [--since ISO] [--limit 50] [--json]
 *   show <id> [--json]           the whole record (payload as base64, and as text when printable)
 *   replay <id> [--timeout 10s]  re-publish it where it came from (cli/dead-letter-replay.ts)
 *
 * Embedded: from the archive in the data folder (platform/dead-letters/archive-sqlite.ts), which
 * the running demo fills; a replay is performed by the running demo. On Kafka: straight from the
 * `pb.deadletter.v1` stream, from any host; a replay publishes from here. Dead letters hold raw
 * device payloads, so every use is appended to the PHI audit trail (actor `cli:$USER`, role admin).
 */
import type { DeadLetterSource } from '../contracts/telemetry.ts';
import { JsonlAuditSink, type AuditAction, type AuditOutcome } from '../dashboard-api/audit.ts';
import { openBus, withRegistry } from '../platform/adapters.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import {
  DeadLetterArchive, deadLetterArchivePath, matches, scanKafkaDeadLetters, summarize,
  type DeadLetterEntry, type DeadLetterFilter,
} from '../platform/dead-letters/index.ts';
import { createLogger } from '../platform/log.ts';
import { parseDurationMs, UsageError } from './args.ts';
import { replayDeadLetter } from './dead-letter-replay.ts';

export interface DeadLetterCommandInput {
  config: Readonly<PulsebridgeConfig>;
  action: string | undefined;
  id: string | undefined;
  source?: string | undefined;
  reason?: string | undefined;
  deviceId?: string | undefined;
  since?: string | undefined;
  limit?: string | undefined;
  timeout?: string | undefined;
  json: boolean;
  actor: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** How often an embedded replay's outcome is re-read, ms. Default 200. */
  pollMs?: number;
}

const SOURCES: readonly DeadLetterSource[] = ['gateway', 'processor', 'ehr-exporter'];
/** Bytes of raw payload shown per line in `list`. */
const LIST_PREFIX_BYTES = 48;

/** Printable ASCII as is, everything else as \xNN: a raw prefix an operator can read on a terminal. */
export function printablePrefix(payload: Buffer, bytes: number): string {
  let out = '';
  for (const b of payload.subarray(0, bytes)) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return payload.length > bytes ? `${out}…` : out;
}

async function collect(input: DeadLetterCommandInput, filter: DeadLetterFilter, limit: number): Promise<DeadLetterEntry[]> {
  const { config } = input;
  if (config.bus.kind === 'kafka') {
    const kept: DeadLetterEntry[] = [];
    await scanKafkaDeadLetters(config.bus, (entry) => {
      if (!matches(entry.record, filter)) return;
      kept.push(entry);
      if (kept.length > limit) kept.shift();
    });
    return kept;
  }
  const archive = new DeadLetterArchive(deadLetterArchivePath(config.dataDir));
  try { return archive.list(filter, limit); } finally { archive.close(); }
}

async function find(input: DeadLetterCommandInput, id: string): Promise<DeadLetterEntry | undefined> {
  const { config } = input;
  if (config.bus.kind === 'kafka') {
    if (!/^\d+:\d+$/.test(id)) throw new UsageError(`"${id}" is not a dead-letter id on Kafka (partition:offset, as deadletter list prints)`);
    let found: DeadLetterEntry | undefined;
    await scanKafkaDeadLetters(config.bus, (entry) => {
      if (entry.id !== id) return true;
      found = entry;
      return false;
    }, { from: id });
    return found;
  }
  const archive = new DeadLetterArchive(deadLetterArchivePath(config.dataDir));
  try { return archive.get(id); } finally { archive.close(); }
}

/** Runs one deadletter action; resolves with the exit status. */
export async function runDeadLetterCommand(input: DeadLetterCommandInput): Promise<number> {
  const audit = new JsonlAuditSink({ dataDir: input.config.dataDir });
  const record = (action: AuditAction, outcome: AuditOutcome, detail: string, deviceId?: string) => audit.record({
    at: new Date().toISOString(), actor: { sub: input.actor, role: 'admin' }, action, outcome, status: outcome === 'allowed' ? 200 : outcome === 'not_found' ? 404 : 500,
    detail, ...(deviceId ? { deviceId } : {}),
  });

  switch (input.action) {
    case 'list': {
      if (input.source !== undefined && !SOURCES.includes(input.source as DeadLetterSource)) throw new UsageError(`--source must be one of ${SOURCES.join(', ')}`);
      const limit = Number(input.limit ?? 50);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a whole number ≥ 1');
      const sinceMs = input.since === undefined ? undefined : Date.parse(input.since);
      if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new UsageError(`--since "${input.since}" is not an ISO 8601 time`);
      const filter: DeadLetterFilter = { source: input.source as DeadLetterSource | undefined, reason: input.reason, deviceId: input.deviceId, sinceMs };
      const entries = await collect(input, filter, limit);
      await record('deadletters.list', 'allowed', `${entries.length} shown; filter ${JSON.stringify(filter)}`);
      const rows = entries.map((e) => ({ ...summarize(e), detail: e.record.detail, prefix: printablePrefix(Buffer.from(e.record.payloadBase64, 'base64'), LIST_PREFIX_BYTES) }));
      if (input.json) { input.out(JSON.stringify(rows)); return 0; }
      if (rows.length === 0) { input.out('no dead letters'); return 0; }
      for (const r of rows) {
        input.out(`${r.id}\t${r.receivedAt}\t${r.source}\t${r.deviceId}\t${r.reason}\t${r.payloadBytes} B${r.truncated ? ' (prefix kept)' : ''}\t${r.prefix}`);
      }
      return 0;
    }
    case 'show': {
      if (!input.id) throw new UsageError('deadletter show needs an id (from deadletter list)');
      const entry = await find(input, input.id);
      if (!entry) {
        await record('deadletter.read', 'not_found', `id ${input.id}`);
        input.err(`pulsebridge: There is no dead letter ${input.id}.`);
        return 1;
      }
      await record('deadletter.read', 'allowed', `id ${input.id}`, entry.record.deviceId);
      const payload = Buffer.from(entry.record.payloadBase64, 'base64');
      input.out(JSON.stringify({ id: entry.id, ...entry.record, receivedAtIso: new Date(entry.record.receivedAt).toISOString(), payloadText: printablePrefix(payload, payload.length) }, null, input.json ? undefined : 2));
      return 0;
    }
    case 'replay': {
      if (!input.id) throw new UsageError('deadletter replay needs an id (from deadletter list)');
      const timeoutMs = parseDurationMs(input.timeout ?? '10s');
      const outcome = input.config.bus.kind === 'kafka' ? await replayOnKafka(input, input.id) : await replayEmbedded(input, input.id, timeoutMs);
      if (outcome === undefined) {
        await record('deadletter.replay', 'not_found', `id ${input.id}`);
        input.err(`pulsebridge: There is no dead letter ${input.id}.`);
        return 1;
      }
      if (outcome === 'pending') {
        await record('deadletter.replay', 'error', `id ${input.id}: requested, not performed within ${timeoutMs / 1000} s`);
        input.err(`pulsebridge: No running pulsebridge demo performed the replay of ${input.id} within ${timeoutMs / 1000} s; the request stays queued and runs when it starts.`);
        return 1;
      }
      await record('deadletter.replay', outcome.ok ? 'allowed' : 'conflict', `id ${input.id}: ${JSON.stringify(outcome)}`);
      if (!outcome.ok) { input.err(`pulsebridge: Dead letter ${input.id} was not replayed: ${outcome.reason}.`); return 1; }
      input.out(input.json ? JSON.stringify({ id: input.id, ...outcome }) : `replayed ${input.id} to ${outcome.stream} (key ${outcome.key})`);
      return 0;
    }
    default:
      throw new UsageError('deadletter needs an action: list, show or replay');
  }
}

async function replayOnKafka(input: DeadLetterCommandInput, id: string) {
  const entry = await find(input, id);
  if (!entry) return undefined;
  const logger = createLogger('warn', { app: 'pulsebridge' });
  const bus = await openBus(input.config, logger);
  try {
    return await withRegistry(input.config, logger, (registry) => replayDeadLetter(entry, { bus, registry }));
  } finally {
    await bus.close();
  }
}

async function replayEmbedded(input: DeadLetterCommandInput, id: string, timeoutMs: number) {
  const archive = new DeadLetterArchive(deadLetterArchivePath(input.config.dataDir));
  try {
    if (!archive.get(id)) return undefined;
    const requestId = archive.requestReplay(id, input.actor);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const request = archive.replay(requestId);
      if (request?.state === 'done' && request.result) return request.result;
      if (Date.now() >= deadline) return 'pending' as const;
      await new Promise((r) => setTimeout(r, input.pollMs ?? 200));
    }
  } finally {
    archive.close();
  }
}
