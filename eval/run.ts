/**
 * `npm run eval`: replays the annotated PhysioNet records through the production detectors and
 * prints EC57-style results; writes the full results as JSON.
 *
 *   node eval/run.ts [--data DIR] [--db mitdb,nsr2db,afdb,cinc2017,challenge2015] [--records 100,04015] [--json FILE]
 *                    [--afib '{"onsetScore":0.725,"weakEvidenceMs":30000}']
 *
 * `--afib` evaluates other AF parameters than the production ones (AfibParams, JSON).
 * With afdb, AF leave-one-record-out follows the tables; `cinc2017` (ECG strips, no beat
 * annotations) is the cross-database AF test (eval/af-generalisation.ts). mitdb also gets the QRS
 * detector's bxb from its ECG, `challenge2015` the VT alarm score, and the other beat databases
 * the alarm rates before/after the proposed limit-alarm delays (eval/ecg-eval.ts); mitdb also the VT
 * alarms of a device sending firmware beats and ECG together (eval/firmware-ecg-path.ts).
 * Defaults: DIR = ../shared/data/ecg next to the repository; the databases: those of DIR's folders;
 * FILE = eval/results/latest.json.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AfibParams } from '../processor/detectors/afib.ts';
import { evaluationDetectors } from './detector-set.ts';
import { afSummary, alarmRates } from './evaluate.ts';
import { runEvaluation } from './harness.ts';
import { EVAL_DATABASES, type EvalDatabase } from './records.ts';
import { formatReport } from './report.ts';
import { afdbLoro, cinc2017Evaluation, formatCinc2017, formatLoro } from './af-generalisation.ts';
import { formatCinc2017Streaming } from './cinc2017-stream.ts';
import { extremeEndEvaluation, formatExtremeEnd } from './extreme-end.ts';
import { detectorsWithoutFirmwareVeto, firmwareEcgPathAlarms, formatFirmwareEcgPath } from './firmware-ecg-path.ts';
import { challenge2015Evaluation, ecgPathAlarms, formatChallenge2015, formatEcgPathAlarms, formatNuisance, formatQrs, nuisanceEvaluation, qrsEvaluation } from './ecg-eval.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const fail = (message: string): never => { process.stderr.write(`eval/run.ts: ${message}\n`); process.exit(2); };
const USAGE = `usage: node eval/run.ts [--data DIR] [--db mitdb,nsr2db,afdb,cinc2017,challenge2015] [--records NAME,…] [--json FILE] [--afib '{…AfibParams}']`;
const parsed = (() => {
  try {
    return parseArgs({
      options: {
        data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
        db: { type: 'string' },
        records: { type: 'string' },
        json: { type: 'string', default: resolve(repoRoot, 'eval/results/latest.json') },
        afib: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // A mistyped option: one line and the usage, not a stack trace.
    return fail(`${(err as Error).message}\n${USAGE}`);
  }
})();
if (parsed.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const { values } = parsed;

/** Databases evaluated by their own modules rather than the beat-annotation harness. */
const STRIP_DATABASES = ['cinc2017', 'challenge2015'];
const KNOWN_DATABASES = [...EVAL_DATABASES, ...STRIP_DATABASES];
const hasFolder = (db: string) => existsSync(resolve(values.data, db));
// Without --db: every known database the folder holds; with --db, those of the named ones it
// holds. A folder with some of them is evaluated on those, with a note on stderr and in the
// report (the command is run on folders of other records that may not hold every database); an
// unknown name, or no database at all, is an error.
const named = values.db ? values.db.split(',') : KNOWN_DATABASES;
for (const db of named) if (!KNOWN_DATABASES.includes(db)) fail(`unknown database ${db} (known: ${KNOWN_DATABASES.join(', ')})`);
const requested = named.filter(hasFolder);
if (requested.length === 0) fail(`no folder of ${named.join(', ')} in ${values.data}`);
const absent = named.filter((db) => !requested.includes(db));
const absentNote = absent.length > 0 ? `no ${absent.join(', ')} folder in ${values.data}: not evaluated` : undefined;
if (absentNote) process.stderr.write(`${absentNote}\n`);
const databases = requested.filter((db): db is EvalDatabase => (EVAL_DATABASES as readonly string[]).includes(db));
// A --records name that no evaluated folder holds is a typo, not an empty table.
if (values.records) {
  const held = new Set(requested.flatMap((db) => readdirSync(resolve(values.data, db)).map((f) => f.replace(/\.[^.]*$/, ''))));
  const unknown = values.records.split(',').filter((r) => !held.has(r));
  if (unknown.length > 0) fail(`no record ${unknown.join(', ')} in the ${requested.join(', ')} folder${requested.length > 1 ? 's' : ''} of ${values.data}`);
}

const parseAfib = (text: string): Partial<AfibParams> => {
  try {
    return JSON.parse(text) as Partial<AfibParams>;
  } catch (err) {
    return fail(`--afib is not JSON (${(err as Error).message})`);
  }
};
const afibOverride = values.afib ? parseAfib(values.afib) : undefined;
// The afdb leave-one-record-out is most of the work: its worker threads start first and run while
// this thread evaluates everything else (its result is printed in its usual place below; two
// workers and this thread share the eval machine's 2 cores, none of them waits for another).
const afdbLoroPending = databases.includes('afdb') && !afibOverride ? afdbLoro(values.data, undefined, values.records?.split(',')) : undefined;
const run = await runEvaluation({
  ...(afibOverride ? { makeDetectors: () => evaluationDetectors(afibOverride) } : {}),
  dataDir: values.data,
  databases,
  ...(values.records ? { records: values.records.split(',') } : {}),
  onRecord: (r) => process.stderr.write(`  ${r.database}/${r.name}: ${(r.durationMs / 3_600_000).toFixed(1)} h, ${r.beats} beats, ${Math.round(r.runtimeMs)} ms\n`),
});

if (absentNote) console.log(absentNote);
console.log(formatReport(run.results, run.runtimeMs));

// Everything else is evaluated while the LORO workers run (their result is awaited last), then
// printed in the usual order.
const cinc2017 = requested.includes('cinc2017') ? await cinc2017Evaluation(resolve(values.data, 'cinc2017'), afibOverride) : undefined;
// Issue 12 without AF (eval/ecg-eval.ts): QRS from raw ECG, VT on CinC 2015, nuisance alarms before/after.
const only = values.records?.split(',');
const qrs = databases.includes('mitdb') ? await qrsEvaluation(values.data, 'mitdb', only) : [];
const qrsOtherLead = qrs.length > 0 ? await qrsEvaluation(values.data, 'mitdb', only, 'other') : [];
const mitdbReferenceRates = alarmRates(run.results.filter((r) => r.database === 'mitdb'));
const ecgPath = qrs.length > 0 ? await ecgPathAlarms(values.data, 'mitdb', only) : [];
const ecgPathOtherLead = qrs.length > 0 ? await ecgPathAlarms(values.data, 'mitdb', only, 'other') : [];
// Firmware beats and ECG together (cardiologist walk 8a): vt without and with the firmware-rhythm veto.
const firmwareEcg = qrs.length > 0 ? { before: await firmwareEcgPathAlarms(values.data, 'mitdb', only, 'scored', detectorsWithoutFirmwareVeto), after: await firmwareEcgPathAlarms(values.data, 'mitdb', only) } : undefined;
const challenge2015 = requested.includes('challenge2015') ? await challenge2015Evaluation(resolve(values.data, 'challenge2015'), only) : undefined;
const nuisanceDbs = databases.filter((db) => db !== 'mitdb');
const nuisance = nuisanceDbs.length > 0 ? await nuisanceEvaluation(values.data, nuisanceDbs, run.results, only) : [];
// The extreme alarms' end hysteresis (the afdb 04908 finding): the beat databases with the rule before it.
const extremeEnd = databases.length > 0 ? await extremeEndEvaluation(values.data, databases, run.results, only) : undefined;
const afdbLoroResult = await afdbLoroPending;

if (afdbLoroResult) console.log(`\n${formatLoro(afdbLoroResult)}`);
if (cinc2017) console.log(`\n${formatCinc2017(cinc2017)}\n\n${formatCinc2017Streaming(cinc2017.streamed)}`);
if (qrs.length > 0) console.log(`\n${formatQrs('mitdb', qrs)}`);
if (qrsOtherLead.length > 0) console.log(`\n${formatQrs('mitdb', qrsOtherLead, 'other')}`);
if (ecgPath.length > 0) console.log(`\n${formatEcgPathAlarms('mitdb', ecgPath, mitdbReferenceRates)}`);
if (ecgPathOtherLead.length > 0) console.log(`\n${formatEcgPathAlarms('mitdb', ecgPathOtherLead, mitdbReferenceRates, 'other')}`);
if (firmwareEcg) console.log(`\n${formatFirmwareEcgPath('mitdb', firmwareEcg.before, firmwareEcg.after)}`);
if (challenge2015) console.log(`\n${formatChallenge2015(challenge2015)}`);
if (nuisance.length > 0) console.log(`\n${formatNuisance(nuisance)}`);
if (extremeEnd) console.log(`\n${formatExtremeEnd(extremeEnd)}`);

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
  afLoro: afdbLoroResult ? { ...afdbLoroResult.loro, candidates: afdbLoroResult.candidates } : null,
  cinc2017: cinc2017 ?? null,
  qrs,
  qrsOtherLead,
  ecgPathAlarms: ecgPath,
  ecgPathAlarmsOtherLead: ecgPathOtherLead,
  firmwareEcgPathAlarms: firmwareEcg ?? null,
  challenge2015: challenge2015 ?? null,
  nuisance,
  extremeEnd: extremeEnd ?? null,
  records: run.results,
}, null, 2) + '\n');
console.log(`\nresults written to ${values.json}`);
