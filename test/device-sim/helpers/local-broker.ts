/**
 * A real MQTT broker (Aedes) on a local port, plain TCP or mutual TLS, that records what devices
 * publish. Telemetry is recorded when the broker accepts it (authorizePublish), i.e. just before
 * it sends the PUBACK, which is what the gateway's acknowledgement promises.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { parseDeviceTopic } from '../../../contracts/topics.ts';

export interface ReceivedMessage {
  deviceId: string;
  payload: Buffer;
  retain: boolean;
}

export interface LocalBrokerOptions {
  tls?: { key: string; cert: string; ca: string };
  /**
   * Decides on each telemetry publish: return 'accept' (the default), or 'hold' to never
   * answer it (no PUBACK) — the test then typically drops the connection.
   */
  onTelemetry?: (deviceId: string, payload: Buffer, client: Client) => 'accept' | 'hold';
  /** Refuse CONNECT of these client ids with "not authorized". */
  refuseClientIds?: string[];
}

export interface LocalBroker {
  url: string;
  broker: Aedes;
  /** Accepted telemetry, in acceptance order. */
  telemetry: ReceivedMessage[];
  /** Every telemetry publish seen, accepted or held. */
  telemetrySeen: ReceivedMessage[];
  /** Status publishes (including Last Wills). */
  statuses: ReceivedMessage[];
  /** Drops the live connection of a client id from the broker side. */
  disconnect(clientId: string): void;
  close(): Promise<void>;
}

export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const telemetry: ReceivedMessage[] = [];
  const telemetrySeen: ReceivedMessage[] = [];
  const statuses: ReceivedMessage[] = [];
  const clients = new Map<string, Client>();
  const refused = new Set(options.refuseClientIds ?? []);

  const broker = await Aedes.createBroker({
    authenticate(client, _u, _p, done) {
      if (refused.has(client.id)) {
        const err = Object.assign(new Error('not authorized'), { returnCode: 5 as const });
        return done(err, false);
      }
      done(null, true);
    },
    authorizePublish(client, packet: PublishPacket, callback) {
      const parsed = parseDeviceTopic(packet.topic);
      const payload = Buffer.from(packet.payload as Buffer);
      if (parsed?.kind === 'telemetry' && client) {
        const msg = { deviceId: parsed.deviceId, payload, retain: packet.retain };
        telemetrySeen.push(msg);
        if ((options.onTelemetry?.(parsed.deviceId, payload, client) ?? 'accept') === 'hold') return;
        telemetry.push(msg);
      }
      callback(null);
    },
  });
  // Includes Last Wills, which the broker publishes itself on behalf of the device.
  broker.on('publish', (packet) => {
    const parsed = parseDeviceTopic(packet.topic);
    if (parsed?.kind === 'status') statuses.push({ deviceId: parsed.deviceId, payload: Buffer.from(packet.payload as Buffer), retain: packet.retain });
  });
  broker.on('client', (client) => clients.set(client.id, client));

  const server = options.tls
    ? tls.createServer({ key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca, requestCert: true, rejectUnauthorized: true }, broker.handle)
    : net.createServer(broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    broker,
    telemetry,
    telemetrySeen,
    statuses,
    disconnect(clientId) {
      clients.get(clientId)?.conn.destroy();
    },
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      server.close();
    },
  };
}
