/**
 * kafkajs' log lines through a broker outage (platform/bus/kafka-log.ts): repeats of a line are
 * limited to one a 10 s window with the count left out, different lines stay distinct, and a line
 * that only TLS or SASL settings can mend carries the hint naming them, as the bus's thrown errors
 * do. The operator walkthrough counted 160–510 error lines per component in a 30 s outage, and
 * running-time TLS errors logged raw (`… try running Node.js with --use-system-ca`).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { logLevel, type LogEntry } from 'kafkajs';
import { kafkaLogForwarder } from '../../../platform/bus/kafka-log.ts';
import { createLogger } from '../../../platform/log.ts';
import type { KafkaSecurity } from '../../../platform/bus/index.ts';

const SASL_SSL: KafkaSecurity = { tls: { caFile: '/ca.crt' }, sasl: { mechanism: 'scram-sha-512', username: 'pulsebridge', password: 'x' } };

function entry(message: string, fields: Record<string, unknown> = {}, level = logLevel.ERROR, namespace = 'Connection'): LogEntry {
  return { namespace, level, label: 'ERROR', log: { timestamp: new Date().toISOString(), logger: 'kafkajs', message, ...fields } };
}

function recording() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  return { logger, lines };
}

describe('kafkajs log lines', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('logs the first of a repeated line at once, then one line per 10 s with the number left out', () => {
    const { logger, lines } = recording();
    const log = kafkaLogForwarder(logger, undefined);
    const refused = 'Connection error: connect ECONNREFUSED 127.0.0.1:9094';
    log.log(entry(refused, { broker: '127.0.0.1:9094' }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: refused, kafkaNamespace: 'Connection', broker: '127.0.0.1:9094' });
    expect(lines[0]).not.toHaveProperty('suppressed');
    // A 30 s outage: 10 attempts a second.
    for (let t = 0; t < 300; t++) {
      vi.advanceTimersByTime(100);
      log.log(entry(refused, { broker: '127.0.0.1:9094' }));
    }
    // The first at once, then one at the end of each 10 s window: 4 in all, every attempt counted.
    expect(lines).toHaveLength(4);
    expect(lines.slice(1).map((l) => l.suppressed)).toEqual([99, 100, 100]);
    expect(lines[1]).toMatchObject({ level: 'error', msg: refused, suppressedInS: 10 });
    vi.advanceTimersByTime(10_000);
    // The last window's repeat is reported when it ends.
    expect(lines.reduce((sum, l) => sum + Number(l.suppressed ?? 0), 1)).toBe(301);
    // A window without repeats ends silently: the next outage's first line is logged at once.
    vi.advanceTimersByTime(30_000);
    const quiet = lines.length;
    log.log(entry(refused));
    expect(lines).toHaveLength(quiet + 1);
    expect(lines.at(-1)).not.toHaveProperty('suppressed');
  });

  it('keeps different lines apart: message, level and namespace', () => {
    const { logger, lines } = recording();
    const log = kafkaLogForwarder(logger, undefined);
    for (let i = 0; i < 5; i++) {
      log.log(entry('The coordinator is not aware of this member, re-joining the group', {}, logLevel.ERROR, 'Runner'));
      log.log(entry('The group is rebalancing, re-joining', {}, logLevel.ERROR, 'Runner'));
      log.log(entry('The coordinator is not aware of this member, re-joining the group', {}, logLevel.WARN, 'Runner'));
      log.log(entry('The coordinator is not aware of this member, re-joining the group', {}, logLevel.ERROR, 'Consumer'));
    }
    expect(lines.map((l) => `${l.level} ${l.kafkaNamespace} ${l.msg}`)).toEqual([
      'error Runner The coordinator is not aware of this member, re-joining the group',
      'error Runner The group is rebalancing, re-joining',
      'warn Runner The coordinator is not aware of this member, re-joining the group',
      'error Consumer The coordinator is not aware of this member, re-joining the group',
    ]);
    log.flush();
    expect(lines.slice(4).map((l) => l.suppressed)).toEqual([4, 4, 4, 4]);
  });

  it('limits the bus\'s own repeated lines by message and key', () => {
    const { logger, lines } = recording();
    const log = kafkaLogForwarder(logger, undefined);
    for (const stream of ['a', 'b', 'c']) log.repeatLimited('error', 'kafka consumer crashed', { stream }, 'Connection error: connect ECONNREFUSED');
    log.repeatLimited('error', 'kafka consumer crashed', { stream: 'a' }, 'No broker available');
    expect(lines.map((l) => l.stream)).toEqual(['a', 'a']);
    vi.advanceTimersByTime(10_000);
    expect(lines[2]).toMatchObject({ msg: 'kafka consumer crashed', stream: 'c', suppressed: 2 });
  });

  it('adds the hint naming KAFKA_SSL_CA_FILE to a running-time TLS error, and the SASL one to a refused login', () => {
    const { logger, lines } = recording();
    const log = kafkaLogForwarder(logger, SASL_SSL);
    log.log(entry('Connection error: unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca', { broker: '127.0.0.1:9094' }));
    log.log(entry('Connection error: Hostname/IP does not match certificate\'s altnames: Host: kafka-1. is not in the cert\'s altnames: DNS:kafka-0'));
    log.log(entry('Failed to connect to seed broker, trying another broker from the list: Connection error: self-signed certificate in certificate chain', {}, logLevel.ERROR, 'BrokerPool'));
    log.log(entry('SASL SCRAM SHA512 authentication failed: Request is not valid given the current SASL state', {}, logLevel.ERROR, 'Broker'));
    expect(lines.map((l) => l.msg)).toEqual([
      'Connection error: unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca (the broker\'s TLS certificate is not trusted or does not name the host [UNABLE_TO_VERIFY_LEAF_SIGNATURE]: check KAFKA_SSL_CA_FILE and the host names in KAFKA_BROKERS)',
      'Connection error: Hostname/IP does not match certificate\'s altnames: Host: kafka-1. is not in the cert\'s altnames: DNS:kafka-0 (the broker\'s TLS certificate is not trusted or does not name the host [ERR_TLS_CERT_ALTNAME_INVALID]: check KAFKA_SSL_CA_FILE and the host names in KAFKA_BROKERS)',
      'Failed to connect to seed broker, trying another broker from the list: Connection error: self-signed certificate in certificate chain (the broker\'s TLS certificate is not trusted or does not name the host [SELF_SIGNED_CERT_IN_CHAIN]: check KAFKA_SSL_CA_FILE and the host names in KAFKA_BROKERS)',
      'SASL SCRAM SHA512 authentication failed: Request is not valid given the current SASL state (the broker refused the SASL login: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD, and KAFKA_SASL_MECHANISM)',
    ]);
  });

  it('adds no hint to an outage\'s refused connection, nor to anything of a PLAINTEXT client', () => {
    const { logger, lines } = recording();
    kafkaLogForwarder(logger, SASL_SSL).log(entry('Connection error: connect ECONNREFUSED 127.0.0.1:9094'));
    kafkaLogForwarder(logger, undefined).log(entry('Connection error: unable to verify the first certificate'));
    expect(lines.map((l) => l.msg)).toEqual(['Connection error: connect ECONNREFUSED 127.0.0.1:9094', 'Connection error: unable to verify the first certificate']);
  });

  it('logs kafkajs\' own crash and restart lines at debug: the bus logs each crash with its stream', () => {
    const { logger, lines } = recording();
    const log = kafkaLogForwarder(logger, undefined);
    log.log(entry('Crash: KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED 127.0.0.1:9094', { groupId: 'g' }, logLevel.ERROR, 'Consumer'));
    log.log(entry('Restarting the consumer in 5000ms', { groupId: 'g' }, logLevel.ERROR, 'Consumer'));
    expect(lines.map((l) => l.level)).toEqual(['debug', 'debug']);
  });

  it('logs at debug the failed responses kafkajs retries while a fresh broker sets up its coordinators (`device add` on a new broker)', () => {
    const { logger, lines } = recording();
    const log = kafkaLogForwarder(logger, undefined);
    log.log(entry('Response GroupCoordinator(key: 10, version: 2)', { broker: '127.0.0.1:9094', error: 'The group coordinator is not available', correlationId: 5 }));
    log.log(entry('Response InitProducerId(key: 22, version: 1)', { broker: '127.0.0.1:9094', error: 'The coordinator is loading and hence can\'t process requests for this group', correlationId: 5 }));
    // A second run on another fresh broker: the streams just created, then created again (TOPIC_ALREADY_EXISTS).
    log.log(entry('Response Metadata(key: 3, version: 6)', { broker: '127.0.0.1:9094', error: 'This server does not host this topic-partition', correlationId: 8 }));
    log.log(entry('Response CreateTopics(key: 19, version: 3)', { broker: '127.0.0.1:9094', error: 'Topic creation errors', correlationId: 7 }));
    // DescribeConfigs refused (pre-created topics, no DescribeConfigs ACL): KafkaBus warns once itself.
    log.log(entry('Response DescribeConfigs(key: 32, version: 2)', { error: 'Not authorized to access topics: [Topic authorization failed]' }));
    // Any other failed response stays an error.
    log.log(entry('Response Metadata(key: 3, version: 6)', { error: 'Not authorized to access topics: [Topic authorization failed]' }));
    log.log(entry('Response Produce(key: 0, version: 7)', { error: 'Topic creation errors' }));
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual([
      'debug Response GroupCoordinator(key: 10, version: 2)',
      'debug Response InitProducerId(key: 22, version: 1)',
      'debug Response Metadata(key: 3, version: 6)',
      'debug Response CreateTopics(key: 19, version: 3)',
      'debug Response DescribeConfigs(key: 32, version: 2)',
      'error Response Metadata(key: 3, version: 6)',
      'error Response Produce(key: 0, version: 7)',
    ]);
  });
});
