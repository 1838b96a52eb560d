/**
 * HL7 v2 export over MLLP (issue 11 §6): a consumer of the alerts stream (own group) that sends
 * IHE PCD-04 ORU^R40 for every lifecycle snapshot and, when an alert is raised, PCD-01 ORU^R01 with
 * the heart rate at the event (hl7-messages.ts), to an interface engine. Framing, connection and
 * ACK matching come from @medplum/hl7 (Hl7Client: MLLP client with sendAndWait; mllp.ts), not hand-written.
 * With `tls` (PULSEBRIDGE_HL7_MLLP=mllps://…) the connection is MLLP over TLS (mllp.ts createMllpClient):
 * a handshake that fails (certificate not trusted, wrong host, client certificate refused) is a
 * transport failure like no connection: paused and retried, never sent in plain text instead.
 *
 * ACK handling (HL7 v2.6 §2.9, original/enhanced mode): AA/CA = delivered. No ACK in time or no
 * connection = the engine cannot take messages now: the export pauses and retries the same
 * message with backoff until it is ACKed (nothing is committed before), like the FHIR path.
 * AE/CE: the engine found an error in this message (v2.5 §2.9.2.2 b). AR/CR: the engine refused it
 * for a reason unrelated to its content (§2.9.2.2 c: the receiving system is down, an internal
 * error — often passing — or a message type, version or processing id it does not take). Either
 * way the same message is retried, paused meanwhile, until `maxErrorAttempts` such answers, and
 * then dead-lettered (`hl7_error` after AE/CE, `hl7_rejected` after AR/CR) with the ACK text, as
 * the FHIR path does with a 403: retried for ever, one message the engine keeps refusing (an MRN
 * its ADT does not know) held every other patient's alarms back for as long as nobody intervened;
 * dead-lettered at the first AR, an alarm was lost to a receiver that was down for a moment (EHR
 * integration walk, 2026-12-07). The same control id is re-sent on a retry, so a de-duplicating
 * engine records it once.
 *
 * Revisions already sent are not sent again (SentLedger below). The alerts stream carries the
 * same revision more than once by design: the processor re-publishes the alerts it restores after
 * every restart (processor/stream-state.ts), and `pulsebridge deadletter replay` of a FHIR dead
 * letter re-publishes a snapshot onto this stream, often long after later revisions were sent.
 * Sent again, the engine would record duplicates and, worse, see an old `start` after the `end`.
 */
import { randomUUID } from 'node:crypto';
import type { Alert, AlertEnvelope } from '../contracts/alert.ts';
import type { DeadLetterRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import { ehrAuditRecorder, type EhrAuditOptions } from './audit.ts';
import { backoffDelayMs, sleep } from './backoff.ts';
import { alertEffectiveMs, createFutureDatedCheck, type FutureDatedCheck } from './future-dated.ts';
import { alarmFacets, pcd01HeartRate, pcd04Alarm, type Hl7Options } from './hl7-messages.ts';
import type { MrnSource } from './identity.ts';
import { createMllpClient, wireMessage, type MllpClient, type MllpTls } from './mllp.ts';

export interface Hl7ExporterOptions {
  bus: Bus;
  host: string;
  port: number;
  /** MLLP over TLS with these (PEM texts, mllp.ts readHl7Tls; `{}`: the default roots only); without: plain TCP. */
  tls?: MllpTls;
  mrns: MrnSource;
  message: Omit<Hl7Options, 'mrn'>;
  logger: Logger;
  metrics: MetricsRegistry;
  groupId?: string;
  fromBeginning?: boolean;
  /** Wait for an ACK, ms. Default 10 000. */
  ackTimeoutMs?: number;
  /** Retries while the engine is unreachable or answers AE. Default 500 ms doubling to 30 s. */
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** Sends of one message the engine answers AE/CE/AR/CR before it is dead-lettered (`hl7_error` / `hl7_rejected`). Default 5. */
  maxErrorAttempts?: number;
  now?: () => number;
  /** Alerts the ledger of sent revisions remembers (least recently sent forgotten first). Default 100 000. */
  ledgerSize?: number;
  /** How long a restart may spend rebuilding that ledger from the stream before it goes on without, ms. Default 120 000. */
  rebuildTimeoutMs?: number;
  /**
   * At most one evidence-only ORU^R40 (phase `update`, nothing but the evidence changed since the
   * last message sent for the alarm) per alarm per this many ms of the snapshots' `updatedAt`;
   * start, escalate, end and any change of state, acknowledgement, escalation level or priority
   * always go at once. A held update is not dropped: the latest one goes once the interval has
   * passed (a trailing send, {@link createHl7Exporter}) unless a later message superseded it.
   * Default 300 000 (5 min, as the config's PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN); 0: every change is sent (see {@link evidenceOnly}).
   */
  evidenceUpdateIntervalMs?: number;
  /** How long `stop()` may spend sending the held updates still waiting for their trailing send, ms. Default 5 000. */
  flushOnStopMs?: number;
  /**
   * The PHI audit trail (ehr-exporter/audit.ts): one entry per message ACKed or refused, and per
   * snapshot dead-lettered unsent; the destination is `mllp(s)://host:port`. Without it nothing is audited (tests).
   */
  audit?: Omit<EhrAuditOptions, 'destination'>;
  /** Counts and warns about alerts dated ahead of now (future-dated.ts); shared with the FHIR exporter in one process. Default: its own. */
  futureDated?: FutureDatedCheck;
}

/**
 * What an ORU^R40 says besides the evidence: phase, alarm state, acknowledgement, escalation level,
 * priority. Two snapshots with the same key and phase `update` differ in evidence only (the
 * rate, RR, beats and duration so far).
 */
function lifecycleKey(alert: Alert): string {
  const f = alarmFacets(alert);
  return [alert.state, f.state, f.inactivation ?? '', alert.escalationLevel ?? 0, alert.priority].join('|');
}

/**
 * Coalescing of evidence-only updates (EHR walk: a 7 min tachycardia sent 42 ORU^R40, 40 of them
 * `update`s with a new rate every 10 s, noise to an engine that routes alarms; `node
 * bench/hl7-messages-per-alarm.ts`); PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN, default 5 min (0: off). A
 * snapshot is held back only when all of these hold: its phase is `update` (never start,
 * escalate or end), its lifecycle key is the one of the last
 * message the engine has for the alarm (so an acknowledgement, a resolve, an escalation, a change
 * of state goes at once), and it was published less than `intervalMs` after that message's
 * snapshot (`updatedAt`, the processor's clock: the same stream gives the same hold decisions, also
 * when a restarted exporter replays them from the stream, SentLedger rebuild). Not the same after a
 * restart: the rebuild knows no trailing send (below), so the rebuilt `lastSent` is the message
 * before it and an alarm's next update may go sooner than the old run would have sent it (one
 * message more). Nothing is lost by it while the exporter runs or stops cleanly: the latest held
 * update goes once the interval has passed (trailing send, createHl7Exporter, or at the stop), and
 * every later message carries the whole current state, the end its final rate. After a crash the
 * waiting one is lost: the engine keeps the last message sent until the alarm's next snapshot goes.
 */
export function evidenceOnly(alert: Alert, last: { key: string; updatedAtMs: number } | undefined, intervalMs: number): boolean {
  if (!(intervalMs > 0) || !last) return false;
  if (alarmFacets(alert).phase !== 'update' || lifecycleKey(alert) !== last.key) return false;
  return Date.parse(alert.updatedAt) - last.updatedAtMs < intervalMs;
}

/**
 * What the engine already has, per alert: the highest ORU^R40 revision it ACKed (or held back as
 * an evidence-only update, {@link evidenceOnly}), the last ORU^R40 sent (lifecycle key and
 * `updatedAt`) and whether it ACKed the ORU^R01. A snapshot at or below that revision is not sent again: re-sent it would be a
 * duplicate, or an older state arriving after a newer one (an ended alarm opened again). A
 * rejected (AR) message is not recorded, so its dead letter can still be replayed — unless a later
 * revision went through meanwhile, which the engine must not see overtaken.
 *
 * Bounded: beyond `maxAlerts` the alert sent least recently is forgotten (~150 bytes each, so the
 * default 100 000 is ~15 MB and covers weeks of alarms); a forgotten alert is sent as if new.
 */
export class SentLedger {
  readonly #alerts = new Map<string, { revision: number; hr: boolean; last?: { key: string; updatedAtMs: number } }>();
  readonly #maxAlerts: number;

  constructor(maxAlerts = 100_000) {
    this.#maxAlerts = maxAlerts;
  }

  /** Highest R40 revision the engine has of this alert (0: none). */
  revision(alertId: string): number {
    return this.#alerts.get(alertId)?.revision ?? 0;
  }

  hrSent(alertId: string): boolean {
    return this.#alerts.get(alertId)?.hr ?? false;
  }

  /** The last ORU^R40 the engine has of this alert: its lifecycle key and snapshot time (undefined: none known). */
  lastSent(alertId: string): { key: string; updatedAtMs: number } | undefined {
    return this.#alerts.get(alertId)?.last;
  }

  /** `alarm`: an ORU^R40 of this snapshot reached the engine (its revision, key and time are noted). */
  note(alertId: string, sent: { revision?: number; hr?: boolean; alarm?: Alert }): void {
    const known = this.#alerts.get(alertId);
    const last = sent.alarm ? { key: lifecycleKey(sent.alarm), updatedAtMs: Date.parse(sent.alarm.updatedAt) } : known?.last;
    // Re-inserted so that Map order is least recently sent first.
    this.#alerts.delete(alertId);
    this.#alerts.set(alertId, { revision: Math.max(known?.revision ?? 0, sent.revision ?? 0, sent.alarm?.revision ?? 0), hr: (known?.hr ?? false) || (sent.hr ?? false), ...(last ? { last } : {}) });
    for (const oldest of this.#alerts.keys()) {
      if (this.#alerts.size <= this.#maxAlerts) break;
      this.#alerts.delete(oldest);
    }
  }

  get size(): number {
    return this.#alerts.size;
  }
}

/** MSH-10 of a message's text (MSH-1 is the field separator itself, so MSH-10 is the 10th `|`-split part). */
function controlIdOf(text: string): string | undefined {
  return text.split('\r', 1)[0]?.split('|')[9];
}

/** The alert of an alerts-stream message, or undefined when it is not one. */
function alertOf(message: ConsumedMessage): Alert | undefined {
  try {
    const envelope = JSON.parse(message.value.toString('utf8')) as AlertEnvelope;
    return envelope?.schema === 'pb.alert.v1' && typeof envelope.alert?.id === 'string' ? envelope.alert : undefined;
  } catch {
    return undefined;
  }
}

export interface Hl7Exporter {
  start(): Promise<void>;
  stop(): Promise<void>;
  handleBatch(messages: ConsumedMessage[]): Promise<void>;
  /** `futureDatedExports`: alerts sent since start dated more than 5 min ahead of now (future-dated.ts); present once there was one. */
  /**
   * `pausedSince`: while paused, when the pause began (ISO 8601, the exporter's clock), held across
   * the resends and changing reasons of one pause, as the FHIR exporter's (exporter.ts ExportHealth).
   */
  health(): { status: 'ok' | 'paused'; reason?: string; pausedSince?: string; futureDatedExports?: number };
  /** The stream whose messages it must deliver, with its consumer group (what is undelivered: cli/demo.ts). */
  readonly deliveries: readonly { stream: string; groupId: string }[];
}

export function createHl7Exporter(o: Hl7ExporterOptions): Hl7Exporter {
  const now = o.now ?? Date.now;
  const policy = { maxAttempts: Number.POSITIVE_INFINITY, baseDelayMs: 500, maxDelayMs: 30_000, ...o.backoff };
  const maxErrorAttempts = o.maxErrorAttempts ?? 5;
  const sent = o.metrics.counter('pb_hl7_messages_total', 'HL7 v2 messages ACKed by the receiver, by message type');
  const naks = o.metrics.counter('pb_hl7_naks_total', 'HL7 v2 negative acknowledgements and failed sends, by code');
  const paused = o.metrics.gauge('pb_hl7_export_paused', '1 while the HL7 export waits for the receiver');
  // The FHIR exporter's metric (exporter.ts), so one panel counts every alert the EHR did not take.
  const deadLetters = o.metrics.counter('pb_ehr_dead_letters_total', 'Alert snapshots sent to the dead-letter stream, by reason');
  const alreadySent = o.metrics.counter('pb_hl7_already_sent_total', 'HL7 v2 messages not sent because the receiver already has that alert revision or a later one (processor restart, dead-letter replay), by message type');
  const coalesced = o.metrics.counter('pb_hl7_evidence_updates_held_total', 'Evidence-only ORU^R40 updates not sent: another was sent for the alarm within PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN');
  const trailingSent = o.metrics.counter('pb_hl7_evidence_updates_trailing_total', 'Held evidence-only ORU^R40 updates sent once PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN had passed with no later message for the alarm (trailing send), by when');
  const intervalMs = o.evidenceUpdateIntervalMs ?? 300_000;
  paused.set({}, 0);
  const groupId = o.groupId ?? 'hl7-exporter';
  const audit = ehrAuditRecorder(o.audit && { ...o.audit, destination: `${o.tls ? 'mllps' : 'mllp'}://${o.host}:${o.port}` }, { logger: o.logger, metrics: o.metrics, now });
  const futureDated = o.futureDated ?? createFutureDatedCheck({ logger: o.logger, metrics: o.metrics, now });
  const ledger = new SentLedger(o.ledgerSize);
  /** Partitions whose ledger is rebuilt (or needs none); only a started exporter rebuilds. */
  const rebuilt = new Set<number>();
  let rebuildOnResume = false;
  let client: MllpClient | undefined;
  let subscription: Subscription | undefined;
  let controller = new AbortController();
  /**
   * Ends the timers' trailing sends: not at the stop itself (a send in flight then is one the
   * stop would send again, same MSH-10), but when the stop's `flushOnStopMs` has run out.
   */
  let trailingDeadline = new AbortController();
  let pause: string | undefined;
  /** When the current pause began (epoch ms, `now`); set with the first failure of a pause, cleared by resume. */
  let pausedSinceMs: number | undefined;
  /**
   * Trailing sends (issue 12): per alarm, the latest evidence-only update held back and not yet
   * superseded, with the timer that sends it once the interval has passed. Without it a held
   * update was dropped, and an alarm that then neither changed nor ended (a steady rate: the
   * processor publishes nothing new) left the engine at a rate minutes or hours old.
   *
   * Why a timer in the exporter and not the next message on the stream: the stream is what goes
   * quiet in exactly that case (no new snapshot of the alarm, and the one-partition alerts stream
   * may bring nothing for any alarm), so waiting for the next message would not flush it. The
   * timer runs from when the update was handled for the rest of the interval in snapshot time
   * (`last sent updatedAt + interval - held updatedAt`), so an exporter catching up on a backlog
   * (old snapshots) does not fire early and the decisions stay those of the snapshot times.
   * What it sends is checked when it fires, not when it was armed: only the alarm's latest held
   * snapshot, and nothing once a later snapshot superseded it (a start/escalation/ack/resolve/end,
   * or an update past the interval, went at once and carries the whole state; a later held update
   * takes its place). It goes like any ORU^R40 of that snapshot (same MSH-10, ledger noted), so a
   * re-delivery of the held snapshot afterwards is skipped (revision already handled).
   *
   * Restarts: the ledger rebuild replays the stream's decisions and knows no timer, so a held update
   * still waiting at the end of the replay counts as sent (never twice): `stop()` therefore sends
   * the waiting ones before it returns (bounded by `flushOnStopMs`; early rather than never). What
   * a crash (no stop) left waiting goes with the alarm's next message, as before.
   *
   * Another instance (rolling deploy, scaling): the engine has no revision check of its own, so a
   * timer left running after the alerts partition moved to another member of the group could send
   * an older `update` (state active, old rate) after that member sent the alarm's end. The bus has
   * no revoke hook; a due send therefore asks the subscription when it fires (`stillOwned`) and is
   * dropped, not sent, unless the partition is assigned to this member now and the member has not
   * joined the group again since the update was held (a join in between may have handed the
   * partition to another member and back: Subscription.status' `sinceMs`). Dropped, it goes with
   * the alarm's next message from whichever member then holds the partition (as after a crash).
   * Left open: the stop's flush runs after this member left the group (at most `flushOnStopMs`),
   * while a successor that got the partition is still rebuilding its ledger before it sends.
   */
  const pending = new Map<string, { alert: Alert; message: ConsumedMessage; timer: NodeJS.Timeout; heldAtMs: number }>();
  /** handleBatch and trailing sends, one at a time: they share the MLLP client and the ledger. */
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const run = chain.then(work, work);
    chain = run.catch(() => {});
    return run;
  };

  const connection = async () => (client ??= await createMllpClient({ host: o.host, port: o.port, tls: o.tls }, 5_000));
  const drop = async () => {
    const c = client;
    client = undefined;
    await c?.close().catch(() => {});
  };

  /** The engine answers again: the export is no longer paused (a message dead-lettered after AE/AR answers too: the engine is there, the message was refused). */
  const resume = () => {
    if (pause === undefined) return;
    o.logger.info('HL7 export resumed', { after: pause, ...(pausedSinceMs !== undefined ? { pausedForMs: now() - pausedSinceMs } : {}) });
    pause = undefined;
    pausedSinceMs = undefined;
    paused.set({}, 0);
  };

  const stopping = () => new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'HL7 exporter stopping');

  /**
   * `work` (a connect and send waiting for its ACK), or a rejection as soon as `signal` aborts: the
   * connect (5 s) and the ACK wait (`ackTimeoutMs`, 10 s) are not waited out by a stopping exporter,
   * so the stop's flush is bounded by `flushOnStopMs` as it says. An ACK given up on this way must
   * not be matched to a later message on the same connection (a re-send carries the same MSH-10):
   * the connection is dropped, the next send opens a new one.
   */
  const unlessAborted = <T>(work: Promise<T>, signal: AbortSignal): Promise<T> => {
    work.catch(() => {}); // given up on: its own rejection (the closed connection) is of no interest
    return new Promise<T>((resolve, reject) => {
      const abandon = () => {
        void drop();
        reject(stopping());
      };
      if (signal.aborted) return abandon();
      signal.addEventListener('abort', abandon, { once: true });
      work.then(
        (value) => { signal.removeEventListener('abort', abandon); resolve(value); },
        (err: unknown) => { signal.removeEventListener('abort', abandon); reject(err as Error); },
      );
    });
  };

  /**
   * Sends one message until it is ACKed and resolves with the ACK code (AA/CA); throws PB_HL7_NAK
   * after `maxErrorAttempts` AE/CE/AR/CR answers (file comment).
   */
  const deliver = async (text: string, type: string, signal: AbortSignal): Promise<string> => {
    let errorAnswers = 0;
    for (let round = 1; ; round++) {
      // Stopping (or the stop's flush ran out of time): no further round, not even a first one.
      if (signal.aborted) throw stopping();
      let reason: string;
      try {
        const ack = await unlessAborted(connection().then((c) => c.sendAndWait(wireMessage(text), { timeoutMs: o.ackTimeoutMs ?? 10_000 })), signal);
        const code = ack.getSegment('MSA')?.getComponent(1, 1) ?? '';
        const detail = ack.getSegment('MSA')?.getComponent(3, 1) || ack.getSegment('ERR')?.toString() || '';
        if (code === 'AA' || code === 'CA') {
          sent.inc({ type });
          resume();
          return code;
        }
        naks.inc({ code: code || 'none' });
        const refused = code === 'AR' || code === 'CR';
        if ((refused || code === 'AE' || code === 'CE') && ++errorAnswers >= maxErrorAttempts) {
          resume();
          const what = `answered ${errorAnswers} sends with ${refused ? 'a reject' : 'an error'} (the last) to`;
          throw new PulsebridgeError('PB_HL7_NAK', `HL7 receiver ${what} ${type} (${code}${detail ? `: ${detail}` : ''})`, { details: { code, detail } });
        }
        // The receiver's text may quote the message (its PID: the MRN), and the reason goes to the
        // log and the unauthenticated /healthz: the codes only there, the text at debug level.
        const errorCode = ack.getSegment('ERR')?.getComponent(3, 1) || '';
        reason = `ACK ${code || '(none)'}${errorCode ? ` (HL7 error code ${errorCode})` : ''}${detail ? '; the receiver\'s text is logged at debug level' : ''}`;
        if (detail) o.logger.debug('HL7 receiver\'s ACK text', { code, detail });
      } catch (err) {
        if (err instanceof PulsebridgeError) throw err;
        if (signal.aborted) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'HL7 exporter stopping', { cause: err });
        naks.inc({ code: 'transport' });
        reason = (err as Error).message;
        await drop();
      }
      if (pause === undefined) {
        if (errorAnswers > 0) o.logger.error(`HL7 export paused: the receiver answers AE/AR; retrying this message, dead-lettered after ${maxErrorAttempts} such answers`, { reason });
        else o.logger.error('HL7 export paused: the receiver does not ACK; retrying until it does', { reason });
      }
      pause = reason;
      pausedSinceMs ??= now();
      paused.set({}, 1);
      try {
        await sleep(backoffDelayMs(round, policy) + policy.baseDelayMs / 2, signal);
      } catch (err) {
        throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'HL7 exporter stopping', { cause: err });
      }
    }
  };

  /**
   * Rebuilds the ledger after a restart, from the stream itself. This group resumes from its
   * committed offset, so the first message it is handed on a partition marks where the previous
   * run stopped: every alert snapshot before it was handled then (sent, dead-lettered or skipped).
   * A throwaway reader folds those into the ledger before anything is sent. What this cannot
   * tell apart is a snapshot the previous run dead-lettered (AR): after a restart its replay counts
   * as sent and is skipped too (README, HL7 section). Embedded mode's in-process bus starts empty
   * with each process, so there the group resumes at offset 0 and nothing is read back.
   */
  const rebuild = async (partition: number, resumeAt: number, signal: AbortSignal) => {
    let caughtUp!: () => void;
    const done = new Promise<void>((resolve) => (caughtUp = resolve));
    let folded = 0;
    const reader = await o.bus.subscribe(STREAMS.alerts, {
      groupId: `${groupId}-rebuild-${randomUUID()}`,
      ephemeralGroup: true,
      fromBeginning: true,
      onBatch: async (batch) => {
        for (const m of batch) {
          if (m.partition !== partition) continue;
          const offset = Number(m.offset);
          const alert = offset < resumeAt ? alertOf(m) : undefined;
          if (alert) {
            // The decisions of the run before, made again on the same snapshots: an update it held
            // back is not taken for the last message sent.
            const held = alert.revision <= ledger.revision(alert.id) || evidenceOnly(alert, ledger.lastSent(alert.id), intervalMs);
            ledger.note(alert.id, held ? { revision: alert.revision, hr: true } : { alarm: alert, hr: true });
            folded++;
          }
          // The message before the resume point (or any later one, if retention removed it).
          if (offset >= resumeAt - 1) caughtUp();
        }
      },
    });
    const stopWaiting = new AbortController();
    try {
      const timeout = sleep(o.rebuildTimeoutMs ?? 120_000, AbortSignal.any([signal, stopWaiting.signal])).then(() => true, () => false);
      const timedOut = await Promise.race([done.then(() => false), timeout]);
      if (signal.aborted) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'HL7 exporter stopping');
      if (timedOut) o.logger.warn('HL7 export goes on without knowing what it sent before the restart: the alerts stream was not read back in time; revisions sent then may be sent again', { partition, resumeAt });
      else o.logger.info('HL7 export: revisions sent before the restart read back', { partition, resumeAt, snapshots: folded, alerts: ledger.size });
    } finally {
      stopWaiting.abort();
      await reader.stop();
    }
  };

  const handleBatch = (messages: ConsumedMessage[]) => exclusive(() => handleBatchNow(messages));

  /** A snapshot of the alarm supersedes its held update (file comment of `pending`). */
  const supersede = (alert: Alert) => {
    const p = pending.get(alert.id);
    if (!p || p.alert.revision >= alert.revision) return;
    clearTimeout(p.timer);
    pending.delete(alert.id);
  };

  const holdForTrailing = (alert: Alert, message: ConsumedMessage) => {
    // One waiting per alarm: a later snapshot removes the waiting one first (supersede, in
    // exportOne), so a newer held update arms its own timer, for the rest of the interval since the
    // last message sent. What is still here is an older or equal revision (a re-delivery): its
    // entry stays as it is.
    if (pending.has(alert.id)) return;
    const last = ledger.lastSent(alert.id);
    const delayMs = Math.max(0, (last?.updatedAtMs ?? 0) + intervalMs - Date.parse(alert.updatedAt));
    const timer = setTimeout(() => {
      void exclusive(() => sendTrailing(alert.id, 'due', trailingDeadline.signal)).catch((err: unknown) => {
        if (!controller.signal.aborted) o.logger.warn('HL7: held evidence update not sent after its interval; it goes with the alarm\'s next message', { alertId: alert.id, err: err as Error });
      });
    }, delayMs);
    timer.unref();
    pending.set(alert.id, { alert, message, timer, heldAtMs: Date.now() });
  };

  /**
   * Whether this member may still send for `partition`, held since `heldAtMs` (file comment of
   * `pending`): not subscribed (handleBatch called directly: nobody shares the work), or the
   * partition assigned now and no join of the group since.
   */
  const stillOwned = (partition: number, heldAtMs: number): boolean => {
    const s = subscription;
    if (!s) return true;
    if (s.assignedPartitions && !s.assignedPartitions().includes(partition)) return false;
    const status = s.status?.();
    return !status || (status.state === 'consuming' && status.sinceMs <= heldAtMs);
  };

  /** Sends the alarm's held update, if it is still waiting (not superseded, not sent). */
  const sendTrailing = async (alertId: string, when: 'due' | 'stop', signal = controller.signal) => {
    const p = pending.get(alertId);
    if (!p) return;
    clearTimeout(p.timer);
    if (when === 'due' && !stillOwned(p.message.partition, p.heldAtMs)) {
      pending.delete(alertId);
      o.logger.info('HL7: held evidence update not sent: the alerts partition may have moved to another exporter instance since it was held; it goes with the alarm\'s next message', { alertId, revision: p.alert.revision, partition: p.message.partition });
      return;
    }
    const dead: DeadLetter[] = [];
    // Left waiting if this throws (stopping): stop() tries it once more.
    await exportOne(p.message, p.alert, dead, signal, true);
    pending.delete(alertId);
    trailingSent.inc({ when });
    await publishDead(dead);
  };

  type DeadLetter = { message: ConsumedMessage; alert?: Alert; reason: string; detail: string; rejected?: string[] };

  /**
   * One snapshot: held, or its messages sent. `trailing`: the held update's own send once its
   * interval passed (it is already noted as handled, so the revision check does not apply).
   */
  const exportOne = async (message: ConsumedMessage, alert: Alert, dead: DeadLetter[], signal: AbortSignal, trailing = false) => {
    {
      if (!trailing) supersede(alert);
      const newer = trailing || alert.revision > ledger.revision(alert.id);
      const hold = !trailing && newer && evidenceOnly(alert, ledger.lastSent(alert.id), intervalMs);
      if (hold) {
        // Noted as handled, so neither a re-delivery nor a replay sends it later, after newer ones;
        // the trailing send takes it once the interval has passed (unless superseded).
        ledger.note(alert.id, { revision: alert.revision });
        coalesced.inc();
        holdForTrailing(alert, message);
        o.logger.debug('HL7: evidence-only update held back', { alertId: alert.id, revision: alert.revision });
      }
      const sendAlarm = newer && !hold;
      // ORU^R01 goes with the raising snapshot only, and only when detection had a rate.
      const sendHr = !trailing && alert.revision === 1 && Number.isFinite(alert.evidence.hrBpm) && !ledger.hrSent(alert.id);
      if (!newer) alreadySent.inc({ type: 'ORU^R40' });
      if (!trailing && alert.revision === 1 && ledger.hrSent(alert.id)) alreadySent.inc({ type: 'ORU^R01' });
      if (!sendAlarm && !sendHr) {
        if (hold) return;
        o.logger.debug('HL7: alert revision already sent; skipped', { alertId: alert.id, revision: alert.revision, sentRevision: ledger.revision(alert.id), replayOf: message.headers?.['pb-replay-of'] });
        return;
      }
      let options: Hl7Options;
      try {
        options = { ...o.message, mrn: o.mrns.mrnOf(alert.patientId) };
      } catch (err) {
        if (!(err instanceof PulsebridgeError) || err.code !== 'PB_EHR_PATIENT_UNKNOWN') throw err;
        // An MRN missing from the configured file: an HL7 message without PID-3 is useless to the engine.
        dead.push({ message, alert, reason: 'mrn_unknown', detail: err.message });
        await audit({ action: 'ehr.hl7.send', patientId: alert.patientId, alertId: alert.id, deviceId: alert.deviceId, outcome: 'dead_lettered', detail: `alert revision ${alert.revision}: not sent, dead-lettered: mrn_unknown` });
        return;
      }
      futureDated.check({ protocol: 'hl7', what: 'alert', deviceId: alert.deviceId, patientId: alert.patientId, effectiveMs: alertEffectiveMs(alert) });
      const at = new Date(now()).toISOString();
      // The heart rate and the alarm go and fail independently: a rejected ORU^R01 must not keep
      // the alarm's start from the engine. One dead letter per snapshot; its replay sends again
      // only what the engine did not take (the ledger skips the rest).
      const rejected: { type: string; text: string; code: string }[] = [];
      const send = async (text: string, type: string, sentNow: () => void) => {
        // One audit entry per message, once its fate is final (the AE'd sends before are not entries).
        const what = { action: 'ehr.hl7.send' as const, patientId: alert.patientId, alertId: alert.id, deviceId: alert.deviceId, messageType: type, controlId: controlIdOf(text) };
        try {
          const ack = await deliver(text, type, signal);
          sentNow();
          await audit({ ...what, outcome: 'accepted', ack, detail: `alert revision ${alert.revision}${trailing ? ' (held evidence update, sent after its interval)' : ''}` });
        } catch (err) {
          if (signal.aborted || !(err instanceof PulsebridgeError) || err.code !== 'PB_HL7_NAK') throw err;
          const code = String(err.details?.code ?? '');
          rejected.push({ type, text: err.message, code });
          await audit({ ...what, outcome: 'refused', ack: code, detail: `alert revision ${alert.revision}: dead-lettered` });
        }
      };
      const hr = sendHr ? pcd01HeartRate(alert, options, at) : undefined;
      if (hr) await send(hr, 'ORU^R01', () => ledger.note(alert.id, { hr: true }));
      if (sendAlarm) await send(pcd04Alarm(alert, options, at), 'ORU^R40', () => ledger.note(alert.id, { alarm: alert }));
      // `hl7_error`: the last answer of each refused message was AE/CE (an error in it); `hl7_rejected`: an AR/CR.
      const reason = rejected.every((r) => r.code === 'AE' || r.code === 'CE') ? 'hl7_error' : 'hl7_rejected';
      if (rejected.length > 0) dead.push({ message, alert, reason, detail: rejected.map((r) => r.text).join('; '), rejected: rejected.map((r) => r.type) });
    }
  };

  const handleBatchNow = async (messages: ConsumedMessage[]) => {
    const signal = controller.signal;
    if (rebuildOnResume) {
      for (const message of messages) {
        if (rebuilt.has(message.partition)) continue;
        if (Number(message.offset) > 0) await rebuild(message.partition, Number(message.offset), signal);
        rebuilt.add(message.partition);
      }
    }
    const dead: DeadLetter[] = [];
    for (const message of messages) {
      const alert = alertOf(message);
      if (!alert) {
        dead.push({ message, reason: 'schema', detail: 'not an alert envelope' });
        continue;
      }
      await exportOne(message, alert, dead, signal);
    }
    await publishDead(dead);
  };

  const publishDead = async (dead: DeadLetter[]) => {
    if (dead.length > 0) {
      await o.bus.publish(STREAMS.deadLetter, dead.map((d) => {
        const deviceId = d.alert?.deviceId ?? 'unknown';
        const record: DeadLetterRecord = {
          schema: 'pb.deadletter.v1', deviceId, topic: STREAMS.alerts, reason: d.reason, detail: d.detail,
          payloadBase64: d.message.value.toString('base64'), receivedAt: now(), source: 'ehr-exporter', stream: d.message.stream, key: d.message.key,
        };
        return { key: deviceId, value: Buffer.from(JSON.stringify(record)), headers: { 'pb-source-stream': d.message.stream, 'pb-source-offset': d.message.offset } };
      }));
      for (const d of dead) {
        deadLetters.inc({ reason: d.reason });
        // Ids only: the ACK text (in the dead letter's detail) may echo the MRN or a name.
        o.logger.warn('alert not sent over HL7; dead-lettered', {
          reason: d.reason, alertId: d.alert?.id, revision: d.alert?.revision, kind: d.alert?.kind, patientId: d.alert?.patientId, deviceId: d.alert?.deviceId,
          rejected: d.rejected, offset: d.message.offset,
        });
      }
    }
  };

  return {
    handleBatch,
    deliveries: [{ stream: STREAMS.alerts, groupId }],
    health: () => ({
      ...(pause === undefined ? { status: 'ok' as const } : { status: 'paused' as const, reason: pause, ...(pausedSinceMs !== undefined ? { pausedSince: new Date(pausedSinceMs).toISOString() } : {}) }),
      ...(futureDated.count > 0 ? { futureDatedExports: futureDated.count } : {}),
    }),
    async start() {
      if (subscription) return;
      controller = new AbortController();
      trailingDeadline = new AbortController();
      rebuildOnResume = true;
      subscription = await o.bus.subscribe(STREAMS.alerts, { groupId, fromBeginning: o.fromBeginning ?? true, onBatch: handleBatch });
    },
    async stop() {
      const s = subscription;
      // Asked before it leaves the group: the stop sends only the held updates this member still owns.
      const ownedHeld = [...pending.values()].filter((p) => stillOwned(p.message.partition, p.heldAtMs)).map((p) => p.alert.id);
      const waiting = pending.size;
      // The held updates still waiting go at the stop, before their interval is over: a restarted
      // exporter's rebuilt ledger counts them as sent (`pending`). Bounded by `flushOnStopMs` from
      // here, a timer's send in flight included (deliver gives up an ACK wait or a connect when it
      // runs out, and nothing more is tried): an engine that is slow or does not answer leaves the
      // rest to each alarm's next message.
      const flush = AbortSignal.timeout(o.flushOnStopMs ?? 5_000);
      const deadline = trailingDeadline;
      if (flush.aborted) deadline.abort();
      else flush.addEventListener('abort', () => deadline.abort(), { once: true });
      subscription = undefined;
      const stopped = s?.stop();
      controller.abort();
      await stopped;
      if (pending.size > 0) {
        let failure: unknown;
        try {
          for (const id of ownedHeld) {
            if (flush.aborted) break;
            await exclusive(() => sendTrailing(id, 'stop', flush));
          }
        } catch (err) {
          failure = err;
        }
        if (pending.size > 0) o.logger.warn('HL7: stopping with held evidence updates unsent; they go with each alarm\'s next message', { waiting, unsent: pending.size, ...(failure ? { err: failure as Error } : {}) });
        for (const p of pending.values()) clearTimeout(p.timer);
        pending.clear();
      }
      await drop();
    },
  };
}
