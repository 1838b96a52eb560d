/**
 * PULSEBRIDGE_KAFKA_CREATE_TOPICS=false: a pre-created topic's configuration is compared with what
 * ensureStreams would have created it with (topicConfigEntries); what loses data fails the start.
 */
import { describe, expect, it } from 'vitest';
import { topicConfigMismatches } from '../../../platform/bus/kafka.ts';

const compacted = { name: 'pb.criteria', partitions: 1, compacted: true };
const forever = { name: 'pb.device-events', partitions: 1, retainForever: true };
const plain = { name: 'pb.telemetry', partitions: 12 };
const brokerDefaults = { 'cleanup.policy': 'delete', 'retention.ms': '604800000', 'retention.bytes': '-1' };

describe('topicConfigMismatches', () => {
  it('accepts what ensureStreams creates', () => {
    expect(topicConfigMismatches(compacted, { ...brokerDefaults, 'cleanup.policy': 'compact' })).toEqual([]);
    expect(topicConfigMismatches(forever, { ...brokerDefaults, 'retention.ms': '-1', 'retention.bytes': '-1' })).toEqual([]);
    // A topic ensureStreams leaves at the broker's defaults is not judged.
    expect(topicConfigMismatches(plain, { 'cleanup.policy': 'compact', 'retention.ms': '1000', 'retention.bytes': '10' })).toEqual([]);
  });

  it('a retained-forever topic at the broker default 7 days: retention.ms, with the kafka-configs.sh line that fixes it', () => {
    expect(topicConfigMismatches(forever, brokerDefaults)).toEqual([{
      topic: 'pb.device-events', key: 'retention.ms', found: '604800000', expected: '-1',
      command: 'kafka-configs.sh --bootstrap-server "$BROKERS" --command-config admin.properties --alter --entity-type topics --entity-name pb.device-events --add-config retention.ms=-1',
    }]);
    expect(topicConfigMismatches(forever, { ...brokerDefaults, 'retention.ms': '-1', 'retention.bytes': '1073741824' }).map((m) => [m.key, m.found])).toEqual([['retention.bytes', '1073741824']]);
  });

  it('a compacted topic without compaction, or compact,delete with a limited retention', () => {
    expect(topicConfigMismatches(compacted, brokerDefaults).map((m) => [m.key, m.found, m.expected])).toEqual([['cleanup.policy', 'delete', 'compact']]);
    // Without compaction even at unlimited retention: the changelog is what the code compacts, not a log of every change.
    expect(topicConfigMismatches(compacted, { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' }).map((m) => m.key)).toEqual(['cleanup.policy']);
    expect(topicConfigMismatches(compacted, { ...brokerDefaults, 'cleanup.policy': 'compact,delete' }).map((m) => m.key)).toEqual(['cleanup.policy']);
    expect(topicConfigMismatches(compacted, { 'cleanup.policy': 'compact,delete', 'retention.ms': '-1', 'retention.bytes': '-1' })).toEqual([]);
    expect(topicConfigMismatches(compacted, brokerDefaults)[0]!.command).toContain('--entity-name pb.criteria --add-config cleanup.policy=compact');
  });

  it('a key the broker did not report is not judged', () => {
    expect(topicConfigMismatches(forever, {})).toEqual([]);
    expect(topicConfigMismatches(compacted, { 'retention.ms': '1' })).toEqual([]);
  });
});
