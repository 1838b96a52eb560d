/**
 * Small helpers around node:util parseArgs: flags override environment variables, errors are
 * one clear sentence (product.md "Stable surface for automation").
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\.$/, ''));
  }
}

/** Whether a command's arguments hold `--help` or `-h` as an option (not as a value after `--`). */
export function asksForHelp(argv: string[]): boolean {
  const { tokens } = parseArgs({ args: argv, strict: false, allowPositionals: true, tokens: true });
  return tokens.some((t) => t.kind === 'option' && (t.name === 'help' || t.name === 'h'));
}

/** Flags shared by every command that reads the configuration. */
export const COMMON_FLAGS = {
  'data-dir': { type: 'string' },
  'mqtt-port': { type: 'string' },
  'http-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Applies common flags onto a copy of the environment (flags override env vars). */
export function envWithFlags(env: NodeJS.ProcessEnv, values: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  if (typeof values['data-dir'] === 'string') out.PULSEBRIDGE_DATA_DIR = values['data-dir'];
  if (typeof values['mqtt-port'] === 'string') out.PULSEBRIDGE_MQTT_PORT = values['mqtt-port'];
  if (typeof values['http-port'] === 'string') out.PULSEBRIDGE_HTTP_PORT = values['http-port'];
  return out;
}

/** Parses "10m", "90s", "2h", "500ms" or a bare number of seconds into milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`"${text}" is not a duration (examples: 90s, 10m, 2h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}
