/**
 * Worker thread of the afdb leave-one-record-out (af-generalisation.ts `afdbLoro`): takes the next
 * record from the counter it shares with the other workers, replays it under every candidate and
 * posts its scores back, until no record is left. The replay is
 * the same single-threaded code as in-process (af-loro.ts `scoreAfdbRecord`); running records on
 * several cores only shortens `npm run eval`'s wall time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { scoreAfdbRecord, type AfSetting } from './af-loro.ts';

export interface LoroWorkerInput {
  dir: string;
  names: readonly string[];
  candidates: readonly AfSetting[];
  /** Index of the next record to take (shared by the workers; Atomics.add). */
  next: Int32Array;
}

const { dir, names, candidates, next } = workerData as LoroWorkerInput;
for (let i = Atomics.add(next, 0, 1); i < names.length; i = Atomics.add(next, 0, 1)) {
  parentPort!.postMessage(await scoreAfdbRecord(dir, names[i]!, candidates));
}
