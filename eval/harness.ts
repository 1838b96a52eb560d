/**
 * The evaluation harness: loads the annotated records, replays each through the production
 * detection path and scores it. Records are processed one at a time (bounded memory).
 */
import { join } from 'node:path';
import type { Detector } from '../processor/detectors/detector.ts';
import { evaluationDetectors } from './detector-set.ts';
import { evaluateRecord, type RecordResult } from './evaluate.ts';
import { EVAL_DATABASES, listRecords, loadRecord, type EvalDatabase } from './records.ts';

export interface EvaluationOptions {
  /** Folder holding mitdb/, nsr2db/, afdb/ (../shared/data/ecg). */
  dataDir: string;
  databases?: readonly EvalDatabase[];
  /** Only these record names (all when absent). */
  records?: readonly string[];
  makeDetectors?: () => Detector[];
  /** Called after each record (progress output). */
  onRecord?: (result: RecordResult) => void;
}

export interface EvaluationRun {
  results: RecordResult[];
  runtimeMs: number;
}

export async function runEvaluation(options: EvaluationOptions): Promise<EvaluationRun> {
  const t0 = performance.now();
  const results: RecordResult[] = [];
  for (const db of options.databases ?? EVAL_DATABASES) {
    const dir = join(options.dataDir, db);
    for (const name of await listRecords(dir)) {
      if (options.records && !options.records.includes(name)) continue;
      const record = await loadRecord(db, dir, name);
      const result = evaluateRecord(record, options.makeDetectors ?? evaluationDetectors);
      results.push(result);
      options.onRecord?.(result);
    }
  }
  return { results, runtimeMs: performance.now() - t0 };
}
