import { expect, test } from 'vitest';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { DEMO_MRN_SYSTEM, demoPatientIdentity, registryPatientDirectory, staticPatientDirectory } from '../../dashboard-api/patient-directory.ts';

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
