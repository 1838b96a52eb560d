/**
 * Who the patients are. Production would back this with the hospital's patient index; embedded
 * mode derives patients from the device registry: every patient a device is currently assigned to.
 */
import type { DeviceRecord } from '../platform/device-registry.ts';

export interface PatientDevice {
  deviceId: string;
  enabled: boolean;
}

export interface Patient {
  id: string;
  /** Devices currently assigned to this patient, by device id. */
  devices: PatientDevice[];
}

/** The port the dashboard reads patients through. */
export interface PatientDirectory {
  /** Every known patient, ordered by id. */
  list(): Patient[];
  get(id: string): Patient | undefined;
}

/**
 * Patients = distinct current assignments of the device registry (platform/device-registry.ts).
 * Reads the registry on every call, so a device added by `pulsebridge device add` while the demo
 * runs shows up without a restart.
 */
export function registryPatientDirectory(registry: { list(): DeviceRecord[] }): PatientDirectory {
  const all = (): Patient[] => {
    const byPatient = new Map<string, PatientDevice[]>();
    for (const d of registry.list()) {
      if (d.patientId === undefined) continue;
      const devices = byPatient.get(d.patientId) ?? [];
      devices.push({ deviceId: d.deviceId, enabled: d.enabled });
      byPatient.set(d.patientId, devices);
    }
    return [...byPatient.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, devices]) => ({ id, devices: devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)) }));
  };
  return {
    list: all,
    get: (id) => all().find((p) => p.id === id),
  };
}

/** A fixed directory (tests, or a deployment that lists its patients in configuration). */
export function staticPatientDirectory(patients: Patient[]): PatientDirectory {
  const sorted = [...patients].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    list: () => sorted.map((p) => ({ id: p.id, devices: p.devices.map((d) => ({ ...d })) })),
    get: (id) => {
      const p = sorted.find((x) => x.id === id);
      return p && { id: p.id, devices: p.devices.map((d) => ({ ...d })) };
    },
  };
}
