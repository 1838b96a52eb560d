/**
 * The detectors the evaluation runs: the production default set (processor.ts
 * `defaultDetectors`), completed with every detector kind of issue 4 it does not register yet.
 * Once processor.ts wires them in, this adds nothing and the harness measures exactly what runs
 * in service.
 */
import type { Detector } from '../processor/detectors/detector.ts';
import { createAfibDetector, type AfibParams } from '../processor/detectors/afib.ts';
import { createBradyDetector } from '../processor/detectors/brady.ts';
import { createPauseDetector } from '../processor/detectors/pause.ts';
import { createTachyDetector } from '../processor/detectors/tachy.ts';
import { createVtDetector } from '../processor/detectors/vt.ts';
import { defaultDetectors } from '../processor/processor.ts';

/**
 * @param afibOverride AF parameters to evaluate instead of the production ones (for comparing
 *   operating points, e.g. the paper's η alone); replaces any registered AF detector.
 */
export function evaluationDetectors(afibOverride?: Partial<AfibParams>): Detector[] {
  const detectors = defaultDetectors().filter((d) => !(afibOverride && d.kind === 'afib'));
  const present = new Set(detectors.map((d) => d.kind));
  for (const d of [createPauseDetector(), createBradyDetector(), createTachyDetector(), createVtDetector(), createAfibDetector(afibOverride)]) {
    if (!present.has(d.kind)) detectors.push(d);
  }
  return detectors;
}
