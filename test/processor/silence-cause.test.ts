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

  it('is the device when nothing is known of the device, or after a restore when the gateway is alive', () => {
    expect(silenceCause(undefined, arrival).cause).toBe('device');
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000 }, { lastArrivalMs: 100_000, lastReceivedAtMs: undefined, patientId: 'p1' }).cause).toBe('device');
  });
});
