/**
 * kafkajs' warnings and errors into our log, readable through a broker outage. kafkajs logs every
 * failed connection attempt of every client and consumer, each retry and each restart: a 30 s
 * outage gave 160–510 error lines per component on the operator walkthrough (SASL_SSL, four
 * processes), nearly all `Connection error: connect ECONNREFUSED …` and `Failed to connect to seed
 * broker …`, and the one line that said what to do was lost among them. So:
 *
 * - Repeats are limited per line: the first of a message is logged at once; the same message again
 *   within {@link KAFKA_LOG_DEFAULTS.repeatWindowMs} is counted, and at the end of the window one
 *   line (the latest occurrence's fields) says how many were left out (`suppressed`, over
 *   `suppressedInS` seconds) and opens the next window; a window without repeats ends silently, so
 *   the next outage's first line is logged at once again. The key is the level, kafkajs' namespace
 *   and the message text: different messages stay distinct (`Restarting the consumer in 300ms` and
 *   `… in 5000ms` are two). At most {@link KAFKA_LOG_DEFAULTS.maxKeys} messages are counted at once;
 *   beyond that a line is logged as it comes.
 * - A connection or login refused by TLS or SASL settings carries the hint naming them, as the
 *   bus's thrown errors do (kafka-security.ts): at run time kafkajs logs only the text, e.g.
 *   `Connection error: unable to verify the first certificate; … --use-system-ca`.
 * - kafkajs' own `Crash: …` and `Restarting the consumer in N ms` go to debug: the bus logs each
 *   crash itself with the stream, the error and whether the consumer starts over (repeats limited).
 * - A failed response that only says a broker is still setting something up goes to debug: kafkajs
 *   logs the response and hands the error to the caller, which retries it (kafkajs itself, or
 *   retryTransientMetadata) and reports it if the retries fail (a thrown PB_BUS_UNAVAILABLE, a
 *   consumer crash). On a fresh broker `device add` printed two such errors and succeeded: the
 *   first consumer group and idempotent producer make Kafka create __consumer_offsets and
 *   __transaction_state (`Response GroupCoordinator … The group coordinator is not available`,
 *   `Response InitProducerId … The coordinator is loading …`), and streams just created are not
 *   yet known to the metadata (`Response Metadata … This server does not host this
 *   topic-partition`), after which the retried creation finds them made (`Response CreateTopics …
 *   Topic creation errors`: TOPIC_ALREADY_EXISTS, which kafkajs answers with `false`; any other
 *   creation error is thrown, and ensureStreams says `could not create streams …`).
 */
import { logLevel } from 'kafkajs';
import type { LogEntry } from 'kafkajs';
import type { Logger } from '../log.ts';
import { kafkaLogSecurityHint } from './kafka-security.ts';
import type { KafkaSecurity } from './kafka-security.ts';

export const KAFKA_LOG_DEFAULTS = {
  /** One line per message per this many ms at most (the first at once); 0: every line (tests that read the log). */
  repeatWindowMs: 10_000,
  /** Messages counted at once; more are logged as they come. */
  maxKeys: 1_000,
};

/**
 * Kafka's messages (kafkajs' texts) for errors that only say a coordinator, a partition leader or a
 * new topic's metadata is not ready yet: COORDINATOR_LOAD_IN_PROGRESS (14), COORDINATOR_NOT_AVAILABLE
 * (15), NOT_COORDINATOR (16), LEADER_NOT_AVAILABLE (5), UNKNOWN_TOPIC_OR_PARTITION (3). Retriable by
 * Kafka's protocol, and retried (see the file comment).
 */
const RETRIED_WHILE_SETTING_UP = new Set([
  "The coordinator is loading and hence can't process requests for this group",
  'The group coordinator is not available',
  'This is not the correct coordinator for this group',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server does not host this topic-partition',
]);

/** A failed response logged by kafkajs' connection that only says a broker is still setting up (see the file comment). */
function retriedWhileSettingUp(text: string, error: unknown): boolean {
  if (!text.startsWith('Response ') || typeof error !== 'string') return false;
  return RETRIED_WHILE_SETTING_UP.has(error) || (text.startsWith('Response CreateTopics(') && error === 'Topic creation errors');
}

type Level = 'debug' | 'info' | 'warn' | 'error';

interface Window {
  level: Level;
  message: string;
  suppressed: number;
  /** The latest suppressed occurrence's fields. */
  fields: Record<string, unknown>;
  timer: NodeJS.Timeout;
}

export interface KafkaLogForwarder {
  /** kafkajs' logCreator's log function. */
  log(entry: LogEntry): void;
  /** One of the bus's own lines, limited the same way; `key` tells apart lines with the same message (default: none). */
  repeatLimited(level: 'warn' | 'error', message: string, fields: Record<string, unknown>, key?: string): void;
  /** Ends every window, logging what it suppressed. */
  flush(): void;
}

export function kafkaLogForwarder(logger: Logger, security: KafkaSecurity | undefined, options: Partial<typeof KAFKA_LOG_DEFAULTS> = {}): KafkaLogForwarder {
  const { repeatWindowMs, maxKeys } = { ...KAFKA_LOG_DEFAULTS, ...options };
  const windows = new Map<string, Window>();
  const emit = (level: Level, message: string, fields: Record<string, unknown>) => logger[level](message, fields);

  const report = (w: Window) => emit(w.level, w.message, { ...w.fields, suppressed: w.suppressed, suppressedInS: Math.round(repeatWindowMs / 1000) });
  const openWindow = (key: string, level: Level, message: string) => {
    const timer = setTimeout(() => {
      const w = windows.get(key)!;
      windows.delete(key);
      if (w.suppressed === 0) return;
      report(w);
      // The repeats go on (an outage): the next window starts with this line.
      openWindow(key, level, message);
    }, repeatWindowMs);
    timer.unref();
    windows.set(key, { level, message, suppressed: 0, fields: {}, timer });
  };

  const limited = (key: string, level: Level, message: string, fields: Record<string, unknown>) => {
    if (repeatWindowMs <= 0) return emit(level, message, fields);
    const open = windows.get(key);
    if (open) {
      open.suppressed += 1;
      open.fields = fields;
      return;
    }
    emit(level, message, fields);
    if (windows.size < maxKeys) openWindow(key, level, message);
  };

  return {
    log(entry) {
      const { message: text, timestamp: _t, logger: _l, ...rest } = entry.log;
      const fields: Record<string, unknown> = { kafkaNamespace: entry.namespace, ...rest };
      // The bounded retries are deliberate (kafka.ts' file comment); kafkajs warns about them on
      // every producer it creates.
      if (text.startsWith('Limiting retries for the idempotent producer')) return emit('debug', text, fields);
      if (entry.namespace === 'Connection' && retriedWhileSettingUp(text, rest.error)) return emit('debug', text, fields);
      // A principal without DescribeConfigs: KafkaBus' check of pre-created topics (kafka.ts,
      // #checkTopicConfigs) logs one warning naming that ACL and goes on; kafkajs' line would be an
      // error with the hint that the component's ACLs are wrong, at every start.
      if (entry.namespace === 'Connection' && text.startsWith('Response DescribeConfigs(') && typeof rest.error === 'string' && rest.error.startsWith('Not authorized to access topics')) return emit('debug', text, fields);
      // KafkaBus logs each consumer crash itself, naming the stream, the error and whether the
      // consumer starts over (kafka.ts, CRASH); kafkajs' two lines for it say the same without the stream.
      if (entry.namespace === 'Consumer' && (text.startsWith('Crash: ') || text.startsWith('Restarting the consumer in '))) return emit('debug', text, fields);
      const level: Level = entry.level === logLevel.ERROR || entry.level === logLevel.NOTHING ? 'error'
        : entry.level === logLevel.WARN ? 'warn' : entry.level === logLevel.INFO ? 'info' : 'debug';
      const message = text + kafkaLogSecurityHint(text, rest.error, security);
      if (level === 'debug') return emit(level, message, fields);
      limited(`${level}\n${entry.namespace}\n${message}`, level, message, fields);
    },
    repeatLimited(level, message, fields, key = '') {
      limited(`${level}\n\n${message}\n${key}`, level, message, fields);
    },
    flush() {
      for (const w of windows.values()) {
        clearTimeout(w.timer);
        if (w.suppressed > 0) report(w);
      }
      windows.clear();
    },
  };
}
