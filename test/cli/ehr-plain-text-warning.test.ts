/**
 * The EHR exporter warns once at start about an EHR reached in clear text off this machine
 * (cli/components.ts warnAboutPlainTextEhr): the security re-check (session 33) found plain MLLP to a
 * remote engine started without a word, although every message carries the patient's identity.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startEhrExporter } from '../../cli/components.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';

async function warningsAtStart(env: Record<string, string>): Promise<string[]> {
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger('warn', {}, (line) => lines.push(JSON.parse(line) as { level: string; msg: string }));
  const bus = new InProcessBus();
  const running = await startEhrExporter({ config: loadConfig({ PULSEBRIDGE_EHR_HTTP_PORT: '0', PULSEBRIDGE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'pb-ehr-warn-')), ...env }), bus, logger, metrics: new MetricsRegistry() });
  await running?.stop();
  await bus.close();
  return lines.filter((l) => l.level === 'warn' && /in clear/.test(l.msg)).map((l) => l.msg);
}

describe('an EHR reached in clear text', () => {
  it('is warned about for plain MLLP or http to another host', async () => {
    expect(await warningsAtStart({ PULSEBRIDGE_HL7_MLLP: '192.0.2.10:2575' })).toEqual([expect.stringMatching(/^HL7 v2 goes to 192\.0\.2\.10 over plain MLLP: .*mllps:\/\//)]);
    expect(await warningsAtStart({ PULSEBRIDGE_FHIR_BASE_URL: 'http://ehr.example.org/fhir/R4' })).toEqual([expect.stringMatching(/^the FHIR EHR at ehr\.example\.org is reached over plain http/)]);
  });

  it('is not warned about on this machine or over TLS', async () => {
    expect(await warningsAtStart({ PULSEBRIDGE_HL7_MLLP: '127.0.0.1:2575' })).toEqual([]);
    expect(await warningsAtStart({ PULSEBRIDGE_HL7_MLLP: 'mllps://engine.example.org:2576' })).toEqual([]);
    expect(await warningsAtStart({ PULSEBRIDGE_FHIR_BASE_URL: 'http://localhost:8090/fhir/R4' })).toEqual([]);
    expect(await warningsAtStart({ PULSEBRIDGE_FHIR_BASE_URL: 'https://ehr.example.org/fhir/R4' })).toEqual([]);
  });
});
