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
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    // One sentence on one line (some of Node's messages span several).
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' ').replace(/\.$/, ''));
  }
}

/**
 * `--clock-offset -3s`: a value option followed by a negative number takes it as its value, as the
 * usage text writes it (Node's parser would call the dash ambiguous and ask for `--clock-offset=-3s`).
 */
function joinNegativeValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && options[arg.slice(2)]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
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
  if (typeof values['mqtt-port'] === 'string') out.PULSEBRIDGE_MQTT_PORT = portFlag('mqtt-port', values['mqtt-port']);
  if (typeof values['http-port'] === 'string') out.PULSEBRIDGE_HTTP_PORT = portFlag('http-port', values['http-port']);
  return out;
}

/** A port flag's value, checked here so the error names the flag rather than the variable it sets. */
function portFlag(flag: string, text: string): string {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port > 65_535) throw new UsageError(`--${flag} must be a port number from 0 to 65535, got "${text}"`);
  return text.trim();
}

/** Parses "10m", "90s", "2h", "500ms" or a bare number of seconds into milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`"${text}" is not a duration (examples: 90s, 10m, 2h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}
