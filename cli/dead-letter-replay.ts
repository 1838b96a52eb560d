/**
 * Replaying a dead letter, and embedded mode's archive of the dead-letter stream.
 *
 * A replay re-publishes a rejected message where it would have gone had it been accepted:
 * - a record with `stream` (processor, EHR exporter): its payload, unchanged, to that stream with
 *   its `key` — the stream it came from;
 * - a gateway telemetry record: through the gateway's acceptance again (gateway/accept-telemetry.ts,
 *   at the original receive time) into `pb.telemetry.v1`, so a frame dead-lettered because its
 *   device was unassigned reaches the patient once the operator assigned it; a frame that is
 *   still refused says why and is not published. Status and command results are not replayed.
 * A record that keeps only a prefix of its payload cannot be replayed. Every replayed message
 * carries the header `pb-replay-of` (the dead letter's id), so consumers and audits can tell.
 */
import { STREAMS } from '../contracts/topics.ts';
import { parseDeviceTopic } from '../contracts/topics.ts';
import { acceptTelemetry } from '../gateway/accept-telemetry.ts';
import type { Bus } from '../platform/bus/index.ts';
import { DeadLetterArchive, parseDeadLetter, type DeadLetterEntry, type ReplayOutcome } from '../platform/dead-letters/index.ts';
import type { Logger } from '../platform/log.ts';
import type { DeviceDirectoryReader } from '../platform/registry/index.ts';
import type { Running } from './components.ts';

export interface ReplayDeps {
  bus: Bus;
  registry: Pick<DeviceDirectoryReader, 'patientAt'>;
}

export async function replayDeadLetter(entry: DeadLetterEntry, deps: ReplayDeps): Promise<ReplayOutcome> {
  const r = entry.record;
  if (r.payloadTruncated) {
    return { ok: false, reason: `only the first ${Buffer.from(r.payloadBase64, 'base64').length} of ${r.payloadBytes ?? '?'} payload bytes were kept; a truncated payload cannot be replayed` };
  }
  const payload = Buffer.from(r.payloadBase64, 'base64');
  const headers = { 'pb-replay-of': entry.id };
  if (r.stream !== undefined) {
    const key = r.key ?? r.deviceId;
    await deps.bus.publish(r.stream, [{ key, value: payload, headers }]);
    return { ok: true, stream: r.stream, key };
  }
  const topic = parseDeviceTopic(r.topic);
  if (!topic || topic.kind !== 'telemetry') return { ok: false, reason: `a message on ${r.topic} is not replayed (only telemetry frames are)` };
  const accepted = acceptTelemetry(topic.deviceId, payload, r.receivedAt, deps.registry);
  if (!accepted.ok) return { ok: false, reason: `the gateway still refuses it: ${accepted.reason} (${accepted.detail})` };
  await deps.bus.publish(STREAMS.telemetry, [{ key: accepted.record.patientId, value: Buffer.from(JSON.stringify(accepted.record)), headers }]);
  return { ok: true, stream: STREAMS.telemetry, key: accepted.record.patientId };
}

export interface DeadLetterArchiverOptions extends ReplayDeps {
  archive: DeadLetterArchive;
  logger: Logger;
  /** How often replay requests from the command line are picked up, ms. Default 500. */
  pollIntervalMs?: number;
}

/**
 * Embedded mode: copies every dead-letter record published on the in-process bus into the
 * archive, and performs replays requested in it (the command line cannot reach this process's bus).
 */
export async function startDeadLetterArchiver(o: DeadLetterArchiverOptions): Promise<Running> {
  const subscription = await o.bus.subscribe(STREAMS.deadLetter, {
    groupId: 'pulsebridge-dead-letter-archive',
    fromBeginning: true,
    onBatch: async (messages) => {
      for (const m of messages) {
        const record = parseDeadLetter(m.value, m.key, m.headers);
        if (record) o.archive.append(record);
        else o.logger.warn('a message on the dead-letter stream is not a dead-letter record; not archived', { offset: m.offset });
      }
    },
  });
  let busy: Promise<void> | undefined;
  const serveReplays = async () => {
    for (const request of o.archive.pendingReplays()) {
      const entry = o.archive.get(request.deadLetterId);
      let result: ReplayOutcome;
      try {
        result = entry ? await replayDeadLetter(entry, o) : { ok: false, reason: `there is no dead letter ${request.deadLetterId}` };
      } catch (err) {
        result = { ok: false, reason: `the bus did not take it: ${(err as Error).message}` };
      }
      o.archive.finishReplay(request.id, result);
      o.logger.info('dead letter replayed', { deadLetterId: request.deadLetterId, requestedBy: request.requestedBy, ...result });
    }
  };
  const timer = setInterval(() => {
    busy ??= serveReplays().catch((err: unknown) => o.logger.warn('serving dead-letter replays failed', { err: err as Error })).finally(() => { busy = undefined; });
  }, o.pollIntervalMs ?? 500);
  return {
    name: 'dead-letter-archiver',
    async stop() {
      clearInterval(timer);
      await busy;
      await subscription.stop();
    },
  };
}
