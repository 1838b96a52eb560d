import { describe, expect, it } from 'vitest';
import * as sim from '../../device-sim/alarm-criteria.ts';
import { AFIB_DEFAULTS } from '../../processor/detectors/afib.ts';
import { ASYSTOLE_DEFAULTS } from '../../processor/detectors/asystole.ts';
import { BRADY_DEFAULTS } from '../../processor/detectors/brady.ts';
import { EXTREME_BRADY_DEFAULTS } from '../../processor/detectors/extreme-brady.ts';
import { EXTREME_TACHY_DEFAULTS } from '../../processor/detectors/extreme-tachy.ts';
import { PAUSE_DEFAULTS } from '../../processor/detectors/pause.ts';
import { TACHY_DEFAULTS } from '../../processor/detectors/tachy.ts';
import { MAX_SLOW_INTERVALS, VT_DEFAULTS } from '../../processor/detectors/vt.ts';

describe('criteria the simulator ground truth assumes', () => {
  it('are the detectors\u2019 defaults', () => {
    expect({
      asystole: sim.ASYSTOLE_MIN_GAP_MS,
      pause: sim.PAUSE_MIN_RR_MS,
      extremeBrady: sim.EXTREME_BRADY,
      brady: sim.BRADY,
      extremeTachy: sim.EXTREME_TACHY,
      tachy: sim.TACHY,
      suddenChange: [sim.SUDDEN_ONSET.change, sim.SUDDEN_ONSET.change],
      vt: sim.VT,
      afib: sim.AFIB_MIN_EPISODE_MS,
    }).toEqual({
      asystole: ASYSTOLE_DEFAULTS.minGapMs,
      pause: PAUSE_DEFAULTS.minRrMs,
      extremeBrady: EXTREME_BRADY_DEFAULTS,
      brady: { limitBpm: BRADY_DEFAULTS.limitBpm, consecutiveBeats: BRADY_DEFAULTS.consecutiveBeats, recoveredBpm: BRADY_DEFAULTS.limitBpm + BRADY_DEFAULTS.hysteresisBpm, recoveryBeats: BRADY_DEFAULTS.recoveryBeats, recoveryMs: BRADY_DEFAULTS.recoveryMs, sustainMs: BRADY_DEFAULTS.sustainMs, suddenSustainMs: BRADY_DEFAULTS.suddenSustainMs },
      extremeTachy: EXTREME_TACHY_DEFAULTS,
      tachy: { limitBpm: TACHY_DEFAULTS.limitBpm, consecutiveBeats: TACHY_DEFAULTS.consecutiveBeats, recoveredBpm: TACHY_DEFAULTS.limitBpm - TACHY_DEFAULTS.hysteresisBpm, recoveryBeats: TACHY_DEFAULTS.recoveryBeats, recoveryMs: TACHY_DEFAULTS.recoveryMs, sustainMs: TACHY_DEFAULTS.sustainMs, suddenSustainMs: TACHY_DEFAULTS.suddenSustainMs },
      suddenChange: [BRADY_DEFAULTS.suddenChange, TACHY_DEFAULTS.suddenChange],
      vt: { ...VT_DEFAULTS, maxSlowIntervals: MAX_SLOW_INTERVALS },
      afib: AFIB_DEFAULTS.minEpisodeMs,
    });
  });
});
