import { expect, test } from 'vitest';
import { DeviceRegistry } from '../../platform/device-registry.ts';
import { registryPatientDirectory, staticPatientDirectory } from '../../dashboard-api/patient-directory.ts';

test('derives patients from the current device assignments of the registry', () => {
  const registry = new DeviceRegistry(':memory:');
  const directory = registryPatientDirectory(registry);
  registry.add('dev-b', 'p2', 'test', 1000);
  registry.add('dev-a', 'p1', 'test', 1000);
  registry.add('dev-c', 'p1', 'test', 1000);
  expect(directory.list()).toEqual([
    { id: 'p1', devices: [{ deviceId: 'dev-a', enabled: true }, { deviceId: 'dev-c', enabled: true }] },
    { id: 'p2', devices: [{ deviceId: 'dev-b', enabled: true }] },
  ]);

  // Reassigning dev-b moves it; p2 no longer has a device and so is no longer a current patient.
  registry.add('dev-b', 'p3', 'test', 2000);
  registry.setEnabled('dev-c', false, 'test');
  expect(directory.list()).toEqual([
    { id: 'p1', devices: [{ deviceId: 'dev-a', enabled: true }, { deviceId: 'dev-c', enabled: false }] },
    { id: 'p3', devices: [{ deviceId: 'dev-b', enabled: true }] },
  ]);
  expect(directory.get('p3')).toEqual({ id: 'p3', devices: [{ deviceId: 'dev-b', enabled: true }] });
  expect(directory.get('p2')).toBeUndefined();
  registry.close();
});

test('a static directory lists the given patients by id', () => {
  const directory = staticPatientDirectory([{ id: 'b', devices: [] }, { id: 'a', devices: [{ deviceId: 'd', enabled: true }] }]);
  expect(directory.list()).toEqual([{ id: 'a', devices: [{ deviceId: 'd', enabled: true }] }, { id: 'b', devices: [] }]);
  expect([directory.get('b'), directory.get('c')]).toEqual([{ id: 'b', devices: [] }, undefined]);
});
