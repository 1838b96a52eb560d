import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { auditLogPath, JsonlAuditSink } from '../../dashboard-api/audit.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';

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
