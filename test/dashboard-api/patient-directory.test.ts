import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { createLogger } from '../../platform/log.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { DEMO_MRN_SYSTEM, demoPatientIdentity, directoryFileIdentities, registryPatientDirectory, staticPatientDirectory, unlistedIdentity } from '../../dashboard-api/patient-directory.ts';

const id = (patientId: string) => demoPatientIdentity(patientId);

test('derives patients from the current device assignments of the registry', () => {
  const registry = new DeviceRegistry(':memory:');
  const directory = registryPatientDirectory(registry);
  registry.add('dev-b', 'p2', 'test', 1000);
  registry.add('dev-a', 'p1', 'test', 1000);
  registry.add('dev-c', 'p1', 'test', 1000);
  expect(directory.list()).toEqual([
    { id: 'p1', ...id('p1'), devices: [{ deviceId: 'dev-a', enabled: true }, { deviceId: 'dev-c', enabled: true }] },
    { id: 'p2', ...id('p2'), devices: [{ deviceId: 'dev-b', enabled: true }] },
  ]);

  // Reassigning dev-b moves it; p2 no longer has a device and so is no longer a current patient.
  registry.add('dev-b', 'p3', 'test', 2000);
  registry.setEnabled('dev-c', false, 'test');
  expect(directory.list()).toEqual([
    { id: 'p1', ...id('p1'), devices: [{ deviceId: 'dev-a', enabled: true }, { deviceId: 'dev-c', enabled: false }] },
    { id: 'p3', ...id('p3'), devices: [{ deviceId: 'dev-b', enabled: true }] },
  ]);
  expect(directory.get('p3')).toEqual({ id: 'p3', ...id('p3'), devices: [{ deviceId: 'dev-b', enabled: true }] });
  expect(directory.get('p2')).toBeUndefined();
  registry.close();
});

test('every patient has a display name and an MRN; the demo identity is deterministic and distinct per id', () => {
  const a = demoPatientIdentity('sim-0001');
  expect(a).toEqual(demoPatientIdentity('sim-0001'));
  expect(a.displayName).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
  expect(a.mrn).toEqual({ system: DEMO_MRN_SYSTEM, value: expect.stringMatching(/^D\d{7}$/) });
  const mrns = new Set(Array.from({ length: 200 }, (_, i) => demoPatientIdentity(`sim-${i}`).mrn.value));
  expect(mrns.size).toBe(200);
});

test('a registry directory takes the identity from the given source', () => {
  const registry = new DeviceRegistry(':memory:');
  registry.add('dev-a', 'p1', 'test', 1000);
  const directory = registryPatientDirectory(registry, (pid) => ({ displayName: `Name of ${pid}`, mrn: { system: 'urn:oid:1.2.3', value: `M-${pid}` } }));
  expect(directory.get('p1')).toEqual({ id: 'p1', displayName: 'Name of p1', mrn: { system: 'urn:oid:1.2.3', value: 'M-p1' }, devices: [{ deviceId: 'dev-a', enabled: true }] });
  registry.close();
});

test('a static directory lists the given patients by id, with their identity or the demo one', () => {
  const mrn = { system: 'urn:oid:1.2.3', value: '42' };
  const directory = staticPatientDirectory([{ id: 'b', displayName: 'Bea Example', mrn, devices: [] }, { id: 'a', devices: [{ deviceId: 'd', enabled: true }] }]);
  expect(directory.list()).toEqual([
    { id: 'a', ...id('a'), devices: [{ deviceId: 'd', enabled: true }] },
    { id: 'b', displayName: 'Bea Example', mrn, devices: [] },
  ]);
  expect([directory.get('b'), directory.get('c')]).toEqual([{ id: 'b', displayName: 'Bea Example', mrn, devices: [] }, undefined]);
});

// Found by an operator walkthrough (session 32): production showed made-up names and MRNs
// ("Ines Kowalski", D4496622) for real patients, with no way to configure the real ones.
test('names patients from the hospital\'s directory file, re-read when it changes; unlisted ones by their id alone, never a made-up identity', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-directory-'));
  const file = path.join(dir, 'patients.json');
  try {
    writeFileSync(file, JSON.stringify({ p1: { name: 'Jane Doe', mrn: '12345' }, p2: { name: 'Li Wei', mrn: { system: 'urn:oid:1.2.3', value: 'A-9' } } }));
    let nowMs = 0;
    const lines: string[] = [];
    const identityOf = directoryFileIdentities(file, 'urn:hospital:mrn', createLogger('info', {}, (l) => lines.push(l)), () => nowMs);
    const registry = new DeviceRegistry(':memory:');
    for (const [dev, p] of [['d1', 'p1'], ['d2', 'p2'], ['d3', 'p3']]) registry.add(dev!, p!, 'test', 1000);
    const directory = registryPatientDirectory(registry, identityOf);
    expect(directory.list().map(({ id: pid, displayName, mrn }) => ({ pid, displayName, mrn }))).toEqual([
      { pid: 'p1', displayName: 'Jane Doe', mrn: { system: 'urn:hospital:mrn', value: '12345' } },
      { pid: 'p2', displayName: 'Li Wei', mrn: { system: 'urn:oid:1.2.3', value: 'A-9' } },
      { pid: 'p3', displayName: 'p3', mrn: undefined },
    ]);
    // Admitted while running: the file is rewritten; seen once its time changed and 2 s passed.
    writeFileSync(file, JSON.stringify({ p1: { name: 'Jane Doe', mrn: '12345' }, p3: { name: 'Ana Silva', mrn: '777' } }));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(identityOf('p3')).toEqual(unlistedIdentity('p3'));
    nowMs = 2000;
    expect(identityOf('p3')).toEqual({ displayName: 'Ana Silva', mrn: { system: 'urn:hospital:mrn', value: '777' } });
    // Half-written: the previous directory stays, with one warning.
    writeFileSync(file, '{"p1": {"name": ');
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    nowMs = 4000;
    expect(identityOf('p3').displayName).toBe('Ana Silva');
    nowMs = 6000;
    identityOf('p1');
    expect(lines.filter((l) => l.includes('patient directory file unreadable or invalid'))).toHaveLength(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory file that cannot be used fails at start with its reason', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-directory-'));
  try {
    const file = path.join(dir, 'patients.json');
    writeFileSync(file, JSON.stringify({ p1: { mrn: '12345' } }));
    expect(() => directoryFileIdentities(file, 'urn:x', createLogger('error', {}, () => {}))).toThrow(/patients\.json must hold .*p1\.name/);
    expect(() => directoryFileIdentities(path.join(dir, 'none.json'), 'urn:x', createLogger('error', {}, () => {}))).toThrow(/cannot read the patient directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
