/**
 * The device side of an MQTT session as both load generators open it (bench/load-client.ts for the
 * gateway benchmark, bench/e2e-load.ts for the end-to-end one): CONNECT with the status Last Will,
 * SUBSCRIBE to the command topic, the retained online status at QoS 1 — what a device does before
 * its first frame (device-protocol.md). Packets come from mqtt-wire.ts; the caller's packet reader
 * resolves the waits through `session.waiting` (keys `connack`, `suback`, `puback:<id>`).
 */
import type tls from 'node:tls';
import { deviceTopics } from '../contracts/topics.ts';
import { connectPacket, packetIdBytes, publishTemplate, subscribePacket } from './mqtt-wire.ts';

const STATUS = Buffer.from(JSON.stringify({ online: true, fw: '2.3.1', model: 'PB-Patch-2', battery: 88, charging: false }));
const WILL = Buffer.from(JSON.stringify({ online: false }));

/** What a session needs of the caller's device record. */
export interface DeviceSession {
  socket: tls.TLSSocket;
  nextPacketId: number;
  /** Resolves the handshake's CONNACK / SUBACK / status PUBACK waits. */
  waiting: Map<string, () => void>;
}

/** The next packet id; ids are 1–65535 (§2.3.1), the window is far smaller, so reuse never collides. */
export function takePacketId(d: DeviceSession): number {
  const id = d.nextPacketId;
  d.nextPacketId = id === 0xffff ? 1 : id + 1;
  return id;
}

/** Resolves when the reader calls `waiting.get(key)`; rejects after `timeoutMs` or when the socket closes first. */
function waitForPacket(d: DeviceSession, deviceId: string, key: string, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${deviceId}: no ${what} within ${timeoutMs / 1000} s`)), timeoutMs);
    const onClose = () => { clearTimeout(timer); reject(new Error(`${deviceId}: connection closed before ${what}`)); };
    d.socket.once('close', onClose);
    d.waiting.set(key, () => {
      clearTimeout(timer);
      d.waiting.delete(key);
      d.socket.removeListener('close', onClose);
      resolve();
    });
  });
}

/** CONNECT (with the Last Will), SUBSCRIBE to the command topic, then the retained online status. */
export async function openDeviceSession(d: DeviceSession, deviceId: string, options: { keepaliveS: number; timeoutMs: number }): Promise<void> {
  const topics = deviceTopics(deviceId);
  const wait = (key: string, what: string) => waitForPacket(d, deviceId, key, what, options.timeoutMs);
  const connack = wait('connack', 'CONNACK');
  d.socket.write(connectPacket({ clientId: deviceId, keepaliveS: options.keepaliveS, will: { topic: topics.status, payload: WILL } }));
  await connack;
  const suback = wait('suback', 'SUBACK');
  d.socket.write(subscribePacket(takePacketId(d), topics.cmd));
  await suback;
  const statusId = takePacketId(d);
  const statusAck = wait(`puback:${statusId}`, 'PUBACK of the status');
  const status = publishTemplate(topics.status, STATUS, true);
  d.socket.write(Buffer.concat([status.head, packetIdBytes(statusId), status.tail]));
  await statusAck;
}
