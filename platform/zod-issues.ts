/**
 * One way of turning a zod validation failure into a readable sentence fragment:
 * "PATH: message; PATH: message" ("(root)" for the value itself). Used for configuration errors,
 * dead-letter reasons and API errors alike.
 */
import type { z } from 'zod';

/** @param max report at most this many issues (dead-letter details stay short). */
export function describeZodIssues(error: z.ZodError, max = Infinity): string {
  return error.issues.slice(0, max).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
