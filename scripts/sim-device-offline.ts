/**
 * Replays ONE simulated device offline through the processor's detection path, to reproduce an
 * alarm seen in a `scripts/sim-100.ts` run without MQTT, Kafka or wall-clock timing
 * (eval/sim-device-replay.ts: the run's timeline, ECG and frame phase; production detectors).
 *
 *   node scripts/sim-device-offline.ts --device sim-0080 --t0 1796396238293 [--devices 100]
 *        [--scenario all-alarms] [--speed 5] [--duration 10m] [--ecg-only] [--paced] [--kinds vt,afib]
 *
 * `--t0` is the run's start (the ground truth's `t0Ms` in the run's data folder): the simulated
 * ECG depends on absolute time, so a run's alarms are reproduced only with its own t0. Prints each
 * detector change and the device's ground-truth episodes of the same kinds (ms → s from t0).
 */
import { parseArgs } from 'node:util';
import { parseDurationMs } from '../cli/args.ts';
import { replaySimDevice } from '../eval/sim-device-replay.ts';

const { values } = parseArgs({
  options: {
    device: { type: 'string' },
    t0: { type: 'string' },
    devices: { type: 'string', default: '100' },
    scenario: { type: 'string', default: 'all-alarms' },
    speed: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10m' },
    'ecg-only': { type: 'boolean', default: false },
    paced: { type: 'boolean', default: false },
    kinds: { type: 'string' },
  },
});
if (!/^sim-\d{4}$/.test(values.device ?? '') || values.t0 === undefined) {
  process.stderr.write('usage: node scripts/sim-device-offline.ts --device sim-NNNN --t0 MS [--devices 100] [--ecg-only] [--paced] …\n');
  process.exit(2);
}
const t0Ms = Number(values.t0);
const kinds = values.kinds?.split(',');
const { changes, truth } = await replaySimDevice({
  deviceId: values.device!,
  t0Ms,
  devices: Number(values.devices),
  scenario: values.scenario,
  speed: Number(values.speed),
  durationMs: parseDurationMs(values.duration),
  ecgOnly: values['ecg-only'],
  paced: values.paced,
});
const s = (ms: number) => ((ms - t0Ms) / 1000).toFixed(1);
for (const c of changes) {
  if (kinds && !kinds.includes(c.kind)) continue;
  console.log(`${c.kind} ${c.type}: onset ${s(c.onsetMs)} s${c.type === 'end' ? `, end ${s(c.endMs)} s` : ''}: ${c.evidence.criterion}`);
}
for (const e of truth) {
  if (!kinds || kinds.includes(e.kind)) console.log(`ground truth: ${e.kind} ${s(e.onsetMs)}–${e.endMs == null ? 'open' : s(e.endMs)} s`);
}
