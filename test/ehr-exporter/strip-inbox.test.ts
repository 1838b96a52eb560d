import { afterEach, describe, expect, it, vi } from 'vitest';
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

describe('StripInbox: a strip waits for its alert\'s export while that export is under way', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('past its grace, until the export takes it; or, when the export ends without it, then', async () => {
    // Alerts are one partition and an export waits inside its batch for its strip, so the strip of
    // an alert queued behind others in the batch outlived its 2 s grace and was written on its own.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const inbox = new StripInbox(() => 0);
    inbox.exporting('al-1');
    inbox.exporting('al-2');
    inbox.put(makeStrip('al-1'));
    inbox.put(makeStrip('al-2'));
    const first = inbox.whenTaken('al-1', 2000);
    const second = inbox.whenTaken('al-2', 2000);
    vi.advanceTimersByTime(5000);
    expect(await settledNow(first)).toBe('pending');
    expect(await settledNow(second)).toBe('pending');
    inbox.taken('al-1');
    inbox.exported('al-1');
    expect(await first).toBe(true);
    // The second export ended without its strip (e.g. it had stopped waiting): the strip goes on its own now.
    inbox.exported('al-2');
    expect(await second).toBe(false);
    // With no export under way, the grace decides as before.
    inbox.put(makeStrip('al-3'));
    const third = inbox.whenTaken('al-3', 2000);
    vi.advanceTimersByTime(2000);
    expect(await third).toBe(false);
  });
});
