/**
 * How the RR-only AF alarm operating point (AfibParams onsetScore, onsetStretchScore,
 * entropyThreshold) was chosen, reproducibly, with the same leave-one-record-out method as
 * `npm run eval` (eval/af-loro.ts) over a wider grid: each afdb record is scored with the
 * setting chosen on the other records (objective af-loro.ts `afObjective`: min of episode Se,
 * episode +P and duration Se, episodes ≥ 30 s); the setting chosen on all records is the production default.
 *
 * Fixed by the method, not tuned: every evidence path decides once the irregular stretch spans
 * 30 s (entropyEvidenceMs = minEpisodeMs) and there is no "it lasted long enough" fallback
 * (weakEvidenceMs = ∞): the earlier 60 s / 2-minute rules could never report a 30–60 s episode,
 * and they were what failed on afdb records outside the repository (issue 12).
 *
 * Also over the beat-detection-error correction (`artefactCorrection`: the fixed
 * extra-detection merge of production, or Lipponen & Tarvainen 2019's adaptive classification
 * without and with missed-beat splitting; EVALUATION.md §2).
 *
 *   node eval/tune-af.ts [--data DIR] [--corrections fixed,adaptive,adaptive-split]
 *     (210 settings per correction; ≈ 4 min per correction on 2 cores, records on worker threads)
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AfibParams } from '../processor/detectors/afib.ts';
import { type AfSetting } from './af-loro.ts';
import { afdbLoro, formatLoro } from './af-generalisation.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') }, corrections: { type: 'string', default: 'fixed,adaptive,adaptive-split' } } });
const corrections = values.corrections.split(',') as AfibParams['artefactCorrection'][];

const grid: AfSetting[] = [];
// The production correction first: ties keep the earlier candidate (af-loro.ts chooseSetting).
for (const artefactCorrection of corrections) for (const onsetScore of [0.725, 1.0, 1.2, 1.5, 2.0]) {
  for (const onsetStretchScore of [1.2, 1.5, Infinity]) {
    // 0.1 steps (session 9; 0.2 before): the 0.2 grid's −0.6 and −0.8 bracketed the choice.
    for (const entropyThreshold of [...Array.from({ length: 13 }, (_, i) => (-14 + i) / 10), Infinity]) {
      grid.push({ onsetScore, onsetStretchScore, entropyThreshold, entropyEvidenceMs: 30_000, weakEvidenceMs: Infinity, artefactCorrection });
    }
  }
}
console.log(formatLoro(await afdbLoro(values.data, grid)));
