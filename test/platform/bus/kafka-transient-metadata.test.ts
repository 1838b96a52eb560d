/**
 * Creating streams while another component creates them on a fresh broker: the metadata of a
 * just-created topic can answer "This server does not host this topic-partition" for a moment
 * (kafkajs' createTopics waits only for LEADER_NOT_AVAILABLE). KafkaBus.ensureStreams retries
 * those errors (platform/bus/kafka.ts retryTransientMetadata) instead of letting the component exit.
 */
import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { isTransientMetadataError, retryTransientMetadata } from '../../../platform/bus/kafka.ts';
import { PulsebridgeError } from '../../../platform/errors.ts';

const { KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;
/** A kafkajs protocol error as kafkajs makes it from a broker's error code. */
const protocolError = (type: string, message: string) => new KafkaJSProtocolError({ type, message, code: 0, retriable: true } as unknown as Error);
const unknownTopic = () => protocolError('UNKNOWN_TOPIC_OR_PARTITION', 'This server does not host this topic-partition');

describe('transient metadata errors of a just-created stream', () => {
  it('recognises them as thrown, wrapped by kafkajs or by the bus', () => {
    expect(isTransientMetadataError(unknownTopic())).toBe(true);
    expect(isTransientMetadataError(protocolError('LEADER_NOT_AVAILABLE', 'no leader'))).toBe(true);
    expect(isTransientMetadataError(new KafkaJSNonRetriableError(unknownTopic()))).toBe(true);
    expect(isTransientMetadataError(new PulsebridgeError('PB_BUS_UNAVAILABLE', 'could not create streams', { cause: unknownTopic() }))).toBe(true);
    expect(isTransientMetadataError(protocolError('TOPIC_AUTHORIZATION_FAILED', 'not authorized'))).toBe(false);
    expect(isTransientMetadataError(new Error('connection refused'))).toBe(false);
  });

  it('retries them and returns the result once the metadata is there', async () => {
    let calls = 0;
    const result = await retryTransientMetadata(async () => {
      calls++;
      if (calls < 3) throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'could not create streams', { cause: unknownTopic() });
      return 'created';
    }, [1, 1, 1]);
    expect({ result, calls }).toEqual({ result: 'created', calls: 3 });
  });

  it('gives up after the last back-off and rethrows anything else at once', async () => {
    let calls = 0;
    await expect(retryTransientMetadata(async () => { calls++; throw unknownTopic(); }, [1, 1])).rejects.toThrow('does not host');
    expect(calls).toBe(3);
    calls = 0;
    await expect(retryTransientMetadata(async () => { calls++; throw new Error('connection refused'); }, [1, 1])).rejects.toThrow('refused');
    expect(calls).toBe(1);
  });
});
