/**
 * A sudden tachycardia just above the 120/min limit, on firmware beats and on an ECG-only device
 * (issue 12 session 21). Simulated devices of a `pulsebridge sim` run, replayed offline through the
 * production path (eval/sim-device-replay.ts): how many raise the tachy alarm that the ground
 * truth says is due (a 4 min episode: only the 30 s sudden-onset path can alarm before it ends;
 * the plain delay is 5 min). Before session 21 the ECG-only beats' times were whole samples
 * (4 ms), intervals of a rhythm at 122–125/min read 500 ms = 120/min, not above the limit, and
 * each broke the run. Not part of `npm run eval` (nothing is chosen on it); EVALUATION.md §5.
 *
 *   node eval/ecg-rate-limit.ts [--devices 20] [--hr 122,125,130,135]
 */
import { parseArgs } from 'node:util';
import { suddenTachycardia, tachyAlarms } from './sim-device-replay.ts';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '20' }, hr: { type: 'string', default: '122,125,130,135' } } });
const devices = Array.from({ length: Number(values.devices) }, (_, i) => `sim-${String(i + 1).padStart(4, '0')}`);
for (const hr of values.hr!.split(',').map(Number)) {
  let due = 0, firmware = 0, ecgOnly = 0;
  for (const deviceId of devices) {
    const fw = await tachyAlarms(deviceId, suddenTachycardia(hr), false);
    if (fw.dueOnsetMs !== undefined) due++;
    if (fw.raisedOnsetsMs.length > 0) firmware++;
    if ((await tachyAlarms(deviceId, suddenTachycardia(hr), true)).raisedOnsetsMs.length > 0) ecgOnly++;
  }
  console.log(`tachy ${hr}/min for 4 min, ${devices.length} devices: alarm due ${due}, raised with firmware beats ${firmware}, ECG-only ${ecgOnly}`);
}
