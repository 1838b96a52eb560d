/** RELIABILITY.md from the fault suite's rows (scripts/reliability-report.ts). */
import { describe, expect, it } from 'vitest';
import { renderReliability, type ReliabilityRow } from '../../scripts/reliability-report.ts';

const row = (over: Partial<ReliabilityRow> = {}): ReliabilityRow => ({
  case: '1-x', fault: 'InfluxDB stopped 60 s',
  frames: { sent: 10, acked: 10, onBus: 10, busCopies: 2, storeExpected: 9, storeFound: 9, lost: 0, duplicated: 0 },
  alerts: { raised: 3, atClinician: 3, inEhr: 3, ehrExpected: 3, lost: 0, duplicated: 0, missedEpisodes: 0, falsePhysiological: 1, falseSignalLoss: 0 },
  recoveryS: 4.25, recoveryOf: 'store caught up', notes: ['a note'], checks: [{ name: 'c', ok: true, detail: 'd' }], wallS: 80, finishedAt: '2026-01-01T00:00:00Z',
  ...over,
});

describe('renderReliability', () => {
  it('writes one table row per case with in, out, lost, duplicated and recovery time', () => {
    const md = renderReliability([row()], [], { command: 'npm run faults', generatedAt: 'now' });
    expect(md).toContain('| InfluxDB stopped 60 s | 10 | 10 (+2 resent copies) | 9/9 | 0 | 0 | 3 | 3 / 3 of 3 | 0 | 0 | 0 | 1 | 0 | 4.3 s (store caught up) | pass |');
    // A row written before the false-alarm count existed shows a dash there.
    const { falsePhysiological: _none, ...older } = row().alerts;
    expect(renderReliability([row({ alerts: older })], [], { command: 'c', generatedAt: 'now' })).toContain('| 3 / 3 of 3 | 0 | 0 | 0 | – | 0 |');
    expect(md).toContain('- ok: c (d)');
  });

  it('marks a case with a failed check and lists a case without a result', () => {
    const md = renderReliability([row({ checks: [{ name: 'lost nothing', ok: false, detail: '1 lost' }] })], ['2-kafka'], { command: 'c', generatedAt: 'now' });
    expect(md).toMatch(/\| \*\*FAIL\*\* \|\n\| 2-kafka \|.*\*\*no result\*\* \|/);
    expect(md).toContain('- **FAILED**: lost nothing (1 lost)');
  });
});
