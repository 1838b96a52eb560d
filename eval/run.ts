/**
 * `npm run eval`: replays the annotated PhysioNet records through the production detectors and
 * prints EC57-style results; writes the full results as JSON.
 *
 *   node eval/run.ts [--data DIR] [--db mitdb,nsr2db,afdb] [--records 100,04015] [--json FILE]
 *                    [--afib '{"onsetScore":0.725,"weakEvidenceMs":30000}']
 *
 * `--afib` evaluates other AF parameters than the production ones (AfibParams, JSON).
 * Defaults: DIR = ../shared/data/ecg next to the repository; FILE = eval/results/latest.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AfibParams } from '../processor/detectors/afib.ts';
import { evaluationDetectors } from './detector-set.ts';
import { afSummary, alarmRates } from './evaluate.ts';
import { runEvaluation } from './harness.ts';
import { EVAL_DATABASES, type EvalDatabase } from './records.ts';
import { formatReport } from './report.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
    db: { type: 'string' },
    records: { type: 'string' },
    json: { type: 'string', default: resolve(repoRoot, 'eval/results/latest.json') },
    afib: { type: 'string' },
  },
});

const databases = values.db ? (values.db.split(',') as EvalDatabase[]) : [...EVAL_DATABASES];
for (const db of databases) if (!(EVAL_DATABASES as readonly string[]).includes(db)) throw new Error(`unknown database ${db} (known: ${EVAL_DATABASES.join(', ')})`);

const afibOverride = values.afib ? (JSON.parse(values.afib) as Partial<AfibParams>) : undefined;
const run = await runEvaluation({
  ...(afibOverride ? { makeDetectors: () => evaluationDetectors(afibOverride) } : {}),
  dataDir: values.data,
  databases,
  ...(values.records ? { records: values.records.split(',') } : {}),
  onRecord: (r) => process.stderr.write(`  ${r.database}/${r.name}: ${(r.durationMs / 3_600_000).toFixed(1)} h, ${r.beats} beats, ${Math.round(r.runtimeMs)} ms\n`),
});

console.log(formatReport(run.results, run.runtimeMs));

const dbs = [...new Set(run.results.map((r) => r.database))];
await mkdir(dirname(values.json), { recursive: true });
await writeFile(values.json, JSON.stringify({
  schema: 'pb.eval.v1',
  generatedAt: new Date().toISOString(),
  command: `node eval/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
  dataDir: values.data,
  afibOverride: afibOverride ?? null,
  runtimeMs: Math.round(run.runtimeMs),
  af: afSummary(run.results),
  alarmRates: Object.fromEntries(dbs.map((db) => [db, alarmRates(run.results.filter((r) => r.database === db))])),
  records: run.results,
}, null, 2) + '\n');
console.log(`\nresults written to ${values.json}`);
