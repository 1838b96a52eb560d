/**
 * `pulsebridge device add|list|enable|disable`: the device registry from the command line.
 * In embedded mode `add` also issues the device's certificate from the development CA.
 */
import { issueDeviceCertificate } from '../platform/dev-pki.ts';
import { DeviceRegistry } from '../platform/device-registry.ts';
import type { PulsebridgeConfig } from '../platform/config.ts';
import { UsageError } from './args.ts';

export interface DeviceCommandInput {
  config: Readonly<PulsebridgeConfig>;
  action: string | undefined;
  deviceId: string | undefined;
  patientId: string | undefined;
  json: boolean;
  actor: string;
  out: (line: string) => void;
}

export function runDeviceCommand(input: DeviceCommandInput): void {
  const { config, action, deviceId, out } = input;
  const registry = new DeviceRegistry(config.registryPath);
  try {
    switch (action) {
      case 'add': {
        if (!deviceId) throw new UsageError('device add needs a device id: pulsebridge device add <id> --patient <pid>');
        if (!input.patientId) throw new UsageError('device add needs --patient <pid>');
        // Issue the certificate first: a registered device without credentials would be useless.
        const creds = issueDeviceCertificate(config.dataDir, deviceId);
        registry.add(deviceId, input.patientId, input.actor);
        const result = { deviceId, patientId: input.patientId, cert: creds.cert, key: creds.key, ca: creds.ca };
        out(input.json ? JSON.stringify(result) : `device ${deviceId} assigned to patient ${input.patientId}\n  cert ${creds.cert}\n  key  ${creds.key}\n  ca   ${creds.ca}`);
        return;
      }
      case 'list': {
        const devices = registry.list();
        if (input.json) out(JSON.stringify(devices));
        else for (const d of devices) out(`${d.deviceId}\t${d.enabled ? 'enabled' : 'disabled'}\t${d.patientId ?? '-'}`);
        return;
      }
      case 'enable':
      case 'disable': {
        if (!deviceId) throw new UsageError(`device ${action} needs a device id`);
        const d = registry.setEnabled(deviceId, action === 'enable', input.actor);
        out(input.json ? JSON.stringify(d) : `device ${deviceId} ${action}d`);
        return;
      }
      default:
        throw new UsageError(`unknown device action "${action ?? ''}" (add, list, enable, disable)`);
    }
  } finally {
    registry.close();
  }
}
