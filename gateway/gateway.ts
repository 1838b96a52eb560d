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
 * are dropped downstream by (deviceId, seq).
 */
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { STREAMS } from '../contracts/topics.ts';
import type { DeadLetterRecord, TelemetryRecord } from '../contracts/telemetry.ts';
import type { Bus } from '../platform/bus.ts';
import type { DeviceRegistry } from '../platform/device-registry.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import { checkPublish, checkSubscribe } from './acl.ts';
import { BusBatcher } from './bus-batcher.ts';
import { decodeTelemetry, DEFAULT_DECODE_LIMITS, type DecodeLimits } from './decode.ts';

/** MQTT 3.1.1 CONNACK return code 5 "not authorized" (MQTT 3.1.1 §3.2.2.3). */
const CONNACK_NOT_AUTHORIZED = 5;

export interface GatewayTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** The device CA: the only issuer whose client certificates are accepted. */
  deviceCa: string | Buffer;
}

export interface GatewayOptions {
  bus: Bus;
  registry: Pick<DeviceRegistry, 'get' | 'patientAt'>;
  logger: Logger;
  metrics: MetricsRegistry;
  /** TLS material; required unless `plaintext` is set (local development only). */
  tls?: GatewayTls;
  plaintext?: boolean;
  limits?: DecodeLimits;
  now?: () => number;
  /**
   * aedes settings written down explicitly rather than inherited (house-style.md "Config").
   * drainTimeout: a device that does not read for this long is disconnected instead of
   * buffering without bound. concurrency: mqemitter's parallel deliveries.
   */
  aedes?: Pick<AedesOptions, 'drainTimeout' | 'concurrency' | 'maxTopicLevels' | 'connectTimeout' | 'keepaliveLimit'>;
}

export interface Gateway {
  listen(port: number, host: string): Promise<{ port: number }>;
  close(): Promise<void>;
  readonly connectedDevices: number;
}

interface DeviceIdentity { deviceId: string }

function refuse(message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: CONNACK_NOT_AUTHORIZED });
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { bus, registry, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  const batcher = new BusBatcher(bus);
  const identities = new WeakMap<Client, DeviceIdentity>();

  const framesReceived = metrics.counter('pb_gateway_frames_received_total', 'Telemetry frames received');
  const framesAcked = metrics.counter('pb_gateway_frames_acknowledged_total', 'Telemetry frames acknowledged after the bus acknowledged them');
  const framesRejected = metrics.counter('pb_gateway_frames_rejected_total', 'Telemetry frames sent to the dead-letter stream, by reason');
  const aclDenied = metrics.counter('pb_gateway_acl_denied_total', 'Publishes or subscriptions refused by the per-device ACL, by reason');
  const connectRefused = metrics.counter('pb_gateway_connect_refused_total', 'Connections refused, by reason');
  const busFailures = metrics.counter('pb_gateway_bus_failures_total', 'Publishes not acknowledged by the bus (frame not PUBACKed)');
  const busLatency = metrics.histogram('pb_gateway_bus_ack_seconds', 'Time from frame receipt to bus acknowledgement', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]);
  const connected = metrics.gauge('pb_gateway_connected_devices', 'Devices currently connected');

  const deadLetter = async (deviceId: string, topic: string, payload: Buffer, reason: string, detail: string) => {
    const record: DeadLetterRecord = {
      schema: 'pb.deadletter.v1', deviceId, topic, reason, detail, payloadBase64: payload.toString('base64'), receivedAt: now(),
    };
    await batcher.enqueue(STREAMS.deadLetter, { key: deviceId, value: Buffer.from(JSON.stringify(record)) });
    framesRejected.inc({ reason });
  };

  const handleTelemetry = async (deviceId: string, topic: string, payload: Buffer): Promise<void> => {
    const receivedAt = now();
    framesReceived.inc();
    const decoded = decodeTelemetry(payload, receivedAt, limits);
    if (!decoded.ok) return deadLetter(deviceId, topic, payload, decoded.reason, decoded.detail);
    // A frame belongs to the patient assigned at the frame's device time.
    const patientId = registry.patientAt(deviceId, decoded.frame.ts);
    if (!patientId) return deadLetter(deviceId, topic, payload, 'unassigned_device', `device ${deviceId} has no patient assigned at ${new Date(decoded.frame.ts).toISOString()}`);
    const record: TelemetryRecord = { schema: 'pb.telemetry.v1', deviceId, patientId, format: decoded.format, receivedAt, frame: decoded.frame };
    await batcher.enqueue(STREAMS.telemetry, { key: patientId, value: Buffer.from(JSON.stringify(record)) });
    busLatency.observe((now() - receivedAt) / 1000);
    framesAcked.inc();
  };

  const broker = new Aedes({
    drainTimeout: 30_000,
    concurrency: 100,
    maxTopicLevels: 8,
    connectTimeout: 30_000,
    keepaliveLimit: 0,
    ...options.aedes,

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
          const reason = String(tlsSocket.authorizationError ?? 'untrusted');
          connectRefused.inc({ reason: 'certificate_rejected' });
          logger.warn('connection refused: certificate not accepted', { clientId: client.id, reason, subject: cert.subject?.CN });
          return done(refuse(`certificate not accepted: ${reason}`), false);
        }
        const cn = cert.subject?.CN;
        deviceId = Array.isArray(cn) ? '' : String(cn ?? '');
        if (client.id !== deviceId) {
          connectRefused.inc({ reason: 'client_id_mismatch' });
          logger.warn('connection refused: client id differs from certificate CN', { clientId: client.id, cn: deviceId });
          return done(refuse('client id must equal the certificate CN'), false);
        }
      }
      const device = registry.get(deviceId);
      if (!device || !device.enabled) {
        const reason = device ? 'device_disabled' : 'device_unknown';
        connectRefused.inc({ reason });
        logger.warn('connection refused by the device registry', { deviceId, reason });
        return done(refuse(reason), false);
      }
      identities.set(client, { deviceId });
      done(null, true);
    },

    authorizePublish(client, packet, callback) {
      if (!client) return callback(null); // broker-internal publish
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
      if (decision.kind !== 'telemetry') return callback(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      handleTelemetry(identity.deviceId, packet.topic, payload).then(
        () => callback(null),
        (err: unknown) => {
          busFailures.inc();
          logger.warn('bus did not acknowledge; frame not acknowledged to the device', { deviceId: identity.deviceId, err: err as Error });
          callback(err instanceof Error ? err : new Error(String(err)));
        },
      );
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

    // Telemetry has done its work in authorizePublish; nobody may subscribe to it, so there is
    // nothing to forward. Status and command acks stay inside the broker for now.
  });
  await broker.listen();

  broker.on('client', () => connected.set({}, broker.connectedClients));
  broker.on('clientDisconnect', () => connected.set({}, broker.connectedClients));
  broker.on('clientError', (client, err) => logger.debug('client error', { clientId: client?.id, err }));
  broker.on('connectionError', (client, err) => logger.debug('connection error', { clientId: client?.id, err }));

  let server: net.Server;
  if (options.plaintext) {
    server = net.createServer((socket) => broker.handle(socket));
  } else {
    if (!options.tls) throw new Error('gateway TLS material is required unless plaintext is enabled');
    server = tls.createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.deviceCa,
      requestCert: true,
      // The handshake accepts any certificate so that authenticate() can refuse with CONNACK
      // "not authorized" and log the reason (device-protocol.md); it checks `authorized`.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    }, (socket) => broker.handle(socket));
    server.on('tlsClientError', (err) => {
      connectRefused.inc({ reason: 'tls_handshake' });
      logger.debug('TLS handshake failed', { err });
    });
  }
  const sockets = new Set<net.Socket>();
  server.on(options.plaintext ? 'connection' : 'secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  return {
    get connectedDevices() { return broker.connectedClients; },
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve({ port: (server.address() as net.AddressInfo).port }));
      });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
