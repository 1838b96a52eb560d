/**
 * The plain-TCP MLLP client (ehr-exporter/mllp.ts TcpMllpClient) in isolation: a send fails when
 * the connection closes, and one connection carrying many messages keeps one close listener.
 */
import { getEventListeners } from 'node:events';
import { Hl7Message } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import { TcpMllpClient, type MllpConnection } from '../../ehr-exporter/mllp.ts';

/** A connection that ACKs every message at once, or never (`silent`), and can be closed by the test. */
class FakeConnection extends EventTarget {
  closed = false;
  silent = false;
  isClosed() { return this.closed; }
  sendAndWait(message: Hl7Message) { return this.silent ? new Promise<Hl7Message>(() => {}) : Promise.resolve(message.buildAck()); }
  closeFromPeer() { this.closed = true; this.dispatchEvent(new Event('close')); }
}

function client(connection: FakeConnection): TcpMllpClient {
  const fake = { connect: async () => connection as unknown as MllpConnection, sendAndWait: async () => { throw new Error('unused'); }, close: async () => {} };
  return new TcpMllpClient(fake, 'engine:2575');
}

const message = () => Hl7Message.parse('MSH|^~\\&|PB|F|EHR||20260101000000||ORU^R01^ORU_R01|c-1|P|2.6');

describe('MLLP over plain TCP', () => {
  it('keeps one close listener per connection however many messages it carries', async () => {
    const connection = new FakeConnection();
    const c = client(connection);
    for (let i = 0; i < 50; i++) await c.sendAndWait(message());
    expect(getEventListeners(connection, 'close')).toHaveLength(1);
  });

  it('fails a send waiting for its ACK when the receiver closes the connection', async () => {
    const connection = new FakeConnection();
    connection.silent = true;
    const pending = client(connection).sendAndWait(message(), { timeoutMs: 600_000 });
    connection.closeFromPeer();
    await expect(pending).rejects.toThrow('MLLP to engine:2575: the receiver closed the connection');
  });
});
