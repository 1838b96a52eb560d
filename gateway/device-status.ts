/**
 * The retained status message (device-protocol.md "Status"), also the device's Last Will
 * `{"online":false}`. Unknown extra fields are ignored, like telemetry's.
 */
import { z } from 'zod';
import { describeZodIssues } from '../platform/zod-issues.ts';

export const deviceStatusSchema = z.object({
  online: z.boolean(),
  fw: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(64).optional(),
  battery: z.number().int().min(0).max(255).refine((b) => b <= 100 || b === 255, 'battery must be 0–100 or 255 (unknown)').optional(),
  charging: z.boolean().optional(),
});

export type DeviceStatus = z.infer<typeof deviceStatusSchema>;

export type StatusParse = { ok: true; status: DeviceStatus } | { ok: false; reason: string; detail: string };

/** Parses a status payload. Never throws. */
export function parseDeviceStatus(payload: Buffer): StatusParse {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'invalid_status', detail: `status is not valid JSON: ${(err as Error).message}` };
  }
  const parsed = deviceStatusSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: 'invalid_status', detail: describeZodIssues(parsed.error, 5) };
  }
  return { ok: true, status: parsed.data };
}
