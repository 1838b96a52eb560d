/**
 * Builds a folder laid out like ../shared/data/ecg at the size of the full PhysioNet databases,
 * from renamed copies of the records here, so that `node eval/run.ts --data DIR` can be timed and
 * its memory measured on the amount of data it is run on elsewhere (issue 12 item 6: "any folder
 * laid out like ../shared/data/ecg"). The copies say nothing about detection — a record and its
 * copy score the same, and copies of one record in different cross-validation folds leak — only
 * about run time, memory and the harness reading thousands of records.
 *
 * Each copy is a rewritten `.hea` (record and file names) next to symbolic links to the original
 * signal and annotation files; the label files (`REFERENCE.csv`, `alarms.csv`) list the copies.
 * Default sizes: the public databases (mitdb 48 records, nsr2db 54, afdb 25, CinC 2017 training
 * set 8,528 strips, CinC 2015 training set 750 alarms — of which 341 VT; here every copy is a VT
 * alarm, so this over-counts the VT work).
 *
 *   node eval/scale-folder.ts --out /tmp/bigdata [--data ../shared/data/ecg] [--sizes mitdb=48,cinc2017=8528]
 *   /usr/bin/time -v node eval/run.ts --data /tmp/bigdata --db mitdb,nsr2db,afdb,cinc2017,challenge2015 > /dev/null
 */
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** Records per database in the public PhysioNet releases. */
const FULL_SIZES: Readonly<Record<string, number>> = { mitdb: 48, nsr2db: 54, afdb: 25, cinc2017: 8528, challenge2015: 750 };

/** The records of one database folder: names with a `.hea`, in name order. */
async function recordNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.hea')).map((f) => f.slice(0, -4)).sort();
}

/** The name of copy number `copy` (1, 2, …) of a record: CinC names keep their leading letter, the others get a numeric prefix. */
function copyName(db: string, name: string, copy: number): string {
  if (db === 'cinc2017') return `${name[0]}${String(copy).padStart(2, '0')}${name.slice(1)}`;
  if (db === 'challenge2015') return `${name}x${copy}`;
  return `${copy}${name}`;
}

/** Writes `copy`'s header (names rewritten) and links every other file of `name` under the new name. */
async function copyRecord(src: string, dst: string, name: string, copy: string, files: readonly string[]): Promise<void> {
  const header = await readFile(join(src, `${name}.hea`), 'utf8');
  const lines = header.split('\n').map((line, i) => {
    if (i === 0) return line.replace(new RegExp(`^${name}\\b`), copy);
    return line.startsWith(`${name}.`) ? copy + line.slice(name.length) : line;
  });
  await writeFile(join(dst, `${copy}.hea`), lines.join('\n'));
  for (const file of files) {
    if (!file.startsWith(`${name}.`) || file.endsWith('.hea')) continue;
    await symlink(resolve(src, file), join(dst, copy + file.slice(name.length)));
  }
}

/** A label file's rows `record,label`, and its header line when it has one. */
function labelRows(text: string): { header?: string; rows: [string, string][] } {
  const lines = text.replace(/\r/g, '').split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.startsWith('record') ? lines.shift() : undefined;
  return { header, rows: lines.map((l) => { const i = l.indexOf(','); return [l.slice(0, i), l.slice(i + 1)]; }) };
}

/** Writes `size` copies of the records of `src` (cycling through them) into `dst`, with their label file. */
export async function scaleDatabase(db: string, src: string, dst: string, size: number): Promise<number> {
  await mkdir(dst, { recursive: true });
  const files = await readdir(src);
  const labelFile = db === 'cinc2017' ? 'REFERENCE.csv' : db === 'challenge2015' ? 'alarms.csv' : undefined;
  const labels = labelFile ? labelRows(await readFile(join(src, labelFile), 'utf8')) : undefined;
  const present = new Set(await recordNames(src));
  const names = labels ? labels.rows.map(([r]) => r).filter((r) => present.has(r)) : [...present];
  const labelOf = new Map(labels?.rows ?? []);
  if (names.length === 0) throw new Error(`${src}: no records to copy`);
  const out: string[] = [];
  for (let k = 0; k < size; k++) {
    const name = names[k % names.length]!;
    const copy = copyName(db, name, 1 + Math.floor(k / names.length));
    await copyRecord(src, dst, name, copy, files);
    if (labels) out.push(`${copy},${labelOf.get(name)}`);
  }
  if (labelFile) await writeFile(join(dst, labelFile), [...(labels?.header ? [labels.header] : []), ...out, ''].join('\n'));
  return size;
}

/** Marks a folder this script built, so that a re-run may empty it and no other folder is ever deleted. */
const MARKER = '.scale-folder';

async function clearOwnFolder(out: string): Promise<void> {
  const entries = await readdir(out).catch(() => [] as string[]);
  if (entries.length > 0 && !entries.includes(MARKER)) throw new Error(`${out} is not empty and was not built by this script: choose another --out`);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, MARKER), 'built by eval/scale-folder.ts\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, data: { type: 'string', default: '../shared/data/ecg' }, sizes: { type: 'string' } } });
  if (!values.out) throw new Error('usage: node eval/scale-folder.ts --out DIR [--data SRC] [--sizes mitdb=48,…]');
  const sizes = { ...FULL_SIZES };
  for (const pair of values.sizes?.split(',') ?? []) {
    const [db = '', n] = pair.split('=');
    if (!(db in sizes) || !(Number(n) > 0)) throw new Error(`--sizes: "${pair}" is not db=count for one of ${Object.keys(sizes).join(', ')}`);
    sizes[db] = Number(n);
  }
  const out = resolve(values.out);
  await clearOwnFolder(out);
  for (const [db, size] of Object.entries(sizes)) {
    const n = await scaleDatabase(db, resolve(values.data, db), join(out, db), size);
    process.stdout.write(`${db}: ${n} records\n`);
  }
}

if (import.meta.main) await main().catch((e: unknown) => { process.stderr.write(`scale-folder: ${e instanceof Error ? e.message : String(e)}\n`); process.exitCode = 2; });
