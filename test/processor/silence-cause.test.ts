/** Device silence or infrastructure gap (processor/silence-cause.ts). */
import { describe, expect, it } from 'vitest';
import { silenceCause } from '../../processor/silence-cause.ts';

const arrival = { lastArrivalMs: 100_000, lastReceivedAtMs: 99_990 };

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
  });

  it('is the device when nothing is known of the device, or after a restore when the gateway is alive', () => {
    expect(silenceCause(undefined, arrival).cause).toBe('device');
    expect(silenceCause({ gatewayId: 'gw1', lastFrameAtMs: 105_000, gatewayHeardAtMs: 109_000 }, { lastArrivalMs: 100_000, lastReceivedAtMs: undefined }).cause).toBe('device');
  });
});
