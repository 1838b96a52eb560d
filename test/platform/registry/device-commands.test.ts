import { describe, expect, it } from 'vitest';
import { parseCommandRequest } from '../../../platform/registry/index.ts';
import {
  busRegistry, commandContract, commandsAcrossInstances, inProcessInstances, sqliteRegistry,
} from './device-commands-scenarios.ts';

const SHA = 'A'.repeat(64);

describe('command requests', () => {
  it('accepts the three documented commands and lower-cases the sha256', () => {
    expect(parseCommandRequest({ type: 'ping' })).toEqual({ type: 'ping' });
    expect(parseCommandRequest({ type: 'config', config: { frameMs: 1000, ecg: true, fs: 250 }, ttlMs: 60_000 }))
      .toEqual({ type: 'config', config: { frameMs: 1000, ecg: true, fs: 250 }, ttlMs: 60_000 });
    expect(parseCommandRequest({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/pb-2.4.0.bin', sha256: SHA, size: 123456 }))
      .toEqual({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/pb-2.4.0.bin', sha256: 'a'.repeat(64), size: 123456 });
  });

  it('refuses out-of-range config, plain-http firmware, malformed hashes, unknown types and unknown fields, naming each problem', () => {
    const message = (input: unknown) => { try { parseCommandRequest(input); return 'accepted'; } catch (err) { return (err as Error).message; } };
    expect(message({ type: 'config', config: { frameMs: 50, ecg: true, fs: 2000 } }))
      .toBe('invalid command: config.frameMs: Too small: expected number to be >=100; config.fs: Too big: expected number to be <=1000');
    expect(message({ type: 'config', config: { frameMs: 1000, ecg: 'yes', fs: 250 } })).toMatch(/^invalid command: config\.ecg: /);
    expect(message({ type: 'fw_offer', version: '2.4.0', url: 'http://fw.example/x.bin', sha256: SHA, size: 1 })).toBe('invalid command: url: url must be an https:// URL');
    expect(message({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/x.bin', sha256: 'abc', size: 1 })).toBe('invalid command: sha256: sha256 must be 64 hexadecimal digits');
    expect(message({ type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/x.bin', sha256: SHA, size: 0 })).toMatch(/^invalid command: size: /);
    expect(message({ type: 'reboot' })).toMatch(/^invalid command: type: /);
    expect(message({ type: 'ping', extra: 1 })).toMatch(/^invalid command: \(body\): Unrecognized key: "extra"/);
    expect(message({ type: 'ping', ttlMs: 10 })).toMatch(/^invalid command: ttlMs: /);
  });
});

describe('command store contract: SQLite registry', () => {
  commandContract(sqliteRegistry);
});

describe('command store contract: bus-backed registry on the in-process bus', () => {
  commandContract(busRegistry(inProcessInstances));
});

describe('commands across bus-backed registry instances on the in-process bus', () => {
  commandsAcrossInstances(inProcessInstances);
});
