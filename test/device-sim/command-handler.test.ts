import { describe, expect, it } from 'vitest';
import { applyConfig, checkFirmwareOffer, downloadMs } from '../../device-sim/command-handler.ts';

const current = { frameMs: 1000, ecgFsHz: 250 };
const config = (c: unknown) => ({ id: 'c-1', type: 'config', config: c });

describe('config command', () => {
  it('changes the frame window, turns ECG off and on again at the rate it remembered', () => {
    const off = applyConfig(current, 250, config({ frameMs: 500, ecg: false, fs: 500 }));
    expect(off).toEqual({ ok: true, settings: { frameMs: 500, ecgFsHz: null }, fsHz: 500 });
    expect(applyConfig({ frameMs: 500, ecgFsHz: null }, 500, config({ ecg: true }))).toEqual({ ok: true, settings: { frameMs: 500, ecgFsHz: 500 }, fsHz: 500 });
  });

  it.each([
    [{ frameMs: 50, ecg: true, fs: 250 }, 'frameMs must be an integer from 100 to 5000, got 50.'],
    [{ frameMs: 1000, ecg: true, fs: 2000 }, 'ecgFsHz must be an integer from 125 to 1000 Hz, got 2000.'],
    [{ frameMs: 1000, ecg: false, fs: 100 }, 'ecgFsHz must be an integer from 125 to 1000 Hz, got 100.'],
    [{ frameMs: 5000, ecg: true, fs: 1000 }, '1000 Hz ECG in 5000 ms frames would exceed 2000 samples per frame and the 16 KiB payload limit.'],
    [{ frameMs: '1000' }, 'config.frameMs must be a number'],
    [{ ecg: 'yes' }, 'config.ecg must be true or false'],
    [null, 'config must be an object'],
  ])('refuses %j with a reason and keeps the settings', (c, error) => {
    expect(applyConfig(current, 250, config(c))).toEqual({ ok: false, error });
  });

  it('accepts a 5000 ms window with 1000 Hz stored while ECG is off', () => {
    expect(applyConfig(current, 250, config({ frameMs: 5000, ecg: false, fs: 1000 }))).toEqual({ ok: true, settings: { frameMs: 5000, ecgFsHz: null }, fsHz: 1000 });
  });
});

describe('fw_offer', () => {
  const offer = { id: 'c-2', type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/2.4.0.bin', sha256: 'ab'.repeat(32), size: 123_456 };
  it('accepts a well-formed offer of another version', () => {
    expect(checkFirmwareOffer(offer, '2.3.1')).toEqual({ ok: true, offer: { version: '2.4.0', sizeBytes: 123_456 } });
  });
  it.each([
    [{ version: '' }, 'fw_offer.version must be 1–64 characters of letters, digits, . + _ -'],
    [{ size: 0 }, 'fw_offer.size must be an integer from 1 to 4294967295 bytes'],
    [{ url: 'http://fw.example/x' }, 'fw_offer.url must be an https:// URL'],
    [{ sha256: 'xyz' }, 'fw_offer.sha256 must be 64 hexadecimal digits'],
    [{ version: '2.3.1' }, 'firmware 2.3.1 is already running'],
  ])('refuses %j', (change, error) => {
    expect(checkFirmwareOffer({ ...offer, ...change }, '2.3.1')).toEqual({ ok: false, error });
  });
  it('takes a download time proportional to the size', () => {
    expect([downloadMs(500_000, 1_000_000), downloadMs(1_000_000, 1_000_000)]).toEqual([500, 1000]);
  });
});
