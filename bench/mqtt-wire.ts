/**
 * The few MQTT 3.1.1 packets the load generator needs, written straight to the socket: CONNECT
 * (with a Last Will), PUBLISH at QoS 1, SUBSCRIBE, DISCONNECT, and a reader for what comes back
 * (CONNACK, PUBACK, SUBACK). Hand-written rather than mqtt.js so that the generator spends as
 * little CPU per frame as a device would and the server under test is what gets measured
 * (mqtt.js keeps an outgoing store, timers and event plumbing per packet).
 * Clause numbers are MQTT 3.1.1 (OASIS, 2014).
 */

/** Control packet types (§2.2.1), as the high nibble of the first byte. */
export const PACKET = { connack: 2, publish: 3, puback: 4, suback: 9, pingresp: 13 } as const;

/** Remaining Length, variable-length encoded, at most 4 bytes (§2.2.3). */
function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** A UTF-8 string with its 2-byte length prefix (§1.5.3). */
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

export interface ConnectOptions {
  clientId: string;
  keepaliveS: number;
  /** Last Will: QoS 1, retained (device-protocol.md "Status"). */
  will?: { topic: string; payload: Buffer };
}

/** CONNECT with a clean session (§3.1). */
export function connectPacket(o: ConnectOptions): Buffer {
  // Connect flags (§3.1.2.3): clean session 0x02; will flag 0x04, will QoS 1 0x08, will retain 0x20.
  const flags = 0x02 | (o.will ? 0x04 | 0x08 | 0x20 : 0);
  const keepalive = Buffer.allocUnsafe(2);
  keepalive.writeUInt16BE(o.keepaliveS);
  const parts = [str('MQTT'), Buffer.from([4, flags]), keepalive, str(o.clientId)];
  if (o.will) parts.push(str(o.will.topic), str(o.will.payload));
  return packet(0x10, Buffer.concat(parts));
}

/**
 * A QoS 1 PUBLISH split into the part before the packet id and the part after it, so a
 * publisher can resend the same frame with a new id without re-encoding it.
 */
export interface PublishTemplate {
  head: Buffer;
  tail: Buffer;
}

export function publishTemplate(topic: string, payload: Buffer, retain = false): PublishTemplate {
  const topicBytes = str(topic);
  const remaining = topicBytes.length + 2 + payload.length;
  // 0x30 PUBLISH, QoS 1 in bits 1–2, RETAIN in bit 0 (§3.3.1).
  const head = Buffer.concat([Buffer.from([0x32 | (retain ? 1 : 0)]), remainingLength(remaining), topicBytes]);
  return { head, tail: payload };
}

export function packetIdBytes(id: number): Buffer {
  return Buffer.from([id >> 8, id & 0xff]);
}

/** SUBSCRIBE to one filter at QoS 1 (§3.8; the fixed header's flags must be 0b0010). */
export function subscribePacket(packetId: number, filter: string): Buffer {
  return packet(0x82, Buffer.concat([packetIdBytes(packetId), str(filter), Buffer.from([1])]));
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

export interface IncomingPacket {
  type: number;
  /** The variable header and payload. */
  body: Buffer;
}

/** Splits a byte stream into whole packets; keeps a partial one for the next chunk. */
export class PacketReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onPacket: (p: IncomingPacket) => void): void {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let pos = 0;
    for (;;) {
      if (buf.length - pos < 2) break;
      let len = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < buf.length; k++, i++) {
        const b = buf[i] as number;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) { complete = true; i++; break; }
      }
      if (!complete || buf.length - i < len) break;
      onPacket({ type: (buf[pos] as number) >> 4, body: buf.subarray(i, i + len) });
      pos = i + len;
    }
    buf = buf.subarray(pos);
    // Copy the rest so the (possibly large) chunk it came from is not kept alive.
    this.#pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}
