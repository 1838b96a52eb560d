/**
 * Per-device topic ACL (device-protocol.md "Connection and identity"): a device may publish only
 * under `pb/v1/dev/{its id}/` (telemetry, status, cmd/ack) and subscribe only to its own `cmd`.
 */
import { parseDeviceTopic, type DeviceTopicKind } from '../contracts/topics.ts';

export type AclDecision = { allowed: true; kind: DeviceTopicKind } | { allowed: false; reason: string };

const DEVICE_PUBLISHABLE: ReadonlySet<DeviceTopicKind> = new Set(['telemetry', 'status', 'cmd/ack']);

export function checkPublish(deviceId: string, topic: string): AclDecision {
  const parsed = parseDeviceTopic(topic);
  if (!parsed) return { allowed: false, reason: 'topic_not_in_namespace' };
  if (parsed.deviceId !== deviceId) return { allowed: false, reason: 'topic_of_other_device' };
  if (!DEVICE_PUBLISHABLE.has(parsed.kind)) return { allowed: false, reason: 'topic_not_publishable_by_device' };
  return { allowed: true, kind: parsed.kind };
}

export function checkSubscribe(deviceId: string, topicFilter: string): AclDecision {
  const parsed = parseDeviceTopic(topicFilter);
  if (!parsed || parsed.deviceId !== deviceId || parsed.kind !== 'cmd') return { allowed: false, reason: 'subscription_not_allowed' };
  return { allowed: true, kind: 'cmd' };
}
