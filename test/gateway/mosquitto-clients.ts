/**
 * Debian's mosquitto_pub / mosquitto_sub (package mosquitto-clients, libmosquitto): an MQTT client
 * independent of our mqtt.js. Whether they are there, for `requireService` (skipped locally when
 * missing, failed in CI).
 */
import { spawnSync } from 'node:child_process';

export const MOSQUITTO_PUB = process.env.MOSQUITTO_PUB ?? '/usr/bin/mosquitto_pub';
export const MOSQUITTO_SUB = process.env.MOSQUITTO_SUB ?? '/usr/bin/mosquitto_sub';

/** Whether each binary runs and its help text names it with a version. */
export async function mosquittoClientsAvailable(...binaries: string[]): Promise<boolean> {
  return binaries.every((bin) => {
    const run = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 5_000 });
    return run.error === undefined && /mosquitto_(pub|sub) version \d/.test(`${run.stdout}${run.stderr}`);
  });
}
