import { describe, expect, it } from 'vitest';
import { StripInbox } from '../../ehr-exporter/ecg-strips.ts';
import { makeStrip } from './fixtures.ts';

/** Whether a promise has settled once the microtasks queued so far have run (no timers involved). */
async function settledNow<T>(p: Promise<T>): Promise<{ value: T } | 'pending'> {
  return Promise.race([p.then((value) => ({ value })), new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}

describe('StripInbox: where an alert export meets its ECG strip', () => {
  it('hands a parked strip to the alert export at once, and a strip that arrives while it waits', async () => {
    const inbox = new StripInbox(() => 0);
    inbox.put(makeStrip('al-1'));
    expect(await settledNow(inbox.waitFor('al-1', 60_000))).toEqual({ value: makeStrip('al-1') });
    const waiting = inbox.waitFor('al-2', 60_000);
    expect(await settledNow(waiting)).toBe('pending');
    inbox.put(makeStrip('al-2'));
    expect(await waiting).toEqual(makeStrip('al-2'));
  });

  it('an alert export does not wait for a strip that already left the inbox without it (written on its own)', async () => {
    // Both consumers take one partition at a time: the strip's grace can run out while its alert
    // waits behind another partition's export. That export then waited its whole ecgWaitMs.
    const inbox = new StripInbox(() => 0);
    inbox.put(makeStrip('al-1'));
    expect(await inbox.whenTaken('al-1', 0)).toBe(false);
    inbox.release('al-1');
    expect(await settledNow(inbox.waitFor('al-1', 60_000))).toEqual({ value: undefined });
    // A re-delivered strip is parked again and taken as usual.
    inbox.put(makeStrip('al-1'));
    expect(await settledNow(inbox.waitFor('al-1', 60_000))).toEqual({ value: makeStrip('al-1') });
  });
});
