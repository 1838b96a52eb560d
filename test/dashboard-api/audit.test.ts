import { mkdtemp, open, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { auditLogPath, JsonlAuditSink } from '../../dashboard-api/audit.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import type { EhrAuditEntry } from '../../ehr-exporter/audit.ts';
import { JsonlAuditSink as PlatformJsonlAuditSink } from '../../platform/audit.ts';

let dataDir: string;
beforeEach(async () => { dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-audit-')); });
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }); });

const entry = (i: number): AuditEntry => ({
  at: `2026-03-01T10:00:0${i}.000Z`, actor: { sub: 'dr-a', role: 'clinician' }, action: 'patient.read', patientId: `p${i}`, outcome: 'allowed', status: 200,
});

test('appends one JSON line per entry, in call order, to <dataDir>/audit/phi-access.jsonl readable only by its owner', async () => {
  const sink = new JsonlAuditSink({ dataDir });
  expect(sink.path).toBe(path.join(dataDir, 'audit', 'phi-access.jsonl'));
  await Promise.all([0, 1, 2, 3, 4].map((i) => sink.record(entry(i))));
  const lines = (await readFile(auditLogPath(dataDir), 'utf8')).split('\n');
  expect(lines).toEqual([...[0, 1, 2, 3, 4].map((i) => JSON.stringify(entry(i))), '']);
  expect((await stat(sink.path)).mode & 0o777).toBe(0o600);
});

test('a failed write rejects with PB_AUDIT_FAILED, and the same sink writes again once the problem is gone', async () => {
  // A file where the audit folder should be: mkdir fails.
  await writeFile(path.join(dataDir, 'audit'), 'in the way');
  const sink = new JsonlAuditSink({ dataDir });
  await expect(sink.record(entry(0))).rejects.toMatchObject({ code: 'PB_AUDIT_FAILED' });
  await unlink(path.join(dataDir, 'audit'));
  await sink.record(entry(1));
  expect(await readFile(sink.path, 'utf8')).toBe(JSON.stringify(entry(1)) + '\n');
});

/**
 * A disk that fills up during the `failing`-th append: half the line reaches the file, then
 * ENOSPC. With `truncateFails` the sink cannot cut the partial line off either.
 */
function fullDiskOnce(failing: number, truncateFails = false) {
  let appends = 0;
  return async (file: string, flags: string, mode: number): Promise<FileHandle> => {
    const handle = await open(file, flags, mode);
    if (++appends !== failing) return handle;
    const realAppend = handle.appendFile.bind(handle);
    handle.appendFile = async (data: string | Uint8Array) => {
      await realAppend(String(data).slice(0, 40));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    if (truncateFails) handle.truncate = () => Promise.reject(new Error('EIO: i/o error, ftruncate'));
    return handle;
  };
}

test.each([
  ['cut back to its length before the write', false],
  ['when even the cut fails, the next record starts on a line of its own', true],
])('a write that fails halfway (full disk) leaves no partial line under the next record: %s', async (_, truncateFails) => {
  const sink = new JsonlAuditSink({ dataDir, open: fullDiskOnce(2, truncateFails) });
  await sink.record(entry(0));
  await expect(sink.record(entry(1))).rejects.toMatchObject({ code: 'PB_AUDIT_FAILED' });
  await sink.record(entry(2));
  await sink.record(entry(3));
  const lines = (await readFile(sink.path, 'utf8')).split('\n').filter((l) => l !== '');
  const parsed = lines.flatMap((l) => { try { return [JSON.parse(l) as AuditEntry]; } catch { return []; } });
  // Every record that was reported written is there intact; a cut-off fragment may stand on its
  // own line only when the file could not be cut back, and never glued to a record.
  expect(parsed).toEqual([entry(0), entry(2), entry(3)]);
  expect(lines).toHaveLength(truncateFails ? 4 : 3);
});

test('the dashboard\'s sink and the EHR exporter\'s on one file (demo: one process) append one at a time, in call order', async () => {
  // The dashboard's append is held up (a slow disk) until the exporter's has had every chance to run.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const slowOpen = async (file: string, flags: string, mode: number): Promise<FileHandle> => {
    const handle = await open(file, flags, mode);
    const realAppend = handle.appendFile.bind(handle);
    handle.appendFile = async (data: string | Uint8Array) => { await held; await realAppend(data); };
    return handle;
  };
  const dashboard = new JsonlAuditSink({ dataDir, open: slowOpen });
  const exporter = new PlatformJsonlAuditSink<EhrAuditEntry>({ dataDir });
  const ehrEntry: EhrAuditEntry = { at: '2026-03-01T10:00:09.000Z', actor: { sub: 'pulsebridge-ehr-exporter', role: 'ehr-exporter' }, action: 'ehr.hl7.send', patientId: 'p1', outcome: 'accepted', destination: 'mllp://engine:2575' };
  const first = dashboard.record(entry(0));
  const second = exporter.record(ehrEntry);
  await new Promise((r) => setTimeout(r, 50));
  release();
  await Promise.all([first, second]);
  // Serialized per file: the exporter's line waited; it could otherwise land first, or be cut off
  // by the dashboard's clean-up of a failed append (which cuts the file back to where its line began).
  expect((await readFile(auditLogPath(dataDir), 'utf8')).split('\n')).toEqual([JSON.stringify(entry(0)), JSON.stringify(ehrEntry), '']);
});
