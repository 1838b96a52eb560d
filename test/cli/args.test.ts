/** The CLI's argument parser (cli/args.ts). */
import { describe, expect, it } from 'vitest';
import { envWithFlags, parse, UsageError } from '../../cli/args.ts';

const OPTIONS = { 'clock-offset': { type: 'string' }, speed: { type: 'string' }, paced: { type: 'boolean' } } as const;

describe('parse', () => {
  it('takes a negative number after a value option as its value, as the usage writes it (--clock-offset -3s)', () => {
    expect(parse(['--clock-offset', '-3s', '--speed', '-1'], OPTIONS).values).toEqual({ 'clock-offset': '-3s', speed: '-1' });
    expect(parse(['--clock-offset=-3s'], OPTIONS).values).toEqual({ 'clock-offset': '-3s' });
    // after `--` nothing is joined; a flag is not a negative number
    expect(parse(['--', '--speed', '-1'], OPTIONS).positionals).toEqual(['--speed', '-1']);
    expect(() => parse(['--speed', '--paced'], OPTIONS)).toThrow(UsageError);
  });

  it('reports a mistake as one sentence on one line', () => {
    let message = '';
    try {
      parse(['--speed', '-x'], OPTIONS);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^Option '--speed/);
    expect(message).not.toContain('\n');
  });

  it('names the flag when a port flag is not a port number', () => {
    expect(envWithFlags({}, { 'http-port': '9090', 'mqtt-port': '0' })).toMatchObject({ PULSEBRIDGE_HTTP_PORT: '9090', PULSEBRIDGE_MQTT_PORT: '0' });
    expect(() => envWithFlags({}, { 'http-port': 'abc' })).toThrow('--http-port must be a port number from 0 to 65535, got "abc"');
    expect(() => envWithFlags({}, { 'mqtt-port': '70000' })).toThrow(UsageError);
  });
});
