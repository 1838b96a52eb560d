/**
 * Dead letters in embedded mode across processes, as an operator meets them: `pulsebridge demo`
 * runs (its in-process bus lives only in that process), a device sends garbage and a QoS 2 frame,
 * and `pulsebridge deadletter list|replay` — separate processes through the real CLI — see each
 * with its reason and raw prefix and replay one through the running demo.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameJson, makeTempDir } from '../helpers/gateway-fixture.ts';
import { freePort, waitFor } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(ROOT, 'bin/pulsebridge'), args, { env: { ...process.env, USER: 'ops', PULSEBRIDGE_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pulsebridge deadletter while pulsebridge demo runs', () => {
  const dataDir = makeTempDir('pb-dl-demo-');
  let demo: ChildProcessWithoutNullStreams;
  let common: string[];
  let mqttPort: number;

  beforeAll(async () => {
    mqttPort = await freePort();
    common = ['--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--http-port', String(await freePort())];
    demo = spawn(path.join(ROOT, 'bin/pulsebridge'), ['demo', '--devices', '0', ...common], { env: { ...process.env, PULSEBRIDGE_LOG_LEVEL: 'warn' } });
    let out = '';
    demo.stdout.on('data', (d) => (out += d));
    demo.stderr.on('data', (d) => (out += d));
    await waitFor('the demo to run', () => (out.includes('Press Ctrl+C to stop.') ? true : undefined), 60_000);
  }, 90_000);
  afterAll(async () => {
    if (demo.exitCode === null) {
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await exited;
    }
  });

  it('lists a rejected frame with reason and prefix, and replays a QoS 2 frame into the pipeline', async () => {
    const added = await runCli(['device', 'add', 'dl-dev', '--patient', 'dl-pat', '--json', ...common]);
    expect(added.code).toBe(0);
    const creds = JSON.parse(added.stdout) as { cert: string; key: string; ca: string };
    const client = await mqtt.connectAsync(`mqtts://localhost:${mqttPort}`, {
      clientId: 'dl-dev', protocolVersion: 4, reconnectPeriod: 0,
      ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key),
    });
    await client.publishAsync('pb/v1/dev/dl-dev/telemetry', 'not a frame', { qos: 1 });
    await client.publishAsync('pb/v1/dev/dl-dev/telemetry', frameJson(7), { qos: 2 });
    await client.endAsync();

    const listed = await waitFor('both dead letters in the archive', async () => {
      const r = await runCli(['deadletter', 'list', '--json', ...common]);
      const rows = JSON.parse(r.stdout || '[]') as { id: string; reason: string; prefix: string; deviceId: string }[];
      return rows.length === 2 ? rows : undefined;
    }, 30_000);
    expect(listed.map((r) => [r.deviceId, r.reason])).toEqual([['dl-dev', 'unknown_format'], ['dl-dev', 'qos_not_allowed']]);
    expect(listed[0]!.prefix).toBe('not a frame');

    const replayed = await runCli(['deadletter', 'replay', listed[1]!.id, ...common]);
    expect({ code: replayed.code, stdout: replayed.stdout.trim(), stderr: replayed.stderr }).toEqual({ code: 0, stdout: `replayed ${listed[1]!.id} to pb.telemetry.v1 (key dl-pat)`, stderr: '' });
    const audit = fs.readFileSync(path.join(dataDir, 'audit', 'phi-access.jsonl'), 'utf8');
    expect(audit).toContain('"sub":"cli:ops","role":"admin"},"action":"deadletter.replay","outcome":"allowed"');
  }, 120_000);
});
