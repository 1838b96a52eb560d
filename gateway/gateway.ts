/**
 * The MQTT/TLS gateway (device-protocol.md): mutual TLS, client id = certificate CN = device id,
 * per-device ACL, telemetry decoded and validated, published to the bus keyed by patient.
 *
 * PUBACK guarantee. aedes writes the QoS 1 PUBACK right after `authorizePublish` and before its
 * `published` hook (lib/handlers/publish.js: authorizePublish → enqueuePublish → write(PubAck)).
 * So all the work that the PUBACK vouches for happens inside `authorizePublish`: we call back only
 * after the bus acknowledged the record (or the dead-letter record, for a rejected frame). If the
 * bus fails we call back with an error, aedes closes the connection without a PUBACK
 * ([MQTT-4.4.0-1]: the client resends unacknowledged PUBLISH packets on reconnect), and duplicates
 * are dropped downstream by (deviceId, seq, ts) (processor/dedup.ts).
 *
 * Backpressure. aedes parses one socket read at a time: every packet of the read raises the
 * client's `_parsingBatch` and the next `conn.read()` happens only when their handlers called
 * back (lib/client.js `nextBatch`/`enqueue`; a `readable` event may release one slot early, so
 * at most about two reads are in flight). A frame waiting inside `authorizePublish` — for the
 * bus, for the global in-flight cap, or for its device's rate limit — therefore stops the
 * gateway from reading that device's socket; the TCP window closes and the device slows down,
 * instead of the gateway buffering. Memory is bounded by (connected devices × one read) plus the
 * in-flight cap (test/gateway/flow-control.test.ts).
 *
 * Device lifecycle. Every `pollIntervalMs` (1 s) the gateway: closes connections of devices that
 * were disabled or removed — the CLI and the API change the registry from other processes, so
 * the registry's change counter is polled (a device is dropped within one poll, far inside the
 * contract's 5 s); delivers commands created since the last poll and times out unanswered ones;
 * and writes the liveness of its devices (connection events, status and Last Will, last seen,
 * battery, clock skew) to the liveness store in one batch. On Kafka the registry is folded from
 * the bus, so "within one poll" is counted from when the change reached this instance (~0.1–0.5 s).
 *
 * Certificate revocation (security review finding 5). With `tls.crl` the device CA's revocation
 * lists go into the TLS context (Node's `crl`: OpenSSL then checks every certificate of the
 * chain), so a revoked certificate fails verification (CERT_REVOKED) and is refused in
 * `authenticate` like any certificate not accepted. The lists are asked for again at every poll;
 * a new version (the file was re-read) replaces the TLS context for new connections
 * (`setSecureContext`) and closes live connections whose certificate it revokes. A CRL past its
 * nextUpdate does not stop the ward: OpenSSL then refuses every certificate (CRL_HAS_EXPIRED), so
 * the gateway checks the chain itself against the same lists without their dates and accepts a
 * certificate that is not revoked, with an error logged (hourly) and counted
 * (pb_gateway_device_crl_stale_accepted_total); what the stale list revokes stays refused.
 */
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { deviceTopics, STREAMS } from '../contracts/topics.ts';
import type { DeadLetterRecord } from '../contracts/telemetry.ts';
import type { Bus, BusMessage } from '../platform/bus/index.ts';
import type { DeviceCommandStore } from '../platform/registry/index.ts';
import type { DeviceLiveness, DeviceLivenessStore } from '../platform/registry/index.ts';
import type { DeviceDirectoryReader } from '../platform/registry/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { isLoopbackHost } from '../platform/loopback.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import { checkPublish, checkSubscribe } from './acl.ts';
import { BusBatcher } from './bus-batcher.ts';
import type { BusBatcherOptions } from './bus-batcher.ts';
import { CommandDispatcher } from './command-dispatcher.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './decode.ts';
import { acceptTelemetry } from './accept-telemetry.ts';
import { parseDeviceStatus } from './device-status.ts';
import { InFlightLimit } from '../platform/in-flight-limit.ts';
import { LivenessTracker } from './liveness-tracker.ts';
import { guardPacketSize } from './packet-size-guard.ts';
import { COMMAND_QOS, grantAtMostCommandQos } from './subscription-qos.ts';
import { ConnectionGate, type ConnectionGateOptions } from './connection-gate.ts';
import { GATEWAY_TLS_SETTINGS } from './tls-settings.ts';
import { isRevoked, verifyIgnoringCrlTimes, type DeviceCrl } from '../platform/security/index.ts';
import { RateLimiter, type RateLimitOptions } from './rate-limiter.ts';

/** MQTT 3.1.1 CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
const CONNACK_SERVER_UNAVAILABLE = 3;
const CONNACK_NOT_AUTHORIZED = 5;

export interface GatewayTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** The device CA: the only issuer whose client certificates are accepted. */
  deviceCa: string | Buffer;
  /**
   * The device CA's revocation lists (platform/security/crl.ts readDeviceCrl), current version:
   * asked for at start and at every poll (a followed file: followDeviceCrl). Another object than
   * the last one is applied to new connections and closes live connections it revokes.
   * Without it, no revocation list is checked.
   */
  crl?: () => DeviceCrl;
}

export interface GatewayOptions {
  bus: Bus;
  /** Device look-ups; with `changeVersion` the revocation poll re-checks devices only after a change. */
  registry: Pick<DeviceDirectoryReader, 'get' | 'patientAt'> & Partial<Pick<DeviceDirectoryReader, 'changeVersion'>>;
  /** Where liveness is shared with the dashboard API (the registry database). Without it, liveness stays in memory. */
  liveness?: DeviceLivenessStore;
  /** Persistent commands (the registry database). Without it, command results are dead-lettered as unknown. */
  commands?: DeviceCommandStore;
  /** This instance's name in the liveness store and the audit trail. Default the host name. */
  gatewayId?: string;
  logger: Logger;
  metrics: MetricsRegistry;
  /** TLS material; required unless `plaintext` is set (local development only). */
  tls?: GatewayTls;
  plaintext?: boolean;
  limits?: DecodeLimits;
  /** Per-device telemetry rate limit (rate-limiter.ts); `false` turns it off (benchmarks). */
  rateLimit?: Partial<RateLimitOptions> | false;
  /** Most device messages handed to the bus and not yet acknowledged, over all devices. Default 10 000. */
  maxInFlightMessages?: number;
  /**
   * Largest MQTT packet read, bytes of Remaining Length (packet-size-guard.ts). A larger packet is
   * refused as soon as its header is read: the connection is closed without a PUBACK and its first
   * `deadLetterPrefixBytes` (default 1 KiB) are dead-lettered. Default: the payload limit + 512
   * bytes for topic and packet id.
   */
  maxPacketBytes?: number;
  deadLetterPrefixBytes?: number;
  /** Connections not yet authenticated, per address and in all (connection-gate.ts). */
  connectionGate?: Partial<ConnectionGateOptions>;
  /**
   * TCP keepalive on every accepted connection (whole seconds): the first probe after
   * `initialDelayMs` without a packet from the peer, then `count` probes `intervalMs` apart; a peer
   * that answers none is gone and its connection is closed (the device is disconnected, reason
   * `read ETIMEDOUT`). Default 60 s, 10 s, 6: a device that vanished without a FIN is found within
   * about 2 minutes even with MQTT keepalive 0. `false`: the kernel's default (no keepalive).
   */
  tcpKeepAlive?: TcpKeepAlive | false;
  /** A TLS handshake not finished in this time closes the connection. Default 10 000 ms (Node's is 120 s). */
  handshakeTimeoutMs?: number;
  /** Registry/command poll and liveness flush period, ms. Default 1000. */
  pollIntervalMs?: number;
  now?: () => number;
  /** Messages per bus publish and publishes in flight per stream; defaults: BUS_BATCHER_DEFAULTS. */
  busBatcher?: Partial<BusBatcherOptions>;
  /**
   * aedes settings written down explicitly rather than inherited (house-style.md "Config").
   * drainTimeout: a device that does not read for this long is disconnected instead of
   * buffering without bound. concurrency: mqemitter's parallel deliveries.
   */
  aedes?: Pick<AedesOptions, 'drainTimeout' | 'concurrency' | 'maxTopicLevels' | 'connectTimeout' | 'keepaliveLimit' | 'persistence'>;
}

export interface TcpKeepAlive { initialDelayMs: number; intervalMs: number; count: number }

/**
 * MQTT keepalive 0 turns the MQTT liveness check off [MQTT-3.1.2-10] and aedes then never times a
 * connection out; a device that vanished without a FIN (battery pulled, out of radio range) left a
 * half-open connection that stayed "connected" for ever (firmware walk of 2026-12-07). TCP
 * keepalive finds such a peer without changing what MQTT allows: a live device's TCP stack answers
 * the probes whatever its firmware sends. It does not help while the gateway has unacknowledged
 * data in flight to the peer (then TCP's retransmission timeout applies, ~15 min on Linux).
 */
export const TCP_KEEPALIVE_DEFAULTS: TcpKeepAlive = { initialDelayMs: 60_000, intervalMs: 10_000, count: 6 };

export interface Gateway {
  listen(port: number, host: string): Promise<{ port: number }>;
  close(): Promise<void>;
  readonly connectedDevices: number;
  /** Runs one poll now: revocation, commands, liveness flush. */
  poll(): Promise<void>;
  /** The gateway's in-memory liveness of a device it has seen since its last flush. */
  liveness(deviceId: string): DeviceLiveness | undefined;
}

interface DeviceIdentity { deviceId: string }

function refuse(message: string, returnCode = CONNACK_NOT_AUTHORIZED): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

/** OpenSSL's verdicts on a CRL's own dates: every certificate of its CA gets them (see the header). */
const CRL_TIME_ERRORS = new Set(['CRL_HAS_EXPIRED', 'CRL_NOT_YET_VALID']);
const STALE_CRL_LOG_EVERY_MS = 3_600_000;

/**
 * aedes refuses these topics itself, before `authorizePublish` / `authorizeSubscribe`
 * (lib/handlers/publish.js: a wildcard in a PUBLISH [MQTT-3.3.2-2], an empty topic; publish.js and
 * utils.js validateTopic: more levels than `maxTopicLevels`) and closes the connection; they are
 * ACL refusals all the same (device-protocol.md: "refused and counted").
 */
const AEDES_TOPIC_REFUSAL = /^(?:[#+] is not allowed in PUBLISH|empty topic not allowed in PUBLISH|topic has too many levels)$/;

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { bus, registry, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  const gatewayId = options.gatewayId ?? os.hostname();
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const maxPacketBytes = options.maxPacketBytes ?? limits.maxPayloadBytes + 512;
  const deadLetterPrefixBytes = options.deadLetterPrefixBytes ?? 1024;
  const gate = new ConnectionGate(options.connectionGate);
  const batcher = new BusBatcher(bus, options.busBatcher);
  const inFlight = new InFlightLimit(options.maxInFlightMessages ?? 10_000);
  const rateLimiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit ?? {}, now);
  const identities = new WeakMap<Client, DeviceIdentity>();
  /** The live connection of each device on this gateway (a takeover replaces it). */
  const clientsByDevice = new Map<string, Client>();
  /** Why we (or an error) ended a connection, for the liveness record. */
  const closeReasons = new WeakMap<Client, string>();
  /** Per connection, the ids of commands its persistent session re-sent at CONNECT (authorizeForward). */
  const sessionResent = new WeakMap<Client, Set<string>>();
  /** Per connection, the release of the last device message's acknowledgement (authorizePublish: in receive order). */
  const ackOrder = new WeakMap<Client, Promise<void>>();

  const framesReceived = metrics.counter('pb_gateway_frames_received_total', 'Telemetry frames received');
  const framesAcked = metrics.counter('pb_gateway_frames_acknowledged_total', 'Telemetry frames acknowledged after the bus acknowledged them');
  const framesRejected = metrics.counter('pb_gateway_frames_rejected_total', 'Telemetry frames sent to the dead-letter stream, by reason');
  const framesRateLimited = metrics.counter('pb_gateway_frames_rate_limited_total', 'Telemetry frames over the per-device rate limit: delayed (PUBACK held back) or dead_lettered');
  const messagesRejected = metrics.counter('pb_gateway_messages_rejected_total', 'Status and command-result messages sent to the dead-letter stream, by topic kind and reason');
  const aclDenied = metrics.counter('pb_gateway_acl_denied_total', 'Publishes or subscriptions refused by the per-device ACL, by reason');
  const connectRefused = metrics.counter('pb_gateway_connect_refused_total', 'Connections refused, by reason');
  const revoked = metrics.counter('pb_gateway_revoked_total', 'Live connections closed because the device was disabled or removed from the registry');
  const busFailures = metrics.counter('pb_gateway_bus_failures_total', 'Publishes not acknowledged by the bus (frame not PUBACKed)');
  // The latest outcome of a write to the bus (a device message or the liveness flush, every poll
  // even without devices): 1 while the bus takes nothing, so /healthz can say so (the hardened walk
  // of session 33 saw the gateway's /healthz say "ok" through a whole Kafka outage).
  const busFailing = metrics.gauge('pb_gateway_bus_failing', '1 while the latest write to the bus (a device message or the liveness flush) failed: frames are not being acknowledged');
  busFailing.set({}, 0);
  const busLatency = metrics.histogram('pb_gateway_bus_ack_seconds', 'Time from handing a message to the bus until the bus acknowledged it', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]);
  const busInFlight = metrics.gauge('pb_gateway_bus_in_flight', 'Device messages handed to the bus and not yet acknowledged');
  const busInFlightWaits = metrics.counter('pb_gateway_bus_in_flight_waits_total', 'Device messages that waited because the in-flight cap was reached');
  const connected = metrics.gauge('pb_gateway_connected_devices', 'Devices currently connected');
  const skewGauge = metrics.gauge('pb_gateway_device_clock_skew_seconds', 'Smoothed device clock minus gateway clock, per device');
  const commandEvents = metrics.counter('pb_gateway_commands_total', 'Device command events: delivered, redelivered, session_resent (re-sent by the persistent MQTT session, not by the gateway), session_suppressed (a command held in the persistent session, no longer deliverable (e.g. timed out), not re-sent), ok, error, timed_out, expired, late, duplicate');
  const packetsRefused = metrics.counter('pb_gateway_packets_refused_total', 'MQTT packets refused while reading (connection closed), by reason and packet type');
  const publishDowngraded = metrics.counter('pb_gateway_publish_downgraded_total', 'Device messages accepted with a flag the contract does not allow removed, by flag (retain)');
  const telemetryQos0 = metrics.counter('pb_gateway_telemetry_qos0_total', 'Telemetry frames published with QoS 0 (the contract asks for QoS 1; accepted, without a delivery guarantee)');
  const pollErrors = metrics.counter('pb_gateway_poll_errors_total', 'Failed registry polls, command ticks or liveness flushes, by step');
  const crlNextUpdate = metrics.gauge('pb_gateway_device_crl_next_update_timestamp_seconds', 'When the device CRL in use is past its nextUpdate (unix seconds; the earliest over the device CAs)');
  const crlRevokedCount = metrics.gauge('pb_gateway_device_crl_revoked_certificates', 'Certificates listed as revoked in the device CRL in use');
  const crlStaleAccepted = metrics.counter('pb_gateway_device_crl_stale_accepted_total', 'Connections accepted while a device CRL is past its nextUpdate (certificate checked against it, not revoked)');

  const tracker = options.liveness
    ? new LivenessTracker({ store: options.liveness, gatewayId, logger, skewGauge, now })
    : undefined;
  await tracker?.start();

  /** One message to the bus under the global in-flight cap; resolves when the bus acknowledged it. */
  const toBus = async (stream: string, message: BusMessage): Promise<void> => {
    const wait = inFlight.acquire();
    if (wait) {
      busInFlightWaits.inc();
      await wait;
    }
    busInFlight.set({}, inFlight.inFlight);
    const handedAt = performance.now();
    try {
      await batcher.enqueue(stream, message);
      busLatency.observe((performance.now() - handedAt) / 1000);
    } finally {
      inFlight.release();
      busInFlight.set({}, inFlight.inFlight);
    }
  };

  const deadLetter = async (deviceId: string, topic: string, payload: Buffer, reason: string, detail: string, receivedAt = now(), extra: Pick<DeadLetterRecord, 'payloadBytes' | 'payloadTruncated'> = {}) => {
    const record: DeadLetterRecord = {
      schema: 'pb.deadletter.v1', source: 'gateway', deviceId, topic, reason, detail, payloadBase64: payload.toString('base64'), receivedAt, ...extra,
    };
    await toBus(STREAMS.deadLetter, { key: deviceId, value: Buffer.from(JSON.stringify(record)) });
  };

  const handleTelemetry = async (deviceId: string, topic: string, payload: Buffer): Promise<void> => {
    const receivedAt = now();
    framesReceived.inc();
    if (rateLimiter) {
      const decision = rateLimiter.admit(deviceId);
      if (!decision.admitted) {
        framesRateLimited.inc({ action: 'dead_lettered' });
        await deadLetter(deviceId, topic, payload, 'rate_limited', 'the device sends telemetry faster than its rate limit allows, beyond what the gateway holds back', receivedAt);
        framesRejected.inc({ reason: 'rate_limited' });
        return;
      }
      if (decision.ready) {
        framesRateLimited.inc({ action: 'delayed' });
        await decision.ready;
      }
    }
    const accepted = acceptTelemetry(deviceId, payload, receivedAt, registry, limits);
    const frame = accepted.ok ? accepted.record.frame : accepted.frame;
    if (frame) tracker?.frame(deviceId, frame, receivedAt, accepted.ok ? accepted.record.patientId : '');
    if (!accepted.ok) {
      await deadLetter(deviceId, topic, payload, accepted.reason, accepted.detail, receivedAt);
      framesRejected.inc({ reason: accepted.reason });
      return;
    }
    await toBus(STREAMS.telemetry, { key: accepted.record.patientId, value: Buffer.from(JSON.stringify(accepted.record)) });
    framesAcked.inc();
  };

  const handleStatus = async (deviceId: string, topic: string, payload: Buffer): Promise<void> => {
    // An empty retained message clears the retained status [MQTT-3.3.1-10]; nothing to record.
    if (payload.length === 0) return;
    const parsed = parseDeviceStatus(payload);
    if (!parsed.ok) {
      await deadLetter(deviceId, topic, payload, parsed.reason, parsed.detail);
      messagesRejected.inc({ kind: 'status', reason: parsed.reason });
      return;
    }
    tracker?.status(deviceId, parsed.status);
  };

  const handleCommandResult = async (deviceId: string, topic: string, payload: Buffer): Promise<void> => {
    tracker?.seen(deviceId);
    // The result is stored durably (SQLite commit, or bus acknowledgement and fold) before the PUBACK, like telemetry.
    const handled = dispatcher
      ? await dispatcher.result(deviceId, payload)
      : { ok: false as const, reason: 'unknown_command', detail: 'this gateway keeps no commands' };
    if (!handled.ok) {
      await deadLetter(deviceId, topic, payload, handled.reason, handled.detail);
      messagesRejected.inc({ kind: 'cmd/ack', reason: handled.reason });
    }
  };

  const broker = new Aedes({
    drainTimeout: 30_000,
    concurrency: 100,
    maxTopicLevels: 8,
    connectTimeout: 30_000,
    keepaliveLimit: 0,
    ...options.aedes,

    // aedes answers a CONNECT of another protocol level than 3 (MQTT 3.1) or 4 (3.1.1) with
    // CONNACK 1 "unacceptable protocol version" and closes the connection, logging nothing above
    // debug: a device built for MQTT 5 could not connect and the operator could not see why
    // (firmware walk). The refusal stays aedes'; here it is counted and logged like the other
    // refusals, with the certificate CN (verified or not: authenticate has not run yet).
    preConnect(client, packet, callback) {
      if (packet.protocolVersion !== 3 && packet.protocolVersion !== 4) {
        connectRefused.inc({ reason: 'protocol_version' });
        const socket = client.conn as unknown as Partial<tls.TLSSocket>;
        const cn = socket.encrypted ? socket.getPeerCertificate?.()?.subject?.CN : undefined;
        logger.warn('connection refused: MQTT protocol level not supported, the gateway speaks MQTT 3.1.1 (protocol level 4)', {
          clientId: packet.clientId, protocolVersion: packet.protocolVersion,
          ...(socket.encrypted ? { cn: Array.isArray(cn) ? cn.join(',') : cn, certificateVerified: socket.authorized === true } : {}),
        });
      }
      callback(null, true);
    },

    authenticate(client, _username, _password, done) {
      const socket = client.conn as unknown as tls.TLSSocket | net.Socket;
      let deviceId: string;
      if (options.plaintext) {
        deviceId = client.id;
      } else {
        const tlsSocket = socket as tls.TLSSocket;
        if (!tlsSocket.encrypted) {
          connectRefused.inc({ reason: 'not_tls' });
          return done(refuse('connection is not TLS'), false);
        }
        const cert = tlsSocket.getPeerCertificate();
        if (!cert || Object.keys(cert).length === 0) {
          connectRefused.inc({ reason: 'no_certificate' });
          logger.warn('connection refused: no client certificate', { clientId: client.id });
          return done(refuse('client certificate required'), false);
        }
        if (!tlsSocket.authorized) {
          let reason = String(tlsSocket.authorizationError ?? 'untrusted');
          const peer = tlsSocket.getPeerX509Certificate();
          let accepted = false;
          if (crl && peer && CRL_TIME_ERRORS.has(reason)) {
            // OpenSSL said only that a CRL is out of date: check the rest ourselves (see the header).
            const check = verifyIgnoringCrlTimes(crl, peer, Date.now());
            if (check.ok) {
              accepted = true;
              crlStaleAccepted.inc();
              logger.warn('certificate accepted although the device CRL is out of date; revocations published since are not known', { clientId: client.id, reason, serial: peer.serialNumber });
            } else {
              reason = check.reason;
            }
          }
          if (!accepted) {
            connectRefused.inc({ reason: 'certificate_rejected' });
            logger.warn('connection refused: certificate not accepted', { clientId: client.id, reason, subject: cert.subject?.CN, serial: peer?.serialNumber });
            return done(refuse(`certificate not accepted: ${reason}`), false);
          }
        }
        const cn = cert.subject?.CN;
        deviceId = Array.isArray(cn) ? '' : String(cn ?? '');
        if (client.id !== deviceId) {
          connectRefused.inc({ reason: 'client_id_mismatch' });
          logger.warn('connection refused: client id differs from certificate CN', { clientId: client.id, cn: deviceId });
          return done(refuse('client id must equal the certificate CN'), false);
        }
      }
      let device;
      try {
        device = registry.get(deviceId);
      } catch (err) {
        connectRefused.inc({ reason: 'registry_unavailable' });
        logger.error('connection refused: the device registry could not be read', { deviceId, err: err as Error });
        return done(refuse('device registry unavailable', CONNACK_SERVER_UNAVAILABLE), false);
      }
      if (!device || !device.enabled) {
        const reason = device ? 'device_disabled' : 'device_unknown';
        connectRefused.inc({ reason });
        logger.warn('connection refused by the device registry', { deviceId, reason });
        return done(refuse(reason), false);
      }
      identities.set(client, { deviceId });
      gate.authenticated(socket as net.Socket);
      done(null, true);
    },

    authorizePublish(client, packet, callback) {
      if (!client) return callback(null); // broker-internal publish (commands to devices)
      const identity = identities.get(client);
      if (!identity) return callback(new Error('unauthenticated client'));
      const decision = checkPublish(identity.deviceId, packet.topic);
      if (!decision.allowed) {
        aclDenied.inc({ reason: decision.reason });
        logger.warn('publish refused by ACL', { deviceId: identity.deviceId, topic: packet.topic, reason: decision.reason });
        // MQTT 3.1.1 cannot refuse a single PUBLISH; closing the connection is the only refusal
        // that guarantees no PUBACK and nothing forwarded.
        return callback(new Error(`publish to ${packet.topic} not allowed`));
      }
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      // Only the status is retained (device-protocol.md "Topics"). A retain flag elsewhere is
      // removed before aedes sees it (it would keep the message in its store for subscribers,
      // which devices may not be): the message itself is handled as usual.
      if (packet.retain && decision.kind !== 'status') {
        packet.retain = false;
        publishDowngraded.inc({ flag: 'retain', kind: decision.kind });
      }
      // Telemetry is QoS 1: its PUBACK is the delivery guarantee. A QoS 2 frame (the PUBREC
      // flow is aedes's, not ours) is refused into the dead-letter stream with its reason; QoS 2
      // cannot be downgraded, since the device waits for PUBREC, not PUBACK.
      // QoS 0 telemetry is taken as it comes (best effort: the device asked for no guarantee, and
      // the frame itself is fine), and counted so that an operator sees firmware that sends it.
      if (decision.kind === 'telemetry' && packet.qos === 0) telemetryQos0.inc();
      const work = decision.kind === 'telemetry' && packet.qos === 2
        ? deadLetter(identity.deviceId, packet.topic, payload, 'qos_not_allowed', 'telemetry must be published with QoS 1 (device-protocol.md "Topics"); this frame used QoS 2')
          .then(() => { framesReceived.inc(); framesRejected.inc({ reason: 'qos_not_allowed' }); })
        : decision.kind === 'telemetry' ? handleTelemetry(identity.deviceId, packet.topic, payload)
        : decision.kind === 'status' ? handleStatus(identity.deviceId, packet.topic, payload)
        : handleCommandResult(identity.deviceId, packet.topic, payload);
      const outcome = work.then(
        () => {
          busFailing.set({}, 0);
          return null;
        },
        (err: unknown) => {
          busFailures.inc();
          busFailing.set({}, 1);
          logger.warn('bus did not acknowledge; message not acknowledged to the device', { deviceId: identity.deviceId, topic: packet.topic, err: err as Error });
          return err instanceof Error ? err : new Error(String(err));
        },
      );
      // aedes writes the PUBACK (PUBREC for QoS 2) as soon as this callback runs, and runs the
      // PUBLISH packets of one socket read concurrently; the work above finishes in any order (a
      // status needs no bus, a rejected frame goes to another stream than an accepted one). MQTT
      // 3.1.1 [MQTT-4.6.0-2, -3] wants the acknowledgements in the order the PUBLISH packets came,
      // and firmware may rely on it (an acknowledged frame frees the flash before it), so each
      // message's callback waits for the one before it on the same connection.
      const released = (ackOrder.get(client) ?? Promise.resolve()).then(() => outcome).then((err) => callback(err));
      ackOrder.set(client, released);
    },

    authorizeSubscribe(client, subscription, callback) {
      const identity = identities.get(client);
      const decision = identity ? checkSubscribe(identity.deviceId, subscription.topic) : { allowed: false as const, reason: 'unauthenticated' };
      if (!decision.allowed) {
        aclDenied.inc({ reason: decision.reason });
        // A null subscription makes aedes answer SUBACK 0x80 (failure) [MQTT-3.9.3-2].
        return callback(null, null);
      }
      callback(null, subscription);
    },

    // Telemetry, status and command results have done their work in authorizePublish; nobody
    // may subscribe to them, so there is nothing to forward.

    // Commands only. A PUBLISH forwarded while the connection is still in its CONNECT handling, to
    // a persistent session, is aedes re-sending what the session holds unacknowledged, with its
    // original packet id (lib/handlers/connect.js emptyQueue, before 'clientReady'; for a clean
    // session emptyQueue drops it instead; a live delivery racing the CONNECT is written to this
    // connection just the same). Noted so the dispatcher does not send the same command again on
    // this connection (firmware walk 2026-12-07: it arrived twice, the session's copy and ours).
    // The session re-sends whatever it holds, also a command that timed out (or expired, or was
    // answered) since: that copy is refused (null) and aedes drops it from the session
    // (emptyQueueFilter: outgoingClearMessageId), so the device never gets a command after the
    // operator saw it time out. A command still within its deadline goes out, once, as before.
    authorizeForward(client, packet) {
      const deviceId = identities.get(client)?.deviceId;
      if (deviceId && client.connecting && !client.clean && packet.topic === deviceTopics(deviceId).cmd) {
        const id = commandIdOf(packet.payload);
        if (id !== undefined && dispatcher && !dispatcher.sessionMayResend(deviceId, id)) return null;
        if (id !== undefined) {
          const ids = sessionResent.get(client) ?? new Set<string>();
          ids.add(id);
          sessionResent.set(client, ids);
        }
      }
      return packet;
    },
  });
  await broker.listen();

  const dispatcher = options.commands
    ? new CommandDispatcher({
      store: options.commands,
      actor: `gateway:${gatewayId}`,
      logger,
      counter: commandEvents,
      publish: (topic, payload) => new Promise<void>((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: COMMAND_QOS, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
      }),
    })
    : undefined;

  const deviceOf = (client: Client | null | undefined) => (client ? identities.get(client)?.deviceId : undefined);

  broker.on('client', (client) => {
    connected.set({}, broker.connectedClients);
    const deviceId = deviceOf(client);
    if (!deviceId) return;
    clientsByDevice.set(deviceId, client);
    tracker?.connected(deviceId);
    logger.info('device connected', { deviceId });
  });
  broker.on('clientDisconnect', (client) => {
    connected.set({}, broker.connectedClients);
    const deviceId = deviceOf(client);
    // A takeover (same device connecting again) closes the old connection first; only the
    // current connection's end means the device is gone.
    if (!deviceId || clientsByDevice.get(deviceId) !== client) return;
    clientsByDevice.delete(deviceId);
    const reason = closeReasons.get(client) ?? 'connection_closed';
    tracker?.disconnected(deviceId, reason);
    dispatcher?.gone(deviceId);
    rateLimiter?.forget(deviceId);
    logger.info('device disconnected', { deviceId, reason });
  });
  /**
   * Connections whose command subscription has been served: pending and unanswered commands are
   * sent once per connection, whichever comes first — the session restored at CONNECT or the
   * device's SUBSCRIBE — so a device that does both (mqtt.js, the simulator) gets each once.
   */
  const commandsServed = new WeakSet<Client>();
  const serveCommands = (client: Client, deviceId: string) => {
    if (!dispatcher || commandsServed.has(client)) return;
    commandsServed.add(client);
    dispatcher.subscribed(deviceId, sessionResent.get(client)).catch((err: unknown) => {
      pollErrors.inc({ step: 'commands' });
      logger.warn('pending commands could not be delivered', { deviceId, err: err as Error });
    });
  };
  // A device with a persistent session (clean session false, sessionPresent 1 in the CONNACK)
  // need not subscribe again [MQTT-3.1.2-4]: aedes restores its subscriptions inside CONNECT
  // (lib/handlers/connect.js restoreSubs, after authorizeSubscribe) without a 'subscribe' event.
  // Until the firmware walk of 2026-12-07 such a device never got a command after its first reconnect.
  // 'clientReady' comes after the CONNACK, so no command precedes it on the wire.
  broker.on('clientReady', (client) => {
    const deviceId = deviceOf(client);
    if (!deviceId) return;
    // aedes' Client keeps its live subscriptions by topic; the type declarations omit the field.
    const restored = (client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions;
    if (restored?.[deviceTopics(deviceId).cmd]) serveCommands(client, deviceId);
  });
  broker.on('subscribe', (subscriptions, client) => {
    const deviceId = deviceOf(client);
    if (!deviceId) return;
    const cmdTopic = deviceTopics(deviceId).cmd;
    // A refused subscription is reported with granted QoS 0x80 (lib/handlers/subscribe.js).
    if (!subscriptions.some((s) => s.topic === cmdTopic && (s.qos as number) !== 128)) return;
    // A SUBSCRIBE handled while aedes still re-sends the session's queue: 'clientReady', after
    // the queue, finds the subscription and serves it knowing everything that was re-sent.
    if (!client.connected) return;
    serveCommands(client, deviceId);
  });
  broker.on('unsubscribe', (topics, client) => {
    const deviceId = deviceOf(client);
    if (!deviceId || !topics.includes(deviceTopics(deviceId).cmd)) return;
    commandsServed.delete(client);
    dispatcher?.gone(deviceId);
  });
  // A PUBACK of a command is a sign of life. (Which command it acknowledges is not knowable here:
  // aedes keeps no outgoing packet for clean sessions and reports `undefined`; the device's
  // answer on cmd/ack is what correlates.)
  broker.on('ack', (_packet, client) => {
    const deviceId = deviceOf(client);
    if (deviceId) tracker?.seen(deviceId);
  });
  broker.on('ping', (_packet, client) => {
    const deviceId = deviceOf(client);
    if (deviceId) tracker?.seen(deviceId);
  });
  broker.on('clientError', (client, err) => {
    if (client && !closeReasons.has(client)) closeReasons.set(client, err.message);
    if (AEDES_TOPIC_REFUSAL.test(err.message)) {
      aclDenied.inc({ reason: 'invalid_topic' });
      logger.warn('topic refused: not a valid MQTT topic; connection closed', { deviceId: deviceOf(client), clientId: client?.id, reason: err.message });
      return;
    }
    logger.debug('client error', { clientId: client?.id, err });
  });
  broker.on('connectionError', (client, err) => logger.debug('connection error', { clientId: client?.id, err }));

  // ---- poll: revocation, commands, liveness ---------------------------------------------

  let seenDirectoryVersion: number | undefined;
  const revokeDisabled = () => {
    const version = registry.changeVersion?.();
    if (version !== undefined && version === seenDirectoryVersion) return;
    seenDirectoryVersion = version;
    for (const [deviceId, client] of clientsByDevice) {
      const device = registry.get(deviceId);
      if (device?.enabled) continue;
      const reason = device ? 'device_disabled' : 'device_removed';
      closeReasons.set(client, 'revoked');
      revoked.inc({ reason });
      logger.warn('device connection closed: the device is no longer enabled in the registry', { deviceId, reason });
      client.close();
    }
  };

  const closeRevokedCertificates = (current: DeviceCrl) => {
    for (const [deviceId, client] of clientsByDevice) {
      const peer = (client.conn as unknown as tls.TLSSocket).getPeerX509Certificate?.();
      if (!peer || !isRevoked(current, peer)) continue;
      closeReasons.set(client, 'revoked');
      revoked.inc({ reason: 'certificate_revoked' });
      logger.warn('device connection closed: its certificate is revoked by the device CRL', { deviceId, serial: peer.serialNumber });
      client.close();
    }
  };

  let staleLoggedAt = -Infinity;
  const warnIfStale = (current: DeviceCrl, force: boolean) => {
    if (current.nextUpdate === undefined || current.nextUpdate > Date.now()) return;
    if (!force && Date.now() - staleLoggedAt < STALE_CRL_LOG_EVERY_MS) return;
    staleLoggedAt = Date.now();
    logger.error('the device CRL is past its nextUpdate: devices not listed in it are accepted, revocations published since are unknown; publish a current CRL (PULSEBRIDGE_DEVICE_CRL)',
      { nextUpdate: new Date(current.nextUpdate).toISOString() });
  };

  const publishCrlMetrics = (current: DeviceCrl) => {
    crlRevokedCount.set({}, current.revokedCount);
    if (current.nextUpdate !== undefined) crlNextUpdate.set({}, Math.floor(current.nextUpdate / 1000));
  };

  let refusedCrl: DeviceCrl | undefined;
  /** A new version of the device CRLs: new connections are checked against it; live connections it revokes are closed. */
  const applyCrl = () => {
    if (!crlSource || !crl || !tlsServer) return;
    const next = crlSource();
    if (next !== crl && next !== refusedCrl) {
      try {
        tlsServer.setSecureContext(secureContextOptions(next));
      } catch (err) {
        refusedCrl = next;
        logger.warn('device CRL not accepted by TLS; the last good one stays in use', { err: err as Error });
        return;
      }
      crl = next;
      publishCrlMetrics(crl);
      logger.info('device CRL applied to new connections', { revoked: crl.revokedCount, nextUpdate: crl.nextUpdate === undefined ? undefined : new Date(crl.nextUpdate).toISOString() });
      closeRevokedCertificates(crl);
      warnIfStale(crl, true);
      return;
    }
    warnIfStale(crl, false);
  };

  const checkRevocation = () => {
    try { revokeDisabled(); } catch (err) { pollErrors.inc({ step: 'revocation' }); logger.warn('registry poll failed', { err: err as Error }); }
    try { applyCrl(); } catch (err) { pollErrors.inc({ step: 'crl' }); logger.warn('device CRL check failed', { err: err as Error }); }
  };
  let polling: Promise<void> | undefined;
  const pollOnce = async (): Promise<void> => {
    checkRevocation();
    try { await dispatcher?.tick(); } catch (err) { pollErrors.inc({ step: 'commands' }); logger.warn('command poll failed', { err: err as Error }); }
    try {
      // On Kafka the flush always writes (the gateway's heartbeat rides on it): it tells the bus answers.
      if (tracker) {
        await tracker.flush();
        busFailing.set({}, 0);
      }
    } catch (err) {
      pollErrors.inc({ step: 'liveness' });
      busFailing.set({}, 1);
      logger.warn('liveness flush failed', { err: err as Error });
    }
  };
  const poll = () => {
    // One poll at a time: a slow one (busy database) is not stacked up.
    polling ??= pollOnce().finally(() => { polling = undefined; });
    return polling;
  };
  const pollTimer = setInterval(() => {
    // Revocation is synchronous and cheap: it never waits behind a slow command tick or liveness
    // flush (on Kafka a flush waits to see its own write), so the 5 s contract holds regardless.
    if (polling) checkRevocation();
    void poll();
  }, pollIntervalMs);

  // The TLS server, made before the poll can apply a new CRL to it.
  const tlsMaterial = options.plaintext ? undefined : options.tls;
  const crlSource = tlsMaterial?.crl;
  let crl = crlSource?.();
  const secureContextOptions = (lists: DeviceCrl | undefined): tls.SecureContextOptions => ({
    cert: tlsMaterial!.cert,
    key: tlsMaterial!.key,
    ca: tlsMaterial!.deviceCa,
    // One CRL per entry: Node reads only the first CRL of a single PEM string.
    ...(lists ? { crl: lists.pems } : {}),
    ...GATEWAY_TLS_SETTINGS,
  });
  const tlsServer = tlsMaterial ? tls.createServer({
    ...secureContextOptions(crl),
    requestCert: true,
    // The handshake accepts any certificate so that authenticate() can refuse with CONNACK
    // "not authorized" and log the reason (device-protocol.md); it checks `authorized`.
    rejectUnauthorized: false,
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
  }, (socket) => handle(socket)) : undefined;
  if (crl) {
    publishCrlMetrics(crl);
    warnIfStale(crl, true);
  }

  /** Hands a socket to aedes with the packet-size guard and the subscription QoS cap on its parser. */
  const handle = (socket: net.Socket) => {
    const client = broker.handle(socket);
    grantAtMostCommandQos(client);
    guardPacketSize(client, maxPacketBytes, deadLetterPrefixBytes, (packet) => {
      packetsRefused.inc({ reason: 'too_large', cmd: packet.cmd });
      const deviceId = identities.get(client)?.deviceId;
      closeReasons.set(client, 'packet_too_large');
      logger.warn('packet refused: larger than the limit; connection closed', { deviceId, clientId: client.id, cmd: packet.cmd, declaredBytes: packet.declaredBytes, limit: maxPacketBytes });
      // Only an authenticated device's PUBLISH is a rejected message worth keeping; anything
      // else (an oversized CONNECT) is counted and logged.
      if (!deviceId || packet.cmd !== 'publish') return;
      deadLetter(deviceId, packet.topic ?? '', packet.prefix, 'packet_too_large',
        `the packet announced ${packet.declaredBytes} bytes, the limit is ${maxPacketBytes}; the connection was closed and only the first ${packet.prefix.length} payload bytes are kept`,
        now(), { payloadBytes: packet.payloadBytes ?? packet.declaredBytes, payloadTruncated: true })
        .catch((err: unknown) => logger.warn('dead-letter of an oversized packet failed', { deviceId, err: err as Error }));
    });
  };

  let server: net.Server;
  if (options.plaintext) {
    server = net.createServer(handle);
  } else {
    if (!tlsServer) throw new Error('gateway TLS material is required unless plaintext is enabled');
    server = tlsServer;
    server.on('tlsClientError', (err, tlsSocket) => {
      connectRefused.inc({ reason: 'tls_handshake' });
      logger.debug('TLS handshake failed', { err });
      // With a listener here Node leaves the socket open (a handshake timeout then frees nothing).
      tlsSocket.destroy();
    });
  }
  // Before any TLS work: a connection over the pending limits is closed at once; one admitted gets
  // TCP keepalive (TCP_KEEPALIVE_DEFAULTS).
  const keepAlive = options.tcpKeepAlive === false ? undefined : options.tcpKeepAlive ?? TCP_KEEPALIVE_DEFAULTS;
  server.prependListener('connection', (raw: net.Socket) => {
    if (gate.admit(raw)) {
      if (keepAlive) raw.setKeepAlive(true, keepAlive.initialDelayMs, keepAlive.intervalMs, keepAlive.count);
      return;
    }
    connectRefused.inc({ reason: 'too_many_pending' });
    raw.destroy();
  });
  const sockets = new Set<net.Socket>();
  server.on(options.plaintext ? 'connection' : 'secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  let closing: Promise<void> | undefined;
  return {
    get connectedDevices() { return broker.connectedClients; },
    poll,
    liveness: (deviceId) => tracker?.get(deviceId),
    listen(port, host) {
      // Plain MQTT authenticates nobody (the client id is believed): loopback only.
      if (options.plaintext && !isLoopbackHost(host)) {
        // device-protocol.md: plain TCP only for local development. Without TLS the client id is
        // the only identity, so anyone who can reach the port could be any registered device.
        return Promise.reject(new PulsebridgeError('PB_CONFIG_INVALID',
          `plain MQTT (PULSEBRIDGE_MQTT_PLAINTEXT) authenticates no device, so the gateway listens with it only on a loopback address (127.0.0.1, ::1, localhost), not on ${host}; use mutual TLS to accept devices from the network`));
      }
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve({ port: (server.address() as net.AddressInfo).port }));
      });
    },
    close() {
      closing ??= (async () => {
        clearInterval(pollTimer);
        await polling;
        for (const client of clientsByDevice.values()) closeReasons.set(client, 'gateway_shutdown');
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        try { await tracker?.flush(); } catch (err) { logger.warn('final liveness flush failed', { err: err as Error }); }
      })();
      return closing;
    },
  };
}

/** The `id` of a command payload (device-protocol.md "Commands"), or undefined if it has none. */
function commandIdOf(payload: Buffer | string): string | undefined {
  try {
    const id = (JSON.parse(payload.toString()) as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
