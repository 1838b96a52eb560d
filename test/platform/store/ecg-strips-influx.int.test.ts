import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, it } from 'vitest';
import { InfluxVitalsStore } from '../../../platform/store/index.ts';
import { describeWithService, influxAuth, influxAvailable, influxUrl } from '../../helpers/services.ts';
import { checkEcgStripContract } from './ecg-strip-fixture.ts';

const database = `pb_test_ecg_${randomUUID().replaceAll('-', '')}`;

await describeWithService('InfluxVitalsStore keeps ECG strips (real InfluxDB)', influxAvailable, () => {
  const store = new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth });
  beforeAll(async () => {
    await store.init();
  });
  afterAll(async () => {
    await store.close();
    const params = new URLSearchParams({ q: `DROP DATABASE "${database}"` });
    if (influxAuth.username) params.set('u', influxAuth.username);
    if (influxAuth.password) params.set('p', influxAuth.password);
    await fetch(`${influxUrl}/query?${params}`, { method: 'POST', headers: influxAuth.token ? { authorization: `Token ${influxAuth.token}` } : {} });
  });

  it('returns each written strip exactly, per patient and alert; a rewrite replaces it', async () => {
    await checkEcgStripContract(store);
  });
});
