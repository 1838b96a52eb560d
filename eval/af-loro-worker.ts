/**
 * Worker thread of the afdb leave-one-record-out (af-generalisation.ts `afdbLoro`): replays its
 * share of the records under every candidate and posts each record's scores back. The replay is
 * the same single-threaded code as in-process (af-loro.ts `scoreRecord`); running records on
 * several cores only shortens `npm run eval`'s wall time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { extraDetectionShares, scoreRecord, type AfRecordScores, type AfSetting, type MergeShares } from './af-loro.ts';
import { loadRecord } from './records.ts';

export interface LoroWorkerInput {
  dir: string;
  names: string[];
  candidates: AfSetting[];
}

export interface LoroWorkerResult {
  scores: AfRecordScores;
  shares: MergeShares;
}

const { dir, names, candidates } = workerData as LoroWorkerInput;
for (const name of names) {
  const record = await loadRecord('afdb', dir, name);
  const result: LoroWorkerResult = { scores: scoreRecord(record, candidates), shares: extraDetectionShares(record) };
  parentPort!.postMessage(result);
}
