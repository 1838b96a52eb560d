/**
 * Worker thread of the afdb leave-one-record-out (af-generalisation.ts `afdbLoro`): replays its
 * share of the records under every candidate and posts each record's scores back. The replay is
 * the same single-threaded code as in-process (af-loro.ts `scoreAfdbRecord`); running records on
 * several cores only shortens `npm run eval`'s wall time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { scoreAfdbRecord, type AfSetting } from './af-loro.ts';

export interface LoroWorkerInput {
  dir: string;
  names: readonly string[];
  candidates: readonly AfSetting[];
}

const { dir, names, candidates } = workerData as LoroWorkerInput;
for (const name of names) parentPort!.postMessage(await scoreAfdbRecord(dir, name, candidates));
