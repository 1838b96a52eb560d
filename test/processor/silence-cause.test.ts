/** Device silence or infrastructure gap (processor/silence-cause.ts). */
import { describe, expect, it } from 'vitest';
import { silenceCause } from '../../processor/silence-cause.ts';

const arrival = { lastArrivalMs: 100_000, lastReceivedAtMs: 99_990, patientId: 'p1' };

describe('silenceCause', () => {
  it('is the device when the gateway was heard after the last frame and has nothing newer', () => {
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 99_990, gatewayHeardAtMs: 109_000 }, arrival).cause).toBe('device');
  });

  it('is the infrastructure when no heartbeat arrived since the last frame (bus or gateway down)', () => {
    const v = silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 99_990, gatewayHeardAtMs: 100_500 }, arrival);
    expect(v).toMatchObject({ cause: 'infrastructure', gatewayId: 'gw1' });
    expect(v.reason).toContain('the bus or the gateway is down');
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 99_990 }, arrival).cause).toBe('infrastructure');
  });

  it('is the infrastructure when the gateway received newer frames that did not reach the processor', () => {
    const v = silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000 }, arrival);
    expect(v).toMatchObject({ cause: 'infrastructure' });
    expect(v.reason).toContain('5010 ms newer');
    // the gateway published them for this patient (or an older gateway did not say)
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000, lastFramePatientId: 'p1' }, arrival).cause).toBe('infrastructure');
  });

  it('is the device when the newer frames went to another patient (reassigned) or were refused (unassigned, invalid)', () => {
    const reassigned = silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000, lastFramePatientId: 'p2' }, arrival);
    expect(reassigned).toMatchObject({ cause: 'device', reason: expect.stringContaining('reassigned') });
    const refused = silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000, lastFramePatientId: '' }, arrival);
    expect(refused).toMatchObject({ cause: 'device', reason: expect.stringContaining('dead-lettered') });
    // no heartbeat since: still the infrastructure, whoever the frames were for
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 100_500, lastFramePatientId: 'p2' }, arrival).cause).toBe('infrastructure');
  });

  it('gives a device the signal-loss delay to reconnect after its gateway was down or restarted after its last frame', () => {
    // Gateway killed at ≈ 100 s, back (up since) at 112 s; the device has not reconnected.
    const back = { gatewayId: 'gw1', lastFrameAtMs: 99_990, gatewayHeardAtMs: 113_000, gatewayUpSinceMs: 112_000 };
    const at = (nowMs: number) => silenceCause(back, { ...arrival, nowMs, silenceMs: 10_000 });
    expect(at(113_000)).toMatchObject({ cause: 'infrastructure', gatewayId: 'gw1', reason: expect.stringContaining('is back for 1 s after an outage') });
    expect(at(123_900).cause).toBe('infrastructure');
    // The delay (and the 2 s heartbeat margin for the liveness to show a reconnection) is over and
    // the device stayed away: its own silence.
    expect(at(124_000).cause).toBe('device');
    // A gateway up since before the device's last frame gives no grace: the device went silent on its own.
    expect(silenceCause({ ...back, gatewayUpSinceMs: 50_000 }, { ...arrival, nowMs: 113_000, silenceMs: 10_000 }).cause).toBe('device');
  });

  it('is the device when nothing is known of the device, or after a restore when the gateway is alive', () => {
    expect(silenceCause(undefined, arrival).cause).toBe('device');
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000 }, { lastArrivalMs: 100_000, lastReceivedAtMs: undefined, patientId: 'p1' }).cause).toBe('device');
  });
});
