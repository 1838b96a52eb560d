/**
 * Refuses an MQTT packet larger than a limit as soon as its fixed header has been read, before its
 * body is buffered (issue 13: a device with a valid certificate sent 100 MB and 200 MB PUBLISH
 * packets; aedes buffered each whole before the 16 KiB payload check, and the process peaked at
 * 1.5 GB RSS).
 *
 * Why a hook on the parser. aedes 1.2 has no packet-size option, and mqtt-packet's parser (9.x)
 * honours a maximum size only through MQTT 5 properties; for MQTT 3.1.1 it reads the fixed
 * header's Remaining Length (up to 256 MB, MQTT 3.1.1 §2.2.3) and then appends socket reads to its
 * buffer list until the whole body is there. Its state machine runs `_parseLength` once per
 * packet, right after the header; we check the announced length there and, when it is too large,
 * raise the parser's own error. aedes handles that error synchronously (lib/client.js `_onError`):
 * it destroys the socket and removes the parser's packet listener, so nothing of the packet — or
 * of any bytes behind it — is handled, and memory stays at one socket read. This covers every
 * packet type, including a CONNECT sent before authentication.
 *
 * The parser fields used here (`packet`, `_list`, `_parseLength`, `_emitError`) are internal to
 * mqtt-packet; test/gateway/abuse.int.test.ts fails if an upgrade changes them.
 */
import type { Client } from 'aedes';

/** What was seen of a refused packet: the announced size and at most `maxPrefixBytes` of its body. */
export interface OversizePacket {
  cmd: string;
  /** Remaining Length from the fixed header: the body the sender announced. */
  declaredBytes: number;
  /** PUBLISH only, when the prefix holds it. */
  topic?: string;
  /** PUBLISH with its topic read: the payload's announced size (the body less topic and packet id). */
  payloadBytes?: number;
  /** The first bytes of the PUBLISH payload (or of the body, for other packets) already read. */
  prefix: Buffer;
}

interface ParserInternals {
  packet: { cmd?: string; length: number; qos?: number };
  _list: { length: number; slice(start: number, end: number): Buffer };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/** Splits an already-read PUBLISH body prefix into topic and payload prefix (MQTT 3.1.1 §3.3.2). */
function splitPublish(body: Buffer, qos: number): { topic?: string; payloadStart?: number; payload: Buffer } {
  if (body.length < 2) return { payload: Buffer.alloc(0) };
  const topicBytes = body.readUInt16BE(0);
  if (body.length < 2 + topicBytes) return { payload: Buffer.alloc(0) };
  const topic = body.subarray(2, 2 + topicBytes).toString('utf8');
  const payloadStart = 2 + topicBytes + (qos > 0 ? 2 : 0);
  return { topic, payloadStart, payload: body.subarray(Math.min(payloadStart, body.length)) };
}

/**
 * Installs the check on `client`'s parser. `onOversize` runs once, before the connection is
 * destroyed; it must not throw.
 */
export function guardPacketSize(client: Client, maxPacketBytes: number, maxPrefixBytes: number, onOversize: (packet: OversizePacket) => void): void {
  const parser = (client as unknown as { _parser: ParserInternals })._parser;
  const parseLength = parser._parseLength;
  if (typeof parseLength !== 'function' || typeof parser._emitError !== 'function') {
    throw new Error('mqtt-packet parser internals changed: the packet-size guard cannot be installed');
  }
  parser._parseLength = function guardedParseLength(this: ParserInternals): boolean {
    const done = parseLength.call(this);
    if (!done || this.packet.length <= maxPacketBytes) return done;
    const cmd = this.packet.cmd ?? 'unknown';
    // Copy (slice) so the refused read's buffer is not kept alive by the dead-letter record.
    const readSoFar = Buffer.from(this._list.slice(0, Math.min(this._list.length, maxPrefixBytes + 2 + 65_535 + 2)));
    const split: { topic?: string; payloadStart?: number; payload: Buffer } = cmd === 'publish' ? splitPublish(readSoFar, this.packet.qos ?? 0) : { payload: readSoFar };
    onOversize({
      cmd, declaredBytes: this.packet.length,
      ...(split.topic !== undefined ? { topic: split.topic } : {}),
      ...(split.payloadStart !== undefined ? { payloadBytes: this.packet.length - split.payloadStart } : {}),
      prefix: Buffer.from(split.payload.subarray(0, maxPrefixBytes)),
    });
    this._emitError(new Error(`packet_too_large: ${cmd} of ${this.packet.length} bytes, the limit is ${maxPacketBytes}`));
    return false;
  };
}
