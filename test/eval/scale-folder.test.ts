/**
 * eval/scale-folder.ts builds the full-database-size folder that `eval/run.ts` is timed on
 * (EVALUATION.md "At the size of the full databases"): each copy must read as its original —
 * same signal, same beats, same label — under its own name, or the timing measures a broken folder.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWfdbRecord } from '../../device-sim/wfdb-record.ts';
import { readAlarmLabels } from '../../eval/challenge2015.ts';
import { scaleDatabase } from '../../eval/scale-folder.ts';

const dataDir = resolve(import.meta.dirname, '../../../shared/data/ecg');

describe('eval/scale-folder.ts', () => {
  const dirs: string[] = [];
  const tmp = async () => { const d = await mkdtemp(join(tmpdir(), 'pb-scale-')); dirs.push(d); return d; };
  afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

  it('a mitdb copy has its own name and the original signal and beats', async () => {
    const out = await tmp();
    await scaleDatabase('mitdb', join(dataDir, 'mitdb'), out, 7);
    const names = (await readdir(out)).filter((f) => f.endsWith('.hea')).sort();
    expect(names).toEqual(['1100.hea', '1103.hea', '1105.hea', '1106.hea', '1108.hea', '2100.hea', '2103.hea']);
    const [copy, original] = await Promise.all([readWfdbRecord(join(out, '2103')), readWfdbRecord(join(dataDir, 'mitdb', '103'))]);
    expect(copy.header.recordName).toBe('2103');
    expect(copy.header.signals.map((s) => s.fileName)).toEqual(['2103.dat', '2103.dat']);
    expect(copy.ecg?.uV).toEqual(original.ecg?.uV);
    expect(copy.beats).toEqual(original.beats);
  });

  it('CinC 2015 copies cycle through the alarms, each with its original label', async () => {
    const out = await tmp();
    const original = await readAlarmLabels(join(dataDir, 'challenge2015'));
    await scaleDatabase('challenge2015', join(dataDir, 'challenge2015'), out, original.size + 3);
    const labels = await readAlarmLabels(out);
    expect(labels.size).toBe(original.size + 3);
    for (const [name, truth] of labels) expect({ name, truth }).toEqual({ name, truth: original.get(name.replace(/x\d+$/, '')) });
    const first = [...original.keys()][0]!;
    expect(labels.has(`${first}x2`)).toBe(true);
    const copy = await readWfdbRecord(join(out, `${first}x2`));
    expect(copy.header.recordName).toBe(`${first}x2`);
    expect(copy.ecg?.uV).toEqual((await readWfdbRecord(join(dataDir, 'challenge2015', first))).ecg?.uV);
  });
});
