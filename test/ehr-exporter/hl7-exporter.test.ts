/**
 * The HL7 v2 path against a real MLLP listener (@medplum/hl7 Hl7Server on a local port) that
 * parses every message it receives and answers with an ACK the test chooses.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Hl7Message } from '@medplum/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import type { DeadLetterRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { createHl7Exporter, SentLedger, type Hl7Exporter, type Hl7ExporterOptions } from '../../ehr-exporter/hl7-exporter.ts';
import { EHR_EXPORTER_ACTOR, type EhrAuditEntry } from '../../ehr-exporter/audit.ts';
import { auditLogPath, JsonlAuditSink } from '../../platform/audit.ts';
import { configuredMrns } from '../../ehr-exporter/identity.ts';
import { alarmFacets, pcd01HeartRate, pcd04Alarm } from '../../ehr-exporter/hl7-messages.ts';
import { loadMllp, type MllpConnection } from '../../ehr-exporter/mllp.ts';
import { InProcessBus, type Bus } from '../../platform/bus/index.ts';
import { createLogger, silentLogger, type Logger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { consumed, envelope, makeAlert } from './fixtures.ts';

type Answer = 'AA' | 'AE' | 'AR' | 'none';
/** `rejectText`: the ERR text of an AR, as an engine might write it (with PHI). */
/** `ackDelayMs`: each ACK goes this long after its message (a slow engine). */
interface Listener { port: number; received: Hl7Message[]; answers: Answer[]; rejectText?: string; ackDelayMs?: number; stop(): Promise<void> }

async function startListener(port = 0): Promise<Listener> {
  const received: Hl7Message[] = [];
  const answers: Answer[] = [];
  let listener: Listener | undefined = undefined;
  const { Hl7Server } = await loadMllp();
  const server = new Hl7Server((connection: MllpConnection) => {
    connection.addEventListener('message', (event) => {
      // Re-parse the text that crossed the wire: what an interface engine would see.
      const msg = Hl7Message.parse(event.message.toString());
      received.push(msg);
      const answer = answers.shift() ?? 'AA';
      if (answer === 'none') return;
      const ack = event.message.buildAck({ ackCode: answer });
      if ((answer === 'AR' || answer === 'AE') && listener?.rejectText) ack.getSegment('MSA')!.setComponent(3, 1, listener.rejectText);
      if (!listener?.ackDelayMs) connection.send(ack);
      else setTimeout(() => { if (!connection.isClosed()) connection.send(ack); }, listener.ackDelayMs);
    });
  });
  await server.start(port);
  listener = { port: (server.server?.address() as AddressInfo).port, received, answers, stop: () => server.stop({ forceDrainTimeoutMs: 0 }) };
  return listener;
}

const obx = (m: Hl7Message) => m.getAllSegments('OBX').map((s) => ({ code: s.getComponent(3, 1), name: s.getComponent(3, 2), subId: s.getField(4).toString(), value: s.getField(5).toString(), units: s.getComponent(6, 1), flags: s.getField(8).toString() }));
const facet = (m: Hl7Message, code: string) => obx(m).find((o) => o.code === code)?.value;
/** As many AR answers as the exporter takes before it dead-letters a message (maxErrorAttempts, default 5). */
const REJECTS: Answer[] = ['AR', 'AR', 'AR', 'AR', 'AR'];
const controlIds = () => listener.received.map((m) => m.getSegment('MSH')!.getField(10).toString());
const until = async (done: () => boolean) => { while (!done()) await new Promise((r) => setTimeout(r, 5)); };

let bus: InProcessBus;
let listener: Listener;
const running: Hl7Exporter[] = [];
beforeEach(async () => {
  bus = new InProcessBus();
  listener = await startListener();
});
afterEach(async () => {
  for (const e of running.splice(0)) await e.stop();
  await listener.stop();
  await bus.close();
});

function exporter({ port = listener.port, ackTimeoutMs = 2_000, metrics = new MetricsRegistry(), logger = silentLogger, bus: via = bus, ...more }: { port?: number; ackTimeoutMs?: number; metrics?: MetricsRegistry; logger?: Logger; bus?: Bus } & Pick<Hl7ExporterOptions, 'audit' | 'now' | 'evidenceUpdateIntervalMs' | 'flushOnStopMs'> = {}): { exporter: Hl7Exporter; metrics: MetricsRegistry } {
  const e = createHl7Exporter({ bus: via, host: '127.0.0.1', port, mrns: configuredMrns('urn:oid:1.2.3.4', { 'p-001': 'MRN-001' }), logger, metrics,
    message: { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR' }, backoff: { baseDelayMs: 10, maxDelayMs: 50 }, ackTimeoutMs, ...more });
  running.push(e);
  return { exporter: e, metrics };
}

const asystole: Alert = makeAlert('asystole', { evidence: { hrBpm: 12, criterion: 'no QRS >= 4 s', thresholds: {} } });

describe('HL7 v2 over MLLP (IHE PCD-01 / PCD-04)', () => {
  it('sends ORU^R01 with the heart rate and ORU^R40 for each lifecycle change, with the codes of the doc, all ACKed', async () => {
    const { exporter: e, metrics } = exporter();
    const acked = { ...asystole, state: 'acknowledged' as const, acknowledgedBy: 'dr-a', acknowledgedAt: '2026-01-01T00:01:00Z', revision: 2 };
    const resolved = { ...acked, end: '2026-01-01T00:00:09Z', state: 'resolved' as const, resolvedBy: 'dr-a', resolvedAt: '2026-01-01T00:02:00Z', revision: 3 };
    await e.handleBatch([consumed(envelope(asystole), 0), consumed(envelope(acked, 'clinician'), 1), consumed(envelope(resolved, 'clinician'), 2)]);

    expect(listener.received.map((m) => m.getSegment('MSH')!.getField(9).toString())).toEqual(['ORU^R01^ORU_R01', 'ORU^R40^ORU_R40', 'ORU^R40^ORU_R40', 'ORU^R40^ORU_R40']);
    const [r01, raised, ack, end] = listener.received as [Hl7Message, Hl7Message, Hl7Message, Hl7Message];
    expect(r01.getSegment('MSH')!.getComponent(21, 1)).toBe('IHE_PCD_001');
    // An OID assigning authority goes bare with type ISO; PID-5 (name) stays empty.
    expect(r01.getSegment('PID')!.getField(3).toString()).toBe('MRN-001^^^&1.2.3.4&ISO^MR');
    expect(obx(r01)).toEqual([expect.objectContaining({ code: '147842', name: 'MDC_ECG_HEART_RATE', value: '12', units: '264864' })]);

    expect(raised.getSegment('MSH')!.getComponent(21, 1)).toBe('IHE_PCD_ACM_001');
    expect(raised.getSegment('OBR')!.getComponent(2, 1)).toBe(asystole.id);
    expect(obx(raised)[0]).toMatchObject({ code: '199684', name: 'MDC_EVT_ECG_ASYSTOLE', subId: '1.0.0.0.1', flags: 'A~PH~SP' });
    expect([facet(raised, '68481'), facet(raised, '68482'), facet(raised, '68483')]).toEqual(['start', 'active', undefined]);
    expect([facet(ack, '68481'), facet(ack, '68483')]).toEqual(['update', 'alert-acknowledged']);
    expect([facet(end, '68481'), facet(end, '68482')]).toEqual(['end', 'inactive']);
    expect(end.getSegment('OBR')!.getField(8).toString()).toBe('20260101000009.000+0000');
    expect(metrics.counter('pb_hl7_messages_total', '').get({ type: 'ORU^R40' })).toBe(3);
    expect(e.health()).toEqual({ status: 'ok' });
  });

  it('retries the same message after an AE or a missing ACK (same control id), paused meanwhile', async () => {
    const { exporter: e, metrics } = exporter({ ackTimeoutMs: 300 });
    listener.answers.push('AE', 'none');
    // The engine's text quotes the MRN: never in /healthz (no authentication) or the pause's log line.
    listener.rejectText = 'Unknown patient D4496622 in PID-3';
    const statuses: string[] = [];
    const reasons: string[] = [];
    const timer = setInterval(() => { const h = e.health(); statuses.push(h.status); if (h.reason) reasons.push(h.reason); }, 5);
    await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]);
    clearInterval(timer);
    const ids = listener.received.map((m) => m.getSegment('MSH')!.getField(10).toString());
    expect(ids).toEqual([`${asystole.id}-2`, `${asystole.id}-2`, `${asystole.id}-2`]);
    expect(statuses).toContain('paused');
    expect(reasons[0]).toBe('ACK AE; the receiver\'s text is logged at debug level');
    expect(reasons.some((r) => r.includes('D4496622'))).toBe(false);
    expect(e.health().status).toBe('ok');
    expect(metrics.counter('pb_hl7_naks_total', '').get({ code: 'AE' })).toBe(1);
    expect(bus.read(STREAMS.deadLetter)).toEqual([]);
  });

  it('dead-letters a message the engine keeps answering AE (an error in it), then goes on with the next patient', async () => {
    // HL7 v2.5 §2.9.2.2 b: AE = the engine found an error in this message (its ADT does not
    // know the MRN, say). Retried for ever, it held every other patient's alarms back.
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const { exporter: e, metrics } = exporter({ logger });
    listener.answers.push('AE', 'AE', 'AE', 'AE', 'AE');
    listener.rejectText = 'Unknown patient MRN-001';
    const other = makeAlert('afib');
    await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 4), consumed(envelope({ ...other, revision: 2 }), 5)]);
    expect(controlIds()).toEqual([...Array(5).fill(`${asystole.id}-2`), `${other.id}-2`]);
    const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
    expect(dead.map((d) => [d.reason, d.detail.includes('AE: Unknown patient MRN-001')])).toEqual([['hl7_error', true]]);
    expect(metrics.counter('pb_ehr_dead_letters_total', '').get({ reason: 'hl7_error' })).toBe(1);
    expect(e.health()).toEqual({ status: 'ok' });
    // The log says what happens: not "retrying until it does", and never the engine's text (the MRN).
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['HL7 export paused: the receiver answers AE/AR; retrying this message, dead-lettered after 5 such answers']);
    expect(lines.map((l) => l.msg)).toContain('alert not sent over HL7; dead-lettered');
    expect(JSON.stringify(lines)).not.toContain('MRN-001');
  });

  it('is no longer paused once the engine answers again, an AR included', async () => {
    const { exporter: e, metrics } = exporter();
    listener.answers.push('AE', 'AR', 'AE', 'AR', 'AE');
    await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]);
    expect(bus.read(STREAMS.deadLetter)).toHaveLength(1);
    // Before: "paused, ACK AE" until some later message was ACKed, however long that took.
    expect(e.health()).toEqual({ status: 'ok' });
    expect(metrics.gauge('pb_hl7_export_paused', '').get({})).toBe(0);
  });

  it('retries a message the receiver rejects (AR) once, paused meanwhile, and records it once when the next answer is AA', async () => {
    // HL7 v2.5 §2.9.2.2 c: AR = refused for a reason unrelated to the content, e.g. the receiving
    // system is down. Dead-lettered at the first AR, the alarm was lost to a passing outage.
    const { exporter: e, metrics } = exporter();
    listener.answers.push('AR');
    await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]);
    expect(bus.read(STREAMS.deadLetter)).toEqual([]);
    expect(controlIds()).toEqual([`${asystole.id}-2`, `${asystole.id}-2`]);
    expect(metrics.counter('pb_hl7_naks_total', '').get({ code: 'AR' })).toBe(1);
    expect(e.health()).toEqual({ status: 'ok' });
  });

  it('dead-letters a message the receiver keeps rejecting (AR, 5 answers) and goes on with the next', async () => {
    const { exporter: e } = exporter();
    listener.answers.push(...REJECTS);
    const other = makeAlert('afib');
    await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 4), consumed(envelope({ ...other, revision: 2 }), 5)]);
    const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
    expect(dead.map((d) => [d.reason, d.source, d.stream])).toEqual([['hl7_rejected', 'ehr-exporter', STREAMS.alerts]]);
    expect(listener.received.map((m) => obx(m)[0]!.code)).toEqual([...REJECTS.map(() => '199684'), '199736']);
  });

  it('logs and counts every dead letter, with ids and never the MRN', async () => {
    const lines: Record<string, unknown>[] = [];
    // Info and above: the engine's own text (which may quote the MRN) is logged at debug level only.
    const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const { exporter: e, metrics } = exporter({ logger });
    listener.answers.push(...REJECTS);
    listener.rejectText = 'Unknown patient MRN-001';
    const stranger = makeAlert('afib', { patientId: 'p-999' });
    await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0), consumed(envelope(stranger), 1), consumed('not json', 2)]);
    const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
    expect(dead.map((d) => d.reason)).toEqual(['hl7_rejected', 'mrn_unknown', 'schema']);
    expect(dead[0]!.detail).toContain('MRN-001'); // the record keeps what the engine said
    const warned = lines.filter((l) => l.level === 'warn');
    expect(warned.map((l) => [l.reason, l.alertId, l.patientId])).toEqual([['hl7_rejected', asystole.id, 'p-001'], ['mrn_unknown', stranger.id, 'p-999'], ['schema', undefined, undefined]]);
    expect(warned[0]).toMatchObject({ rejected: ['ORU^R40'], revision: 2, kind: 'asystole' });
    expect(JSON.stringify(lines)).not.toContain('MRN-001');
    const counted = metrics.counter('pb_ehr_dead_letters_total', '');
    expect([counted.get({ reason: 'hl7_rejected' }), counted.get({ reason: 'mrn_unknown' }), counted.get({ reason: 'schema' })]).toEqual([1, 1, 1]);
  });

  it('sends the alarm start when the engine rejects its heart rate (AR), and the replay sends only the heart rate', async () => {
    const { exporter: e } = exporter();
    listener.answers.push(...REJECTS);
    await e.handleBatch([consumed(envelope(asystole), 0)]);
    const dead = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()) as DeadLetterRecord);
    expect(dead.map((d) => [d.reason, d.detail.includes('ORU^R01')])).toEqual([['hl7_rejected', true]]);
    expect(facet(listener.received[REJECTS.length]!, '68481')).toBe('start');
    // `pulsebridge deadletter replay`: the engine already has the alarm, not the heart rate.
    await e.handleBatch([{ ...consumed(envelope(asystole), 1), headers: { 'pb-replay-of': '0:1' } }]);
    expect(controlIds()).toEqual([...REJECTS.map(() => `${asystole.id}-1-hr`), `${asystole.id}-1`, `${asystole.id}-1-hr`]);
  });

  it('ends every segment with CR, the last one too, before <FS><CR>', async () => {
    // A raw TCP listener: what crosses the wire, not what a parser makes of it.
    const frames: string[] = [];
    const raw = createServer((socket) => {
      let buffered = '';
      socket.on('data', (chunk) => {
        buffered += chunk.toString('utf8');
        for (let end = buffered.indexOf('\x1c\r'); end >= 0; end = buffered.indexOf('\x1c\r')) {
          const frame = buffered.slice(0, end + 2);
          buffered = buffered.slice(end + 2);
          frames.push(frame);
          const controlId = frame.split('|')[9];
          socket.write(`\x0bMSH|^~\\&|EHR||PULSEBRIDGE||20260101000000||ACK|a-${controlId}|P|2.6\rMSA|AA|${controlId}\r\x1c\r`);
        }
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const { exporter: e } = exporter({ port: (raw.address() as AddressInfo).port });
    try {
      await e.handleBatch([consumed(envelope(asystole), 0)]);
    } finally {
      await e.stop();
      await new Promise((resolve) => raw.close(resolve));
    }
    expect(frames).toHaveLength(2);
    for (const frame of frames) {
      expect(frame.startsWith('\x0bMSH|')).toBe(true);
      expect(frame.endsWith('\r\x1c\r')).toBe(true);
      expect(frame.slice(1, -2).split('\r').slice(0, -1).map((segment) => segment.slice(0, 4))).toEqual(expect.arrayContaining(['MSH|', 'PID|', 'OBR|', 'OBX|']));
    }
  });

  it('resends at once when the engine closes the connection instead of answering (plain TCP), and says so', async () => {
    // An engine that drops the connection on the first message and ACKs on the next one. The ACK
    // wait is far longer than the test may take: only noticing the close lets it finish.
    const frames: string[] = [];
    const raw = createServer((socket) => {
      socket.on('data', (chunk) => {
        const frame = chunk.toString('utf8');
        frames.push(frame);
        if (frames.length === 1) return void socket.destroy();
        const controlId = frame.split('|')[9];
        socket.write(`\x0bMSH|^~\\&|EHR||PULSEBRIDGE||20260101000000||ACK|a-${controlId}|P|2.6\rMSA|AA|${controlId}\r\x1c\r`);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const port = (raw.address() as AddressInfo).port;
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const { exporter: e } = exporter({ port, ackTimeoutMs: 600_000, logger });
    try {
      await e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]);
    } finally {
      await e.stop();
      await new Promise((resolve) => raw.close(resolve));
    }
    expect(frames.map((f) => f.split('|')[9])).toEqual([`${asystole.id}-2`, `${asystole.id}-2`]);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.reason)).toEqual([`MLLP to 127.0.0.1:${port}: the receiver closed the connection`]);
    expect(e.health()).toEqual({ status: 'ok' });
  }, 20_000);

  // EHR walk (after cc51669 made the FHIR side degraded at its first request timeout): an engine
  // that takes the connection and never ACKs. The HL7 side already says paused at the first ACK
  // timeout, not after several, and holds it across the resends (no ok in between) until the engine
  // answers; pinned here.
  it('says paused from the first ACK timeout of an engine that accepts and never answers, held across resends, ok once it ACKs', async () => {
    const frames: string[] = [];
    /** What /healthz said when each send reached the engine. */
    const healthAtSend: string[] = [];
    let answering = false;
    const sockets = new Set<import('node:net').Socket>();
    const raw = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('data', (chunk) => {
        const frame = chunk.toString('utf8');
        frames.push(frame);
        healthAtSend.push(e.health().status);
        if (!answering) return; // accepted, read, never answered
        const controlId = frame.split('|')[9];
        socket.write(`\x0bMSH|^~\\&|EHR||PULSEBRIDGE||20260101000000||ACK|a-${controlId}|P|2.6\rMSA|AA|${controlId}\r\x1c\r`);
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const port = (raw.address() as AddressInfo).port;
    const { exporter: e } = exporter({ port, ackTimeoutMs: 300 });
    const statuses: string[] = [e.health().status];
    const reasons = new Set<string>();
    const sample = () => { const h = e.health(); statuses.push(h.status); if (h.reason) reasons.add(h.reason); };
    try {
      let done = false;
      const batch = e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]).finally(() => { done = true; });
      // Sent, and sent again twice after an ACK timeout each: three unanswered sends.
      await until(() => { sample(); return frames.length >= 3; });
      answering = true;
      await until(() => { sample(); return done; });
      await batch;
      sample();
    } finally {
      await e.stop();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => raw.close(resolve));
    }
    const changes = statuses.filter((s, i) => i === 0 || s !== statuses[i - 1]);
    expect(changes).toEqual(['ok', 'paused', 'ok']);
    // Paused at the first ACK timeout: every resend already went out paused.
    expect(healthAtSend[0]).toBe('ok');
    expect(healthAtSend.slice(1)).toEqual(Array(frames.length - 1).fill('paused'));
    expect([...reasons].every((r) => /timed out after waiting 300 milliseconds/.test(r))).toBe(true);
    expect(new Set(frames.map((f) => f.split('|')[9]))).toEqual(new Set([`${asystole.id}-2`]));
  }, 20_000);

  it('names the device in OBX-18 and the alarm in OBR-2/3 as EI id^namespace, EI-4 (a table 0301 type) empty', () => {
    const options = { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR', mrn: { system: 'urn:oid:1.2.3.4', value: 'MRN-7' } };
    for (const text of [pcd01HeartRate(asystole, options, asystole.onset)!, pcd04Alarm(asystole, options, asystole.onset)]) {
      const m = Hl7Message.parse(text);
      const obx18 = m.getSegment('OBX')!.getField(18);
      expect([obx18.getComponent(1), obx18.getComponent(2), obx18.getComponent(4)]).toEqual([asystole.deviceId, 'PULSEBRIDGE', '']);
      expect(m.getSegment('OBR')!.getField(2).toString()).toBe(`${asystole.id}^PULSEBRIDGE`);
    }
  });

  it('names any other MRN system as a URI', () => {
    const options = { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR', mrn: { system: 'https://hospital.example/mrn', value: 'MRN-7' } };
    expect(Hl7Message.parse(pcd04Alarm(asystole, options, asystole.onset)).getSegment('PID')!.getField(3).toString()).toBe('MRN-7^^^&https://hospital.example/mrn&URI^MR');
  });

  it('waits while nothing listens, and delivers once the listener is up', async () => {
    const port = listener.port;
    await listener.stop();
    const { exporter: e } = exporter({ port });
    const delivered = e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]);
    while (e.health().status !== 'paused') await new Promise((r) => setTimeout(r, 5));
    listener = await startListener(port);
    await delivered;
    expect(listener.received).toHaveLength(1);
    expect(e.health().status).toBe('ok');
  });

  // FHIR's /healthz has said since when it is paused (pausedSince); HL7's said only that it was.
  it('says since when it is paused (pausedSince, held across the retries of one pause), and drops it on resume', async () => {
    const port = listener.port;
    await listener.stop();
    let clock = Date.parse('2026-01-01T01:00:00Z');
    const { exporter: e, metrics } = exporter({ port, now: () => clock, evidenceUpdateIntervalMs: 0 });
    const transportFailures = () => metrics.counter('pb_hl7_naks_total', '').get({ code: 'transport' });
    const delivered = e.handleBatch([consumed(envelope({ ...asystole, revision: 2 }), 0)]);
    await until(() => e.health().status === 'paused');
    expect(e.health()).toMatchObject({ status: 'paused', pausedSince: '2026-01-01T01:00:00.000Z' });
    // A minute later, two more failed connection attempts: still the same pause.
    clock += 60_000;
    const failures = transportFailures();
    await until(() => transportFailures() >= failures + 2);
    expect(e.health()).toMatchObject({ status: 'paused', pausedSince: '2026-01-01T01:00:00.000Z' });
    listener = await startListener(port);
    await delivered;
    expect(e.health()).toEqual({ status: 'ok' });
    // The next pause is a new one, with its own start.
    await listener.stop();
    clock += 3_600_000;
    const next = e.handleBatch([consumed(envelope({ ...asystole, revision: 3 }), 1)]);
    await until(() => e.health().status === 'paused');
    expect(e.health().pausedSince).toBe('2026-01-01T02:01:00.000Z');
    listener = await startListener(port);
    await next;
    expect(e.health()).toEqual({ status: 'ok' });
  }, 20_000);

  describe('revisions already sent are not sent again', () => {
    const ended = { ...asystole, end: '2026-01-01T00:00:09Z', revision: 3 };
    const acked = { ...ended, state: 'acknowledged' as const, acknowledgedBy: 'dr-a', acknowledgedAt: '2026-01-01T00:01:00Z', revision: 4 };

    it('skips a processor re-publish and a dead-letter replay of an older revision, and counts them', async () => {
      const { exporter: e, metrics } = exporter();
      const replay = (m: ReturnType<typeof consumed>) => ({ ...m, headers: { 'pb-replay-of': '0:17' } });
      await e.handleBatch([consumed(envelope(asystole), 0), consumed(envelope(ended), 1)]);
      // After a processor restart: the same revision 3 again; then a FHIR dead letter of revision 1 replayed.
      await e.handleBatch([consumed(envelope(ended), 2), replay(consumed(envelope(asystole), 3)), consumed(envelope(acked, 'clinician'), 4)]);
      expect(controlIds()).toEqual([`${asystole.id}-1-hr`, `${asystole.id}-1`, `${asystole.id}-3`, `${asystole.id}-4`]);
      expect(metrics.counter('pb_hl7_already_sent_total', '').get({ type: 'ORU^R40' })).toBe(2);
      expect(metrics.counter('pb_hl7_already_sent_total', '').get({ type: 'ORU^R01' })).toBe(1);
    });

    it('sends a rejected revision when its dead letter is replayed, unless a later one went through', async () => {
      const { exporter: e } = exporter({ evidenceUpdateIntervalMs: 0 });
      listener.answers.push('AA', ...REJECTS, ...REJECTS);
      const update = { ...asystole, revision: 2, evidence: { ...asystole.evidence, gapMs: 8000 } };
      await e.handleBatch([consumed(envelope({ ...asystole, evidence: { criterion: 'x', thresholds: {} } }), 0), consumed(envelope(update), 1), consumed(envelope(ended), 2)]);
      expect(bus.read(STREAMS.deadLetter)).toHaveLength(2);
      await e.handleBatch([consumed(envelope(ended), 3)]);
      await e.handleBatch([consumed(envelope(update), 4)]);
      expect(controlIds()).toEqual([`${asystole.id}-1`, ...REJECTS.map(() => `${asystole.id}-2`), ...REJECTS.map(() => `${asystole.id}-3`), `${asystole.id}-3`]);
    });

    it('after a restart, reads back what the group handled before and skips it', async () => {
      const metrics = new MetricsRegistry();
      const first = exporter({ metrics }).exporter;
      await first.start();
      const publish = (a: Alert, headers?: Record<string, string>) => bus.publish(STREAMS.alerts, [{ key: a.patientId, value: Buffer.from(JSON.stringify(envelope(a))), ...(headers ? { headers } : {}) }]);
      await publish(asystole);
      await publish(ended);
      await until(() => listener.received.length === 3);
      await first.stop();
      // While it is down: the processor restarts (re-publishes revision 3), a replay brings
      // revision 1 back, and a clinician acknowledges (revision 4).
      await publish(ended);
      await publish(asystole, { 'pb-replay-of': '0:17' });
      await publish(acked);
      await exporter({ metrics }).exporter.start();
      await until(() => listener.received.length >= 4);
      await new Promise((r) => setTimeout(r, 50));
      expect(controlIds()).toEqual([`${asystole.id}-1-hr`, `${asystole.id}-1`, `${asystole.id}-3`, `${asystole.id}-4`]);
      expect(metrics.counter('pb_hl7_already_sent_total', '').get({ type: 'ORU^R40' })).toBe(2);
    });

    it('forgets the alert sent least recently beyond its size', () => {
      const ledger = new SentLedger(2);
      ledger.note('a', { revision: 3 });
      ledger.note('b', { revision: 1 });
      ledger.note('a', { revision: 4 });
      ledger.note('c', { hr: true });
      expect([ledger.revision('a'), ledger.revision('b'), ledger.hrSent('c'), ledger.size]).toEqual([4, 0, true, 2]);
    });
  });

  // EHR walk: a long alarm sent one ORU^R40 per evidence change (a 7 min tachycardia: 42, 40 of
  // them `update`s with a new rate every 10 s). With an interval, evidence-only updates are held
  // back within it; nothing else is.
  describe('evidence-only updates coalesced (PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN)', () => {
    const T = Date.parse('2026-01-01T00:00:10.000Z');
    const at = (s: number) => new Date(T + s * 1000).toISOString();
    /**
     * One extreme tachycardia (high priority) as the processor publishes it: raised at 0 s, evidence
     * every 10 s, escalated at 60 s, acknowledged at 125 s, ended at 400 s (resolved: acknowledged
     * while it lasted); revision n. Returns the snapshots in stream order.
     */
    function longAlarm(): Alert[] {
      const base = makeAlert('extreme_tachy', { detectedAt: at(0), updatedAt: at(0), evidence: { hrBpm: 160, criterion: 'x', thresholds: {} } });
      const out: Alert[] = [base];
      let a: Alert = base;
      const next = (s: number, change: Partial<Alert> = {}) => { a = { ...a, revision: a.revision + 1, updatedAt: at(s), evidence: { ...a.evidence, hrBpm: 160 + (s % 7) }, ...change }; out.push(a); };
      for (let s = 10; s < 400; s += 10) {
        if (s === 60) next(60, { escalationLevel: 1, escalatedAt: at(60) });
        else next(s);
        if (s === 120) next(125, { state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: at(125) });
      }
      next(410, { end: at(400), state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: at(410) });
      return out;
    }
    const alarm = longAlarm();
    const id = alarm[0]!.id;
    const revisionAt = (s: number) => alarm.find((a) => a.updatedAt === at(s))!.revision;
    // Interval 120 s: start (0 s), escalation (60 s), acknowledgement (125 s), then the first update
    // 120 s or more after the last message sent (250 s, 370 s), and the end.
    const expected = [`${id}-1-hr`, ...[0, 60, 125, 250, 370, 410].map((s) => `${id}-${revisionAt(s)}`)];

    it('sends start, escalation, acknowledgement and end at once, and at most one evidence update per interval', async () => {
      const { exporter: e, metrics } = exporter({ evidenceUpdateIntervalMs: 120_000 });
      await e.handleBatch(alarm.map((a, i) => consumed(envelope(a, a.acknowledgedAt === a.updatedAt ? 'clinician' : 'processor'), i)));
      expect(alarm).toHaveLength(42);
      expect(controlIds()).toEqual(expected);
      expect(listener.received.slice(1).map((m) => facet(m, '68481'))).toEqual(['start', 'escalate', 'update', 'update', 'update', 'end']);
      expect(facet(listener.received[3]!, '68483')).toBe('alert-acknowledged');
      expect(metrics.counter('pb_hl7_evidence_updates_held_total', '').get({})).toBe(alarm.length - 6);
      // A re-delivery (or a processor re-publish) of a held update does not send it late.
      await e.handleBatch([consumed(envelope(alarm[5]!), 100)]);
      expect(controlIds()).toHaveLength(expected.length);
    });

    it('sends every change with an interval of 0', async () => {
      const { exporter: e } = exporter({ evidenceUpdateIntervalMs: 0 });
      await e.handleBatch(alarm.map((a, i) => consumed(envelope(a), i)));
      expect(controlIds()).toEqual([`${id}-1-hr`, ...alarm.map((a) => `${id}-${a.revision}`)]);
    });

    it('makes the same decisions after a restart: the rebuilt ledger replays them from the stream; the update held at the stop goes at the stop, once', async () => {
      const first = exporter({ evidenceUpdateIntervalMs: 120_000 }).exporter;
      await first.start();
      const publish = (list: Alert[]) => bus.publish(STREAMS.alerts, list.map((a) => ({ key: a.patientId, value: Buffer.from(JSON.stringify(envelope(a))) })));
      // Stopped 3 updates after the acknowledgement: the last message sent was the acknowledgement.
      const cut = alarm.findIndex((a) => a.updatedAt === at(160));
      await publish(alarm.slice(0, cut));
      await until(() => bus.uncommitted('hl7-exporter', STREAMS.alerts) === 0);
      await first.stop();
      await publish(alarm.slice(cut));
      await exporter({ evidenceUpdateIntervalMs: 120_000 }).exporter.start();
      await until(() => controlIds().at(-1) === expected.at(-1));
      // The stop sent the latest held update (150 s) rather than leave it to a timer that is gone;
      // the restarted exporter does not send it again.
      expect(controlIds()).toEqual([...expected.slice(0, 4), `${id}-${revisionAt(150)}`, ...expected.slice(4)]);
    });
  });

  // Issue 12 follow-up: a held update was dropped; an alarm that then neither changed nor ended
  // left the engine at the old rate. The latest held one now goes once its interval has passed.
  describe('held evidence update: trailing send once the interval has passed', () => {
    // Snapshot times 100 ms apart, interval 300 ms: the trailing send is due 200 ms after the
    // held update was handled (the test waits for a condition, never on a duration).
    const T = Date.parse('2026-01-01T00:00:10.000Z');
    const ms = (n: number) => new Date(T + n).toISOString();
    const raised = makeAlert('extreme_tachy', { detectedAt: ms(0), updatedAt: ms(0), evidence: { hrBpm: 160, criterion: 'x', thresholds: {} } });
    const rate = (revision: number, at: number, hrBpm: number): Alert => ({ ...raised, revision, updatedAt: ms(at), evidence: { ...raised.evidence, hrBpm } });
    const id = raised.id;
    const r40 = () => listener.received.filter((m) => m.getSegment('MSH')!.getField(9).toString().includes('R40'));
    /** A later alarm of another patient's kind, sent at once: everything before it was handled. */
    const marker = makeAlert('asystole', { onset: '2026-01-01T01:00:00Z', updatedAt: '2026-01-01T01:00:00Z', evidence: { criterion: 'x', thresholds: {} } });
    const markerSent = () => controlIds().includes(`${marker.id}-1`);

    it('sends the latest held update once the interval has passed when nothing else comes for the alarm', async () => {
      const { exporter: e, metrics } = exporter({ evidenceUpdateIntervalMs: 300 });
      await e.handleBatch([consumed(envelope(raised), 0), consumed(envelope(rate(2, 100, 171)), 1), consumed(envelope(rate(3, 200, 172)), 2)]);
      expect(controlIds()).toEqual([`${id}-1-hr`, `${id}-1`]);
      await until(() => controlIds().length === 3);
      expect(controlIds()).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-3`]);
      expect(facet(r40()[1]!, '68481')).toBe('update');
      expect(listener.received[2]!.toString()).toContain('172');
      // Counted once the ACK is back (the listener records the message before it answers).
      await until(() => metrics.counter('pb_hl7_evidence_updates_trailing_total', '').get({ when: 'due' }) === 1);
      // A re-delivery of either held snapshot afterwards sends nothing.
      await e.handleBatch([consumed(envelope(rate(2, 100, 171)), 3), consumed(envelope(rate(3, 200, 172)), 4), consumed(envelope(marker), 5)]);
      await until(markerSent);
      expect(controlIds().filter((c) => c.startsWith(id))).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-3`]);
    });

    it('sends nothing late when a later message superseded the held update (the end, with the whole state)', async () => {
      const { exporter: e } = exporter({ evidenceUpdateIntervalMs: 300 });
      const ended = { ...rate(3, 250, 150), end: ms(240), state: 'resolved' as const, resolvedBy: 'pulsebridge-processor', resolvedAt: ms(250) };
      await e.handleBatch([consumed(envelope(raised), 0), consumed(envelope(rate(2, 100, 171)), 1), consumed(envelope(ended), 2)]);
      expect(controlIds()).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-3`]);
      // Well past the held update's due time, another alarm goes through; the held one never does.
      await new Promise((r) => setTimeout(r, 400));
      await e.handleBatch([consumed(envelope(marker), 3)]);
      await until(markerSent);
      expect(controlIds().filter((c) => c.startsWith(id))).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-3`]);
    });

    it('a restarted exporter sends a held update neither twice nor never: sent by the timer before the stop, or at the stop', async () => {
      const publish = (list: Alert[]) => bus.publish(STREAMS.alerts, list.map((a) => ({ key: a.patientId, value: Buffer.from(JSON.stringify(envelope(a))) })));
      // Held, sent by its timer, then the exporter restarts: the rebuilt ledger does not send it again.
      const first = exporter({ evidenceUpdateIntervalMs: 300 }).exporter;
      await first.start();
      await publish([raised, rate(2, 100, 171)]);
      await until(() => controlIds().includes(`${id}-2`));
      await first.stop();
      // Held and still waiting when the exporter stops: it goes at the stop, once.
      const second = exporter({ evidenceUpdateIntervalMs: 60_000 }).exporter;
      await second.start();
      await publish([rate(3, 1_000, 173), rate(4, 1_100, 174)]);
      await until(() => bus.uncommitted('hl7-exporter', STREAMS.alerts) === 0);
      expect(controlIds().filter((c) => c.startsWith(id))).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-2`]);
      await second.stop();
      expect(controlIds().filter((c) => c.startsWith(id))).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-2`, `${id}-4`]);
      await exporter({ evidenceUpdateIntervalMs: 60_000 }).exporter.start();
      await publish([marker]);
      await until(markerSent);
      expect(controlIds().filter((c) => c.startsWith(id))).toEqual([`${id}-1-hr`, `${id}-1`, `${id}-2`, `${id}-4`]);
    });
  });

  // Review of 3c940a1: the stop's flush was not bounded as it said (the ACK wait of each send ran
  // in full), and a timer kept running after the alerts partition moved to another instance.
  describe('held evidence updates: a bounded stop, and only from the instance that owns the partition', () => {
    const T = Date.parse('2026-01-01T00:00:10.000Z');
    const ms = (n: number) => new Date(T + n).toISOString();
    /** Alarm `i` (its own onset, so its own id): raised at 0, then an evidence-only update at 100 ms. */
    const alarmOf = (i: number) => {
      const raised = makeAlert('extreme_tachy', { onset: ms(-3_000 - i * 1_000), detectedAt: ms(0), updatedAt: ms(0), evidence: { hrBpm: 160, criterion: 'x', thresholds: {} } });
      return [raised, { ...raised, revision: 2, updatedAt: ms(100), evidence: { ...raised.evidence, hrBpm: 171 } }] as const;
    };

    it('stop() gives up once flushOnStopMs has run out against an engine that ACKs slowly: some held updates sent, the rest logged unsent', async () => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
      // An ACK wait far longer than the flush: only the flush's bound can end the stop early.
      const { exporter: e, metrics } = exporter({ evidenceUpdateIntervalMs: 60_000, flushOnStopMs: 200, ackTimeoutMs: 60_000, logger });
      const alarms = Array.from({ length: 30 }, (_, i) => alarmOf(i));
      await e.handleBatch(alarms.flat().map((a, i) => consumed(envelope(a), i)));
      const held = alarms.map(([, update]) => `${update.id}-2`);
      expect(controlIds().filter((c) => held.includes(c))).toEqual([]);
      // 50 ms per ACK: the 30 held updates would take 1.5 s, the flush may take 0.2 s.
      listener.ackDelayMs = 50;
      await e.stop();
      const sentAtStop = metrics.counter('pb_hl7_evidence_updates_trailing_total', '').get({ when: 'stop' });
      expect(sentAtStop).toBeGreaterThan(0);
      expect(sentAtStop).toBeLessThan(held.length);
      // Nothing is tried after the bound: at most the one whose ACK was given up on reached the engine unACKed.
      expect(controlIds().filter((c) => held.includes(c)).length - sentAtStop).toBeLessThanOrEqual(1);
      expect(lines.find((l) => l.msg === 'HL7: stopping with held evidence updates unsent; they go with each alarm\'s next message')).toMatchObject({ waiting: held.length, unsent: held.length - sentAtStop });
    });

    it('stop() does not wait out the ACK timeout of an engine that takes a held update and never answers', async () => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
      // An ACK wait longer than the test may take: only the flush's bound can end the stop.
      const { exporter: e, metrics } = exporter({ evidenceUpdateIntervalMs: 60_000, flushOnStopMs: 200, ackTimeoutMs: 600_000, logger });
      const alarms = Array.from({ length: 3 }, (_, i) => alarmOf(i));
      await e.handleBatch(alarms.flat().map((a, i) => consumed(envelope(a), i)));
      const held = alarms.map(([, update]) => `${update.id}-2`);
      listener.answers.push('none', 'none', 'none');
      // Without the bound this waits 10 min for the first ACK: the test fails by its timeout.
      await e.stop();
      expect(metrics.counter('pb_hl7_evidence_updates_trailing_total', '').get({ when: 'stop' })).toBe(0);
      expect(controlIds().filter((c) => held.includes(c))).toEqual([held[0]]);
      expect(lines.find((l) => l.msg === 'HL7: stopping with held evidence updates unsent; they go with each alarm\'s next message')).toMatchObject({ waiting: 3, unsent: 3 });
    });

    /**
     * The in-process bus behind a subscription whose assignment and join time the test sets: what a
     * Kafka member sees when its group rebalances.
     */
    function movableBus(ownership: { assigned: number[]; joinedAtMs: number }): Bus {
      return {
        publish: (stream, messages) => bus.publish(stream, messages),
        ensureStreams: (streams) => bus.ensureStreams(streams),
        close: async () => {},
        subscribe: async (stream, options) => {
          const sub = await bus.subscribe(stream, options);
          return {
            stop: () => sub.stop(),
            endOffsets: () => sub.endOffsets(),
            assignedPartitions: () => ownership.assigned,
            status: () => ({ ...sub.status!(), sinceMs: ownership.joinedAtMs }),
          };
        },
      };
    }

    it.each([
      ['the partition moved to another instance', (o: { assigned: number[]; joinedAtMs: number }) => { o.assigned = []; }, false],
      ['the group rebalanced and gave the partition back (another instance may have had it meanwhile)', (o: { assigned: number[]; joinedAtMs: number }) => { o.joinedAtMs = Date.now() + 1; }, false],
      ['the partition stayed with this instance', () => {}, true],
    ] as const)('a held update due after %s: sent only if it stayed', async (_, rebalance, sent) => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
      const ownership = { assigned: [0], joinedAtMs: Date.now() };
      const { exporter: e } = exporter({ bus: movableBus(ownership), evidenceUpdateIntervalMs: 300, logger });
      await e.start();
      const [raised, update] = alarmOf(0);
      await bus.publish(STREAMS.alerts, [raised, update].map((a) => ({ key: a.patientId, value: Buffer.from(JSON.stringify(envelope(a))) })));
      await until(() => bus.uncommitted('hl7-exporter', STREAMS.alerts) === 0);
      expect(controlIds()).toEqual([`${raised.id}-1-hr`, `${raised.id}-1`]);
      rebalance(ownership);
      const dropped = () => lines.some((l) => l.msg === 'HL7: held evidence update not sent: the alerts partition may have moved to another exporter instance since it was held; it goes with the alarm\'s next message');
      await until(() => dropped() || controlIds().includes(`${update.id}-2`));
      expect(controlIds().includes(`${update.id}-2`)).toBe(sent);
      expect(dropped()).toBe(!sent);
    });
  });

  describe('event phase follows start / update / escalate / end', () => {
    const at = (s: number) => `2026-01-01T00:0${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}.000Z`;
    // One high-priority asystole through the processor's lifecycle (updatedAt = wall clock of each revision).
    const raised = { ...asystole, updatedAt: at(10) };
    const evidence = { ...raised, revision: 2, updatedAt: at(20) };
    const escalated = { ...evidence, revision: 3, escalationLevel: 1, escalatedAt: at(70), updatedAt: at(70) };
    const afterEscalation = { ...escalated, revision: 4, updatedAt: at(80) };
    const acked = { ...afterEscalation, revision: 5, state: 'acknowledged' as const, acknowledgedBy: 'dr-a', acknowledgedAt: at(90), updatedAt: at(90) };
    const ackedThenEnded = { ...acked, revision: 6, end: at(95), updatedAt: at(105) };
    const latched = { ...evidence, revision: 3, end: at(30), updatedAt: at(40) };
    const latchedEscalated = { ...latched, revision: 4, escalationLevel: 1, escalatedAt: at(70), updatedAt: at(70) };
    const resolved = { ...ackedThenEnded, revision: 7, state: 'resolved' as const, resolvedBy: 'dr-a', resolvedAt: at(110), updatedAt: at(110) };
    const brady = makeAlert('brady', { revision: 2, end: at(30), state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: at(40), updatedAt: at(40) });

    it.each([
      ['raised', raised, { phase: 'start', state: 'active' }],
      ['new evidence', evidence, { phase: 'update', state: 'active' }],
      ['escalated while the condition lasts', escalated, { phase: 'escalate', state: 'active' }],
      ['new evidence after an escalation', afterEscalation, { phase: 'update', state: 'active' }],
      ['acknowledged while the condition lasts', acked, { phase: 'update', state: 'active', inactivation: 'alert-acknowledged' }],
      ['acknowledged, then the condition ends', ackedThenEnded, { phase: 'end', state: 'inactive', inactivation: 'alert-acknowledged' }],
      ['ended, unacknowledged (latched)', latched, { phase: 'end', state: 'latched' }],
      ['escalated after it ended, still unacknowledged', latchedEscalated, { phase: 'escalate', state: 'latched' }],
      ['acknowledged after it ended and escalated', { ...latchedEscalated, revision: 5, state: 'acknowledged' as const, acknowledgedBy: 'dr-a', acknowledgedAt: at(100), updatedAt: at(100) }, { phase: 'end', state: 'inactive', inactivation: 'alert-acknowledged' }],
      ['resolved by a clinician', resolved, { phase: 'end', state: 'inactive', inactivation: 'alert-acknowledged' }],
      ['non-latching, ended and resolved by the processor (nobody acknowledged it)', brady, { phase: 'end', state: 'inactive' }],
      // AF latches until reviewed (medium priority, no escalation): ended and unacknowledged is latched too.
      ['AF ended, not yet reviewed (latched)', makeAlert('afib', { revision: 2, end: at(30), updatedAt: at(40) }), { phase: 'end', state: 'latched' }],
    ] as const)('%s', (_, alert, facets) => {
      expect(alarmFacets(alert)).toEqual(facets);
    });

    it('says which escalation it is', () => {
      const options = { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR', mrn: { system: 'urn:mrn', value: 'MRN-001' } };
      const level = (a: Alert) => obx(Hl7Message.parse(pcd04Alarm(a, options, at(0)))).find((o) => o.subId === '1.0.0.0.6')?.value;
      expect([level(latched), level(latchedEscalated), level({ ...latchedEscalated, revision: 5, escalationLevel: 2, escalatedAt: at(190), updatedAt: at(190) })]).toEqual([undefined, '1', '2']);
    });
  });
});

describe('HL7 v2: PHI audit trail and exports dated in the future', () => {
  let dataDir: string;
  beforeEach(() => { dataDir = mkdtempSync(path.join(os.tmpdir(), 'pb-hl7-audit-')); });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const audit = () => ({ sink: new JsonlAuditSink<EhrAuditEntry>({ dataDir }) });
  const trail = () => readFileSync(auditLogPath(dataDir), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EhrAuditEntry);
  const noRate = makeAlert('asystole', { evidence: { criterion: 'no QRS >= 4 s', thresholds: {} } });

  it('one entry per ACKed message, in the dashboard\'s file (0600): message type, control id, ACK, destination; no MRN', async () => {
    const { exporter: e } = exporter({ audit: audit() });
    await e.handleBatch([consumed(envelope(noRate), 0)]);
    expect(trail()).toEqual([{
      at: expect.any(String), actor: { sub: EHR_EXPORTER_ACTOR, role: 'ehr-exporter' }, action: 'ehr.hl7.send',
      patientId: 'p-001', alertId: noRate.id, deviceId: 'patch-0001', outcome: 'accepted', ack: 'AA',
      messageType: 'ORU^R40', controlId: `${noRate.id}-1`, destination: `mllp://127.0.0.1:${listener.port}`, detail: 'alert revision 1',
    }]);
    expect(readFileSync(auditLogPath(dataDir), 'utf8')).not.toContain('MRN-001');
    expect(statSync(auditLogPath(dataDir)).mode & 0o777).toBe(0o600);
    // With a heart rate the raised alert is two messages: two entries.
    const withRate = makeAlert('asystole', { onset: '2026-01-01T00:05:00Z', evidence: asystole.evidence });
    await e.handleBatch([consumed(envelope(withRate), 1)]);
    expect(trail().slice(1).map((x) => [x.messageType, x.controlId])).toEqual([['ORU^R01', `${withRate.id}-1-hr`], ['ORU^R40', `${withRate.id}-1`]]);
  });

  it('a message answered AE, then not at all, then AA leaves one accepted entry; an AR and an unknown MRN are one entry each', async () => {
    const { exporter: e } = exporter({ audit: audit(), ackTimeoutMs: 300, evidenceUpdateIntervalMs: 0 });
    listener.answers.push('AE', 'none');
    await e.handleBatch([consumed(envelope(noRate), 0)]);
    expect(listener.received).toHaveLength(3);
    expect(trail().map((x) => [x.outcome, x.ack, x.controlId])).toEqual([['accepted', 'AA', `${noRate.id}-1`]]);
    listener.answers.push(...REJECTS);
    await e.handleBatch([consumed(envelope({ ...noRate, revision: 2 }), 1), consumed(envelope(makeAlert('asystole', { patientId: 'p-unknown' })), 2)]);
    expect(trail().slice(1).map((x) => [x.outcome, x.ack, x.patientId, x.detail])).toEqual([
      ['refused', 'AR', 'p-001', 'alert revision 2: dead-lettered'],
      ['dead_lettered', undefined, 'p-unknown', 'alert revision 1: not sent, dead-lettered: mrn_unknown'],
    ]);
  });

  it('an alert dated 2.5 h ahead of the exporter\'s clock is counted, warned about and shown in /healthz, and sent unchanged', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('warn', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const { exporter: e, metrics } = exporter({ logger, now: () => Date.parse(noRate.onset) - 2.5 * 3_600_000, evidenceUpdateIntervalMs: 0 });
    await e.handleBatch([consumed(envelope(noRate), 0), consumed(envelope({ ...noRate, revision: 2 }), 1)]);
    expect(metrics.counter('pb_ehr_future_dated_total', '').get({ protocol: 'hl7', what: 'alert' })).toBe(2);
    expect(e.health()).toEqual({ status: 'ok', futureDatedExports: 2 });
    expect(lines.filter((l) => String(l.msg).startsWith('export to the EHR dated in the future'))).toEqual([expect.objectContaining({ deviceId: 'patch-0001', patientId: 'p-001', protocol: 'hl7' })]);
    expect(JSON.stringify(lines)).not.toContain('MRN-001');
    expect(listener.received.map((m) => m.getSegment('OBR')!.getField(7).toString())).toEqual(['20260101000003.000+0000', '20260101000003.000+0000']);
  });
});
