import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { THRESHOLD_KINDS } from '../../eval/ground-truth.ts';
import { runEvaluation } from '../../eval/harness.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const dataDir = resolve(repoRoot, '../shared/data/ecg');

describe('evaluation harness on real records', () => {
  it('replays mitdb 106 through PatientStream and agrees with the ground truth of every threshold kind', async () => {
    const { results } = await runEvaluation({ dataDir, databases: ['mitdb'], records: ['106'] });
    expect(results).toHaveLength(1);
    const r = results[0]!;
    // 650 000 samples at 360 Hz = 1805.6 s → 1806 one-second frames; 1507 N + 520 V beats.
    expect({ name: r.name, beats: r.beats, frames: r.frames, beatSource: r.beatSource }).toEqual({ name: '106', beats: 2027, frames: 1806, beatSource: 'atr' });
    for (const kind of THRESHOLD_KINDS) expect({ kind, missed: r.threshold[kind].missed, extra: r.threshold[kind].extra }).toEqual({ kind, missed: 0, extra: 0 });
    // The expert's one "(VT" episode is a 3-beat run: VT by the clinical definition (≥ 3), below
    // the alarm criterion (≥ 5 V beats), so no vt alarm.
    expect(r.vtRhythm).toEqual({ truth: 1, detected: 0, matched: 0, missed: 1, extra: 0, sameOnset: 0, maxOnsetErrorMs: 0 });
    // Ventricular bigeminy and trigeminy throughout: no AF alarm.
    expect(r.alarms.afib).toEqual({ alarms: 0, false: 0 });
    expect(r.af).toBeUndefined();
  });

  it('scores AF on an afdb record epicmp-style from 5 minutes into the record', async () => {
    const { results } = await runEvaluation({ dataDir, databases: ['afdb'], records: ['08434'] });
    const af = results[0]!.af!;
    // 08434 has three reference AF episodes (149.1–154.4, 154.8–165.9, 166.5–173.8 min).
    expect(af.standard.tpSe + af.standard.fn).toBe(3);
    expect(af.standard.refDurationMs).toBe(af.min30s.refDurationMs);
    expect(af.standard.tpPp + af.standard.fp).toBe(results[0]!.detected.filter((e) => e.kind === 'afib').length);
    expect(af.latenciesMs.every((ms) => ms >= 30_000)).toBe(true);
  });

  it('npm run eval writes the JSON results file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-eval-'));
    try {
      const json = join(dir, 'r.json');
      const { stdout } = await promisify(execFile)(process.execPath, [join(repoRoot, 'eval/run.ts'), '--db', 'mitdb', '--records', '100', '--json', json], { cwd: repoRoot });
      expect(stdout).toContain('Threshold alarms vs ground truth');
      const written = JSON.parse(await readFile(json, 'utf8'));
      expect({ schema: written.schema, records: written.records.map((r: { database: string; name: string }) => `${r.database}/${r.name}`) }).toEqual({ schema: 'pb.eval.v1', records: ['mitdb/100'] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('evaluates the database folders DIR holds (of all, or of those --db names) and says which are absent; an unknown name, no folder at all or a --records name no folder holds is an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-eval-'));
    try {
      await mkdir(join(dir, 'data', 'mitdb'), { recursive: true });
      for (const ext of ['hea', 'dat', 'atr']) await copyFile(join(dataDir, 'mitdb', `100.${ext}`), join(dir, 'data', 'mitdb', `100.${ext}`));
      const json = join(dir, 'r.json');
      const run = (...args: string[]) => promisify(execFile)(process.execPath, [join(repoRoot, 'eval/run.ts'), '--data', join(dir, 'data'), '--json', json, ...args], { cwd: repoRoot });
      const { stdout, stderr } = await run();
      expect(stderr).toContain('no nsr2db, afdb, cinc2017, challenge2015 folder');
      expect(stdout).toContain('QRS detection from the raw ECG');
      expect(JSON.parse(await readFile(json, 'utf8')).records.map((r: { database: string; name: string }) => `${r.database}/${r.name}`)).toEqual(['mitdb/100']);
      // The command names all five databases; a folder of other records may hold fewer.
      const named = await run('--db', 'mitdb,afdb', '--records', '100');
      expect(named.stderr).toContain('no afdb folder');
      expect(named.stdout).toContain('no afdb folder');
      expect(named.stdout).toContain('QRS detection from the raw ECG');
      await expect(run('--db', 'afdb,nsr2db')).rejects.toThrow(/no folder of afdb, nsr2db in/);
      await expect(run('--db', 'mitdb,mitbih')).rejects.toThrow(/unknown database mitbih/);
      // A record no folder holds is a typo: an error, not empty tables.
      await expect(run('--records', '100,1000')).rejects.toThrow(/no record 1000 in the mitdb folder of/);
      // A mistyped option or --afib value: one line and exit 2, not a stack trace.
      await expect(run('--dat', 'x')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("eval/run.ts: Unknown option '--dat'") });
      await expect(run('--afib', '{onsetScore')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("eval/run.ts: --afib is not JSON") });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
