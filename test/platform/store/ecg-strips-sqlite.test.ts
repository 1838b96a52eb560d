import { expect, it } from 'vitest';
import { SqliteVitalsStore } from '../../../platform/store/index.ts';
import { checkEcgStripContract, sampleEcgStrip } from './ecg-strip-fixture.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

it('SqliteVitalsStore returns each written strip exactly, per patient and alert; a rewrite replaces it', async () => {
  const store = new SqliteVitalsStore(':memory:');
  await checkEcgStripContract(store);
  await store.close();
});

it('SqliteVitalsStore keeps strips across a reopen of its file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pb-ecg-'));
  const file = path.join(dir, 'vitals.db');
  const first = new SqliteVitalsStore(file);
  await first.writeEcgStrips([sampleEcgStrip()]);
  await first.close();
  const second = new SqliteVitalsStore(file);
  expect(await second.getEcgStrip('ecg-p1', sampleEcgStrip().alertId)).toEqual(sampleEcgStrip());
  await second.close();
  await rm(dir, { recursive: true, force: true });
});
