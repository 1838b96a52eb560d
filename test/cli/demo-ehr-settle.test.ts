/**
 * A stopping demo (embedded: the bus is memory) gives its EHR export a moment and then says what it
 * could not deliver, instead of losing it without a word (a hospital-integration walkthrough lost
 * two asystole alerts on a clean restart while the EHR answered 503).
 */
import { describe, expect, it } from 'vitest';
import { settleEhrExport } from '../../cli/demo.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';

const logged = () => {
  const lines: string[] = [];
  return { lines, logger: createLogger('warn', {}, (l) => lines.push(l)) };
};

describe('a stopping demo and its EHR export', () => {
  it('waits while the export delivers, and says nothing when it is done', async () => {
    let left = 3;
    const { lines, logger } = logged();
    await settleEhrExport({ undelivered: () => (left > 0 ? left-- : 0), paused: () => false }, logger, 5000);
    expect(left).toBe(0);
    expect(lines).toEqual([]);
  });

  it('does not wait for an EHR that does not answer, and says how much is lost', async () => {
    const { lines, logger } = logged();
    const started = Date.now();
    await settleEhrExport({ undelivered: () => 2, paused: () => true }, logger, 5000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', undelivered: 2, msg: expect.stringMatching(/^2 message\(s\) were not delivered to the EHR \(it does not answer\) and are lost: embedded mode keeps nothing across a restart/) });
  });

  it('counts what a group has not committed on the in-process bus', async () => {
    const bus = new InProcessBus();
    await bus.publish('s', [1, 2, 3].map((i) => ({ key: 'k', value: Buffer.from(String(i)) })));
    expect(bus.uncommitted('g', 's')).toBe(0); // never subscribed
    let seen = 0;
    const sub = await bus.subscribe('s', { groupId: 'g', fromBeginning: true, onBatch: async (b) => { seen += b.length; if (seen <= 3) throw new Error('EHR down'); } });
    await new Promise((r) => setTimeout(r, 50));
    expect(bus.uncommitted('g', 's')).toBe(3);
    await sub.stop();
    await bus.close();
  });
});
